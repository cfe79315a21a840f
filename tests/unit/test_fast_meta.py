"""nnperf's shape functions produce exactly what PyTorch's meta kernels produce, and change no result."""

from __future__ import annotations

import itertools

import pytest
import torch

import nnperf
from nnperf.static import fast_meta

aten = torch.ops.aten
DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.float64]


def layout(t: torch.Tensor | None) -> tuple | None:
    return None if t is None else (tuple(t.shape), t.stride(), t.dtype, t.device.type)


def same_as_meta(func: object, *args: object) -> None:
    fast = fast_meta.FAST_META[func](*args)
    assert fast is not None, "the shape function declined a plain case"
    ref = func(*args)
    assert [layout(t) for t in fast] == [layout(t) for t in ref]


@pytest.mark.parametrize(
    ("dtype", "channels_last", "training"), list(itertools.product(DTYPES, [False, True], [False, True]))
)
def test_batch_norm_forward_and_backward(dtype: torch.dtype, channels_last: bool, training: bool) -> None:
    x = torch.empty(4, 16, 7, 7, device="meta", dtype=dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    w = torch.empty(16, device="meta")
    same_as_meta(aten.native_batch_norm.default, x, w, w, w.clone(), w.clone(), training, 0.1, 1e-5)
    for mask in ([True, True, True], [False, True, True]):
        same_as_meta(
            aten.native_batch_norm_backward.default,
            torch.empty_like(x),
            x,
            w,
            w,
            w,
            w,
            w,
            training,
            1e-5,
            mask,
        )


@pytest.mark.parametrize(
    ("dtype", "shape"), list(itertools.product(DTYPES, [(3, 5, 64), (6, 64), (2, 3, 4, 8)]))
)
def test_layer_norm_forward_and_backward(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    x = torch.empty(shape, device="meta", dtype=dtype)
    w = torch.empty(shape[-1], device="meta", dtype=dtype)
    same_as_meta(aten.native_layer_norm.default, x, [shape[-1]], w, w, 1e-5)
    _, mean, rstd = aten.native_layer_norm.default(x, [shape[-1]], w, w, 1e-5)
    for mask, bias in (([True, True, True], w), ([True, True, False], None), ([False, True, True], w)):
        same_as_meta(aten.native_layer_norm_backward.default, x, x, [shape[-1]], mean, rstd, w, bias, mask)


def test_declines_what_it_does_not_cover() -> None:
    x = torch.empty(4, 16, 7, 7, device="meta").transpose(2, 3)  # neither contiguous nor channels-last
    w = torch.empty(16, device="meta")
    assert fast_meta.FAST_META[aten.native_batch_norm.default](x, w, w, w, w, True, 0.1, 1e-5) is None
    cpu = torch.empty(4, 16)
    assert fast_meta.FAST_META[aten.native_layer_norm.default](cpu, [16], None, None, 1e-5) is None


@pytest.mark.parametrize(("model", "kwargs"), [("resnet18", {"batch": 2}), ("gpt2", {"seq": 32})])
def test_whole_model_results_identical_with_and_without(
    model: str, kwargs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = nnperf.summary(model, mode="train", **kwargs).to_dict(include_ops=True)
    monkeypatch.setattr(fast_meta, "ENABLED", False)
    slow = nnperf.summary(model, mode="train", **kwargs).to_dict(include_ops=True)
    assert fast == slow
