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


GROUPED_LAYOUTS = [  # (a, b, offs) shapes: rows split, shared dimension split, batched, columns split
    ((16, 8), (3, 8, 16), True),
    ((8, 16), (16, 16), True),
    ((3, 8, 8), (3, 8, 16), False),
    ((3, 8, 8), (8, 16), True),
]  # every row a multiple of 16 bytes in fp16, as the kernels require


@pytest.mark.parametrize(("a_shape", "b_shape", "grouped"), GROUPED_LAYOUTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_grouped_mm_on_meta_builds_what_the_cpu_kernel_returns(
    a_shape: tuple, b_shape: tuple, grouped: bool, dtype: torch.dtype
) -> None:
    # PyTorch's meta kernel refuses these dtypes (CUDA's grouped GEMM is bf16 only); the CPU kernel runs them.
    offs = torch.tensor([4, 8, 16], dtype=torch.int32) if grouped else None
    a, b = torch.randn(a_shape, dtype=dtype), torch.randn(b_shape, dtype=dtype)
    meta_offs = offs.to("meta") if offs is not None else None
    with pytest.raises(RuntimeError, match=r"(BFloat16|cuBLASLt)"):
        torch._grouped_mm(a.to("meta"), b.to("meta"), offs=meta_offs)
    fast = fast_meta.FAST_META[aten._grouped_mm.default](a.to("meta"), b.to("meta"), meta_offs)
    real = torch._grouped_mm(a, b, offs=offs)
    assert (tuple(fast.shape), fast.stride(), fast.dtype) == (tuple(real.shape), real.stride(), real.dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_grouped_mm_bf16_and_unsupported_dtypes_are_left_to_pytorch(dtype: torch.dtype) -> None:
    # bf16: PyTorch's meta kernel builds it; fp64: no grouped_mm kernel runs it, so its error must stand.
    a = torch.empty(16, 8, device="meta", dtype=dtype)
    b = torch.empty(3, 8, 16, device="meta", dtype=dtype)
    offs = torch.empty(3, device="meta", dtype=torch.int32)
    assert fast_meta.FAST_META[aten._grouped_mm.default](a, b, offs) is None
