"""Shape functions for the few ops whose meta kernels are slow, or refuse what the CPU kernel runs.

On meta tensors PyTorch runs batch norm and layer norm (forward and backward) through Python reference
decompositions: 2-4 ms per call, most of a static analysis of a ResNet or a transformer. Their outputs are
fully determined by the inputs' shapes, dtypes and layout, so for the plain cases (dense inputs, affine
parameters present) nnperf builds them directly. Each function returns ``None`` to decline, and the counter
then calls PyTorch's own meta kernel. ``tests/unit/test_fast_meta.py`` checks shape, stride and dtype of every
output against PyTorch's meta kernels, and whole-model results with and without this module.

``_grouped_mm`` (the expert matmuls of mixture-of-experts models) is the other case: its meta kernel checks
for CUDA's grouped GEMM, which takes bf16 only, while the CPU kernel runs fp32 as well; an fp32 Mixtral would
fail on meta tensors and be far too large to run on real ones. For fp32 and fp16, which the meta kernel refuses, the
output is built here as the CPU kernel builds it (dense, the operands' dtype); the test checks it against the
CPU kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

aten = torch.ops.aten
ENABLED = True  # tests switch it off to compare against PyTorch's own meta kernels

_HALF = (torch.float16, torch.bfloat16)


def _plain_meta(t: Any) -> bool:
    """A meta tensor (not a subclass such as FakeTensor) in a dense standard or channels-last layout."""
    if type(t) is not torch.Tensor or t.device.type != "meta" or t.dim() < 2:
        return False
    if t.is_contiguous():
        return True
    return (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)) or (
        t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d)
    )


def _stat_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def _batch_norm(x: Any, weight: Any, bias: Any, *rest: Any) -> tuple | None:
    # native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)
    if not _plain_meta(x):
        return None
    c = x.shape[1]
    stat = _stat_dtype(x.dtype)
    return (
        torch.empty_like(x),
        torch.empty((c,), dtype=stat, device="meta"),
        torch.empty((c,), dtype=stat, device="meta"),
    )


def _batch_norm_backward(grad: Any, x: Any, weight: Any, *rest: Any) -> tuple | None:
    # native_batch_norm_backward(grad_out, input, weight, running_mean, running_var, save_mean,
    #                            save_invstd, train, eps, output_mask): three tensors whatever the mask
    if not (_plain_meta(x) and _plain_meta(grad)) or not isinstance(weight, torch.Tensor):
        return None
    if grad.stride() != x.stride():
        return None
    return torch.empty_like(x), torch.empty_like(weight), torch.empty_like(weight)


def _layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5):
    if type(x) is not torch.Tensor or x.device.type != "meta" or not x.is_contiguous():
        return None
    k = len(normalized_shape)
    stat_shape = tuple(x.shape[: x.dim() - k]) + (1,) * k
    stat = _stat_dtype(x.dtype)
    return (
        torch.empty_like(x),
        torch.empty(stat_shape, dtype=stat, device="meta"),
        torch.empty(stat_shape, dtype=stat, device="meta"),
    )


def _layer_norm_backward(
    grad: Any, x: Any, normalized_shape: Any, mean: Any, rstd: Any, weight: Any, bias: Any, mask: Any
) -> tuple | None:
    if (
        type(x) is not torch.Tensor
        or x.device.type != "meta"
        or not (x.is_contiguous() and grad.is_contiguous())
    ):
        return None
    if (mask[1] and weight is None) or (mask[2] and bias is None):
        return None
    return (
        torch.empty_like(x) if mask[0] else None,
        torch.empty_like(weight) if mask[1] else None,
        torch.empty_like(bias) if mask[2] else None,
    )


# Dtypes the CPU grouped_mm kernel runs but the meta kernel refuses (it checks for CUDA's bf16 grouped GEMM,
# fp16 only with cuBLASLt's).
_GROUPED_MM_CPU_ONLY = (torch.float32, torch.float16)


def _grouped_mm(a: Any, b: Any, offs: Any = None, bias: Any = None, out_dtype: Any = None) -> Any:
    if type(a) is not torch.Tensor or a.device.type != "meta" or a.dtype not in _GROUPED_MM_CPU_ONLY:
        return None  # PyTorch's meta kernel handles bf16, and refuses what no kernel runs (fp64)
    if a.dtype != b.dtype or (out_dtype is not None and out_dtype != a.dtype) or a.dim() not in (2, 3):
        return None
    if a.dim() == 2 and b.dim() == 2:  # the shared dimension split: one (M, N) result per group
        shape = (offs.shape[0], a.shape[0], b.shape[1])
    elif a.dim() == 2:  # rows split among the groups of b
        shape = (a.shape[0], b.shape[-1])
    elif b.dim() == 2:  # columns split
        shape = (a.shape[1], b.shape[1])
    else:  # batched
        shape = (a.shape[0], a.shape[1], b.shape[2])
    return torch.empty(shape, dtype=a.dtype, device="meta")


FAST_META: dict[Any, Callable[..., tuple | None]] = {
    aten._grouped_mm.default: _grouped_mm,
    aten.native_batch_norm.default: _batch_norm,
    aten.native_batch_norm_backward.default: _batch_norm_backward,
    aten.native_layer_norm.default: _layer_norm,
    aten.native_layer_norm_backward.default: _layer_norm_backward,
}


def run_fast(func: Any, args: tuple, kwargs: dict) -> Any:
    """The op's outputs from its shape function, or None when there is none or it declines."""
    if not ENABLED or kwargs:
        return None
    fn = FAST_META.get(func)
    return fn(*args) if fn is not None else None
