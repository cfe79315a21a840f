"""Convolutions, forward and backward, 1d/2d/3d, with groups, stride, dilation, padding and transposition.

Forward. A convolution's weight has shape (C_out, C_in/groups, *kernel). Every output element is a dot
product of length (C_in/groups) * prod(kernel), so

    MACs = numel(output) * (C_in/groups) * prod(kernel) = numel(output) * prod(weight.shape[1:]).

Stride and dilation only change which inputs a window touches, not the window's length, and groups are in
``weight.shape[1]`` already. Padding is counted densely: windows that overlap the zero padding still do
their full dot product (the usual convention, and what the kernels compute). A *transposed* convolution
has weight (C_in, C_out/groups, *kernel): every input element is scattered, multiplied by one weight, to
(C_out/groups) * prod(kernel) outputs, so MACs = numel(input) * prod(weight.shape[1:]) (contributions that
land in the cropped ``padding`` are counted too: the kernel computes them). A bias adds 1 FLOP per output
element (FLOPs, not MACs).

Backward. Think of the forward as a set P of (output element y, weight element w) pairs, each one MAC
``y += x[in(y, w)] * w``; |P| is the forward MAC count. The gradients run over the same pairs:

* grad_input:  ``dx[in(y, w)] += dy[y] * w``          one MAC per pair -> MACs = forward MACs;
* grad_weight: ``dw[w] += dy[y] * x[in(y, w)]``       one MAC per pair -> MACs = forward MACs;
* grad_bias:   ``db[c] += dy[y]``                      1 FLOP per grad_output element.

This holds for any groups, stride, dilation and for transposed convolutions (whose backward swaps the roles
of input and output but keeps the pairs). ``torch.utils.flop_counter`` gets groups wrong here: it costs
grad_weight as a dense convolution over all C_in x C_out channel pairs, ``groups`` times too much (C times
for a depthwise conv). ``output_mask`` says which gradients are computed; the first layer's grad_input is
skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, prod, register_formula, tensor_bytes

aten = torch.ops.aten


def conv_forward_macs(inp: torch.Tensor, weight: torch.Tensor, out: torch.Tensor, transposed: bool) -> int:
    """MACs of a convolution forward: numel(out or, if transposed, input) * prod(weight.shape[1:])."""
    per = prod(weight.shape[1:])
    return (inp.numel() if transposed else out.numel()) * per


def _forward(call: OpCall, transposed: bool) -> Cost:
    inp, weight = call.args[0], call.args[1]
    out = call.outputs()[0]
    macs = conv_forward_macs(inp, weight, out, transposed)
    bias = call.named("bias")
    flops = 2 * macs + (out.numel() if bias is not None else 0)
    return call.traffic(OpKind.CONV, flops=flops, macs=macs, note="transposed" if transposed else "")


@register_formula(aten.convolution, aten._convolution, aten.convolution_overrideable)
def _convolution(call: OpCall) -> Cost:
    return _forward(call, bool(call.named("transposed", False)))


def _register_backend_forwards() -> None:
    # Backend kernels that a dispatch mode may see instead of `convolution` (CPU, cuDNN, MIOpen, NNPACK).
    plain = [
        "mkldnn_convolution",
        "_slow_conv2d_forward",
        "slow_conv3d_forward",
        "slow_conv_dilated2d",
        "slow_conv_dilated3d",
        "thnn_conv2d",
        "cudnn_convolution",
        "miopen_convolution",
        "miopen_depthwise_convolution",
        "_conv_depthwise2d",
        "conv_depthwise3d",
        "_nnpack_spatial_convolution",
        "cudnn_convolution_relu",
        "cudnn_convolution_add_relu",
    ]
    transposed = [
        "slow_conv_transpose2d",
        "slow_conv_transpose3d",
        "cudnn_convolution_transpose",
        "miopen_convolution_transpose",
    ]

    def packets(names: Sequence[str]) -> list:
        return [getattr(aten, n) for n in names if hasattr(aten, n)]

    @register_formula(*packets(plain))
    def _plain(call: OpCall) -> Cost:
        return _forward(call, transposed=False)

    @register_formula(*packets(transposed))
    def _transposed(call: OpCall) -> Cost:
        return _forward(call, transposed=True)


_register_backend_forwards()


def _backward(call: OpCall, transposed: bool, mask: Sequence[bool]) -> Cost:
    grad_out, inp, weight = call.args[0], call.args[1], call.args[2]
    # The forward's output is grad_output's shape; for a transposed conv the pairs are counted per input.
    fwd_macs = conv_forward_macs(inp, weight, grad_out, transposed)
    want_input, want_weight, want_bias = (bool(m) for m in mask)
    macs = fwd_macs * (int(want_input) + int(want_weight))
    flops = 2 * macs + (grad_out.numel() if want_bias else 0)
    # Minimum traffic: grad_output always; the weight only for grad_input, the input only for grad_weight.
    read = tensor_bytes(grad_out) if any(mask) else 0
    read += tensor_bytes(weight) if want_input else 0
    read += tensor_bytes(inp) if want_weight else 0
    outs = call.out if isinstance(call.out, (tuple, list)) else (call.out,)
    written = sum(tensor_bytes(t) for t, m in zip(outs, mask, strict=False) if m and t is not None)
    parts = [n for n, m in zip(("grad_input", "grad_weight", "grad_bias"), mask, strict=True) if m]
    skipped = [n for n, m in zip(("grad_input", "grad_weight", "grad_bias"), mask, strict=True) if not m]
    note = "computes " + ", ".join(parts) if parts else "computes nothing"
    if skipped:
        note += "; not computed: " + ", ".join(skipped)
    return Cost(OpKind.CONV, flops, macs, read, written, note)


@register_formula(aten.convolution_backward, aten.convolution_backward_overrideable)
def _convolution_backward(call: OpCall) -> Cost:
    transposed = bool(call.named("transposed", False))
    mask = call.named("output_mask", (True, True, True))
    return _backward(call, transposed, mask)


@register_formula(aten._slow_conv2d_backward)
def _slow_conv2d_backward(call: OpCall) -> Cost:
    # (grad_output, self, weight, kernel_size, stride, padding, output_mask): a plain 2d convolution.
    mask = call.named("output_mask", (True, True, True))
    return _backward(call, transposed=False, mask=mask)
