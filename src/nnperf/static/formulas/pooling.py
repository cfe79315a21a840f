"""Pooling (max, average, adaptive; 1d/2d/3d) and upsampling, forward and backward.

Convention: a pooling window of K elements costs K FLOPs per output element — K - 1 comparisons (max) or
adds (average), plus the average's division, or the max's compare against the initial value; the -1 is
not worth a special case. Windows are counted at their full nominal size, including positions in the
padding (what the kernels iterate over).

Backward. Max pooling routes each grad_output element to the input position its index names: 1 add per
grad_output element into a zeroed grad_input. Average pooling spreads each grad_output element over its K
window positions: K FLOPs per grad_output element (one scaling, K - 1 adds, as in the forward).

Adaptive pooling's windows vary: along a dimension of input size I and output size O, output i pools
[floor(i*I/O), ceil((i+1)*I/O)). The total is exact: the product over dimensions of the summed window
lengths, times batch and channels.

Upsampling: nearest copies (0 FLOPs); (bi/tri)linear interpolates from 2^d taps: 2^d multiplies and
2^d - 1 adds per output element, weights computed per output row/column (ignored); bicubic: 16 taps,
31 FLOPs. The backward distributes each grad_output element over the same taps: the same count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, prod, register_formula, tensor_bytes

aten = torch.ops.aten


def _packets(names: Sequence[str]) -> list:
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def _window(kernel_size: Sequence[int] | int, spatial_dims: int) -> int:
    # kernel_size may be a single int or a 1-element list meaning "the same along every dimension".
    ks = [kernel_size] if isinstance(kernel_size, int) else list(kernel_size)
    if len(ks) == 1:
        ks = ks * spatial_dims
    return prod(ks)


def _spatial_dims(op_name: str) -> int:
    return 3 if "3d" in op_name else 1 if "1d" in op_name else 2


def _pool_forward(call: OpCall) -> Cost:
    # (self, kernel_size, ...): K FLOPs per output element; the indices output of max pooling is written too.
    window = _window(call.args[1], _spatial_dims(call.op.overloadpacket.__name__))
    n_out = call.outputs()[0].numel()
    return call.traffic(OpKind.POOL, flops=n_out * window, note=f"window {window}")


_register = register_formula(
    *_packets(
        [
            "max_pool1d",
            "max_pool2d",
            "max_pool3d",
            "max_pool2d_with_indices",
            "max_pool3d_with_indices",
            "mkldnn_max_pool2d",
            "mkldnn_max_pool3d",
            "quantized_max_pool1d",
            "quantized_max_pool2d",
            "quantized_max_pool3d",
            "avg_pool1d",
            "avg_pool2d",
            "avg_pool3d",
            "mkldnn_avg_pool2d",
        ]
    )
)
_register(_pool_forward)


@register_formula(aten.max_pool2d_with_indices_backward, aten.max_pool3d_with_indices_backward)
def _max_pool_backward(call: OpCall) -> Cost:
    # (grad_output, self, kernel_size, stride, padding, dilation, ceil_mode, indices): zero grad_input, then
    # one add per grad_output element. Minimum traffic: grad_output and indices in, grad_input out
    # (``self`` is passed for its shape only).
    grad_out, indices = call.args[0], call.arg(7, "indices")
    read = tensor_bytes(grad_out) + tensor_bytes(indices)
    return Cost(OpKind.POOL, grad_out.numel(), 0, read, call.bytes_written())


@register_formula(aten.avg_pool2d_backward, aten.avg_pool3d_backward)
def _avg_pool_backward(call: OpCall) -> Cost:
    # (grad_output, self, kernel_size, ...): K FLOPs per grad_output element; ``self`` only gives the shape.
    grad_out = call.args[0]
    window = _window(call.args[2], _spatial_dims(call.op.overloadpacket.__name__))
    return Cost(OpKind.POOL, grad_out.numel() * window, 0, tensor_bytes(grad_out), call.bytes_written())


def adaptive_window_elements(in_size: int, out_size: int) -> int:
    """Sum over the O outputs of the adaptive window length along one dimension of size I."""
    total = 0
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = -((-(i + 1) * in_size) // out_size)  # ceil((i + 1) * I / O)
        total += end - start
    return total


def _adaptive_flops(inp: torch.Tensor, out: torch.Tensor, spatial: int) -> int:
    # batch * channels * prod over spatial dims of the summed window lengths.
    lead = prod(out.shape[: out.dim() - spatial])
    per = prod(
        adaptive_window_elements(int(i), int(o))
        for i, o in zip(inp.shape[-spatial:], out.shape[-spatial:], strict=True)
    )
    return lead * per


@register_formula(
    *_packets(["_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d", "adaptive_max_pool3d"])
)
def _adaptive_forward(call: OpCall) -> Cost:
    spatial = _spatial_dims(call.op.overloadpacket.__name__)
    flops = _adaptive_flops(call.args[0], call.outputs()[0], spatial)
    return call.traffic(OpKind.POOL, flops=flops, note="adaptive windows")


@register_formula(*_packets(["_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward"]))
def _adaptive_avg_backward(call: OpCall) -> Cost:
    # (grad_output, self): each grad_output element spread over its window, as the forward.
    grad_out, inp = call.args[0], call.args[1]
    spatial = _spatial_dims(call.op.overloadpacket.__name__)
    flops = _adaptive_flops(inp, grad_out, spatial)
    return Cost(OpKind.POOL, flops, 0, tensor_bytes(grad_out), call.bytes_written(), "adaptive windows")


@register_formula(*_packets(["adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward"]))
def _adaptive_max_backward(call: OpCall) -> Cost:
    # (grad_output, self, indices): one add per grad_output element.
    grad_out, indices = call.args[0], call.args[2]
    read = tensor_bytes(grad_out) + tensor_bytes(indices)
    return Cost(OpKind.POOL, grad_out.numel(), 0, read, call.bytes_written())


# ---- upsampling ---------------------------------------------------------------------------------------

_TAPS_FLOPS = {"linear": 3, "bilinear": 7, "trilinear": 15, "bicubic": 31}


def _upsample_kind(name: str) -> str:
    for kind in ("trilinear", "bilinear", "bicubic", "linear"):
        if kind in name:
            return kind
    return "nearest"


def _upsample(call: OpCall) -> Cost:
    name = call.op.overloadpacket.__name__
    kind = _upsample_kind(name)
    per = _TAPS_FLOPS.get(kind, 0)
    if name.endswith("_backward"):
        grad_out = call.args[0]
        return Cost(
            OpKind.POOL, per * grad_out.numel(), 0, tensor_bytes(grad_out), call.bytes_written(), kind
        )
    return call.traffic(OpKind.POOL, flops=per * call.out_numel(), note=kind)


register_formula(
    *_packets(
        [
            f"{base}{suffix}"
            for base in (
                "upsample_nearest1d",
                "upsample_nearest2d",
                "upsample_nearest3d",
                "_upsample_nearest_exact1d",
                "_upsample_nearest_exact2d",
                "_upsample_nearest_exact3d",
                "upsample_linear1d",
                "upsample_bilinear2d",
                "_upsample_bilinear2d_aa",
                "upsample_trilinear3d",
                "upsample_bicubic2d",
                "_upsample_bicubic2d_aa",
            )
            for suffix in ("", "_backward")
        ]
    )
)(_upsample)
