"""The meta-kernel memo returns exactly what running the op returns, and never memoizes what it must not."""

from __future__ import annotations

import pytest
import torch

import nnperf
from nnperf.static import meta_cache
from nnperf.static.meta_cache import MetaOutputCache

aten = torch.ops.aten


def layout(t: torch.Tensor) -> tuple:
    return (tuple(t.shape), t.stride(), t.dtype, t.device.type, t.untyped_storage().nbytes())


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=dtype)


def test_a_repeated_call_is_served_from_the_memo_with_fresh_identical_outputs() -> None:
    cache = MetaOutputCache()
    a, w, b = meta(64, 32), meta(32, 48), meta(48)
    first = cache.run(aten.addmm.default, (b, a, w), {})
    second = cache.run(aten.addmm.default, (b, meta(64, 32), meta(32, 48)), {})
    assert (cache.misses, cache.hits) == (1, 1)
    assert layout(first) == layout(second) == layout(aten.addmm.default(b, a, w))
    assert first.untyped_storage()._cdata != second.untyped_storage()._cdata


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (aten.native_dropout.default, (meta(8, 16), 0.1, True)),  # a tuple of outputs
        (aten._softmax.default, (meta(4, 8, 8).transpose(1, 2), -1, False)),  # strides follow the input
        (aten.mul.Tensor, (meta(4, 1, 8), meta(1, 6, 8, dtype=torch.bfloat16))),  # broadcast, promotion
        (aten.max.dim, (meta(5, 7), 1)),  # values and int64 indices
        (aten.cat.default, ([meta(2, 3), meta(4, 3)], 0)),  # a list argument
    ],
)
def test_memoized_outputs_match_the_kernel(func: object, args: tuple) -> None:
    cache = MetaOutputCache()
    cache.run(func, args, {})
    hit = cache.run(func, args, {})
    assert cache.hits == 1
    ref = func(*args)
    hit, ref = (x if isinstance(x, tuple) else (x,) for x in (hit, ref))
    assert [layout(t) for t in hit] == [layout(t) for t in ref]


def test_the_key_tells_apart_strides_aliasing_dtype_and_scalar_types() -> None:
    cache = MetaOutputCache()
    x, y = meta(4, 6), meta(4, 6)
    cache.run(aten.mul.Tensor, (x, y), {})
    cache.run(aten.mul.Tensor, (x, x), {})  # the same storage twice: other bytes read
    cache.run(aten.mul.Tensor, (x.t(), y.t()), {})  # other strides
    cache.run(aten.mul.Tensor, (meta(4, 6, dtype=torch.float16), y), {})
    cache.run(aten.mul.Scalar, (meta(4, 6, dtype=torch.int64), 2), {})
    out = cache.run(aten.mul.Scalar, (meta(4, 6, dtype=torch.int64), 2.0), {})  # float scalar: promotes
    assert cache.hits == 0 and cache.misses == 6
    assert out.dtype == torch.float32


def test_the_default_dtype_is_part_of_the_key() -> None:
    cache = MetaOutputCache()
    ints = meta(3, dtype=torch.int64)
    assert cache.run(aten.mul.Scalar, (ints, 1.5), {}).dtype == torch.float32
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert cache.run(aten.mul.Scalar, (ints, 1.5), {}).dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize(
    ("func", "args", "kwargs"),
    [
        (aten.view.default, (meta(4, 6), [24]), {}),  # a view aliases its input
        (aten.add_.Tensor, (meta(4, 6), meta(4, 6)), {}),  # mutates its input
        (aten.add.out, (meta(4, 6), meta(4, 6)), {"out": meta(4, 6)}),  # writes into an argument
        (aten.nonzero.default, (torch.ones(3),), {}),  # data-dependent shape, and a real tensor
    ],
)
def test_views_mutations_and_real_tensors_always_run(func: object, args: tuple, kwargs: dict) -> None:
    cache = MetaOutputCache()
    for _ in range(2):
        cache.run(func, args, kwargs)
    assert cache.hits == 0 and cache.misses == 0


def test_a_result_that_aliases_an_input_is_never_replayed() -> None:
    # a functional schema whose kernel nonetheless returns its input: the check at store time catches it
    lib = torch.library.Library("nnperf_test_cache", "DEF")  # a throwaway test namespace
    lib.define("sneaky(Tensor x) -> Tensor")
    lib.impl("sneaky", lambda x: x, "Meta")
    op = torch.ops.nnperf_test_cache.sneaky.default
    cache = MetaOutputCache()
    x = meta(5)
    first = cache.run(op, (x,), {})
    second = cache.run(op, (x,), {})
    assert first is x and second is x and cache.hits == 0


def test_inference_mode_outputs_stay_inference_tensors() -> None:
    cache = MetaOutputCache()
    x = meta(4, 4)
    cache.run(aten.relu.default, (x,), {})
    with torch.inference_mode():
        inner = cache.run(aten.relu.default, (x,), {})
        again = cache.run(aten.relu.default, (x,), {})
    assert inner.is_inference() and again.is_inference() and cache.hits == 1


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [("gpt2", {"seq": 32}), ("resnet18", {"batch": 2}), ("t5-small", {"seq": 16})],
)
def test_whole_model_results_identical_with_and_without(
    model: str, kwargs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    memo = nnperf.summary(model, mode="train", **kwargs).to_dict(include_ops=True)
    monkeypatch.setattr(meta_cache, "ENABLED", False)
    plain = nnperf.summary(model, mode="train", **kwargs).to_dict(include_ops=True)
    assert memo == plain
