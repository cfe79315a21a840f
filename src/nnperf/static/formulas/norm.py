"""Normalisations (batch, layer, group, RMS) and softmax, forward and backward.

FLOPs per element of the reference formulas (n = elements normalised; per-row/per-channel scalar work such
as ``rsqrt(var + eps)`` is counted separately and is small):

=====================================  ==========================================================  =====
op                                     reference computation per element                           FLOPs
=====================================  ==========================================================  =====
layer/group/batch norm fwd (stats)     sum for mean, x - mean, square, sum for var, * rstd          5
  + affine                             * weight, + bias (1 each when given)                        +2
batch norm fwd with given stats        (x - mean) * invstd                                          2
rms norm fwd                           square, sum, * rstd (+ * weight)                             3 (+1)
norm backward (layer/group/batch)      xhat = (x - mean) * rstd (2); g = dy * w (1 if w);           9-12
                                       dx = rstd * (g - mean(g) - xhat * mean(g * xhat)): sum g,
                                       g * xhat, sum, xhat * c, sub, sub, * rstd (7);
                                       dw: dy * xhat, sum (2); db: sum dy (1)
batch norm backward, eval              dx = dy * (w * invstd) (1); dw, db as above                  ...
rms norm backward                      xhat = x * rstd (1); g = dy * w (1 if w);                     8 (+1)
                                       dx = rstd * (g - xhat * mean(g * xhat)) (5); dw (2)
softmax                                max, x - max, exp, sum, / sum                                5
log_softmax                            max, x - max, exp, sum, - log(sum)                           5
_safe_softmax                          softmax (5) + x == -inf test (1) + all() over the row (1)    7
softmax backward                       y * (dy - sum(dy * y)): mul, sum, sub, mul                   4
log_softmax backward                   dy - exp(y) * sum(dy): sum, exp, mul, sub                    4
=====================================  ==========================================================  =====

The backward rows count only the parts that ``output_mask`` asks for (xhat is shared by dx and dw).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, prod, register_formula

aten = torch.ops.aten


def _affine(weight: object, bias: object) -> int:
    return int(weight is not None) + int(bias is not None)


def _stats_forward_flops(n: int, groups: int, weight: object, bias: object) -> int:
    # Per element: 5 (mean sum, sub, square, var sum, * rstd) + affine.
    # Per normalised group (row / channel): mean = sum / n, var = sum / n, rsqrt(var + eps) -> 4.
    return n * (5 + _affine(weight, bias)) + 4 * groups


def _norm_backward_flops(n: int, groups: int, has_weight: bool, mask: Sequence[bool]) -> int:
    want_dx, want_dw, want_db = (bool(m) for m in mask)
    per = 0
    if want_dx or want_dw:
        per += 2  # xhat = (x - mean) * rstd
    if want_dx:
        per += int(has_weight) + 7  # g = dy * w; rstd * (g - mean(g) - xhat * mean(g * xhat))
    if want_dw:
        per += 2  # sum(dy * xhat)
    if want_db:
        per += 1  # sum(dy)
    # Per group: the two means (2 divisions) when dx is computed.
    return n * per + (2 * groups if want_dx else 0)


# ---- batch norm -------------------------------------------------------------------------------------


def _batch_norm_forward(call: OpCall, training: bool) -> Cost:
    x = call.args[0]
    weight, bias = call.named("weight"), call.named("bias")
    channels = x.shape[1] if x.dim() > 1 else 1
    n = x.numel()
    if training:
        flops = _stats_forward_flops(n, channels, weight, bias)
        running = call.named("running_mean")
        if running is not None:
            # running = (1 - m) * running + m * stat for mean and var (+1 unbiasing mul): 7 per channel.
            flops += 7 * channels
        note = "batch statistics"
    else:
        # (x - mean) * invstd (+ affine) with invstd = rsqrt(running_var + eps) per channel (2).
        flops = n * (2 + _affine(weight, bias)) + 2 * channels
        note = "running statistics"
    return call.traffic(OpKind.NORM, flops=flops, note=note)


@register_formula(
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_functional,
    aten.cudnn_batch_norm,
    aten.miopen_batch_norm,
)
def _batch_norm(call: OpCall) -> Cost:
    return _batch_norm_forward(call, bool(call.named("training", True)))


@register_formula(aten._native_batch_norm_legit_no_training)
def _batch_norm_no_training(call: OpCall) -> Cost:
    return _batch_norm_forward(call, training=False)


@register_formula(aten._batch_norm_with_update, aten._batch_norm_with_update_functional)
def _batch_norm_with_update(call: OpCall) -> Cost:
    return _batch_norm_forward(call, training=True)


@register_formula(aten._batch_norm_no_update)
def _batch_norm_no_update(call: OpCall) -> Cost:
    # Uses the running statistics when given, the batch statistics otherwise.
    return _batch_norm_forward(call, training=call.named("running_mean") is None)


def _batch_norm_backward(call: OpCall, grad_out: torch.Tensor, training: bool, mask: Sequence[bool]) -> Cost:
    weight = call.named("weight")
    channels = grad_out.shape[1] if grad_out.dim() > 1 else 1
    n = grad_out.numel()
    if training:
        flops = _norm_backward_flops(n, channels, weight is not None, mask)
    else:
        # Eval: dx = dy * (w * invstd) (1 per element); dw = sum(dy * xhat) with xhat (2 + 2); db = sum(dy).
        want_dx, want_dw, want_db = (bool(m) for m in mask)
        flops = n * (int(want_dx) + 4 * int(want_dw) + int(want_db))
    return call.traffic(OpKind.NORM, flops=flops, note="training" if training else "eval")


@register_formula(aten.native_batch_norm_backward, aten.batch_norm_backward)
def _native_batch_norm_backward(call: OpCall) -> Cost:
    training = bool(call.named("train", call.named("update", True)))
    mask = call.named("output_mask", (True, True, True))
    return _batch_norm_backward(call, call.args[0], training, mask)


@register_formula(aten.cudnn_batch_norm_backward, aten.miopen_batch_norm_backward)
def _cudnn_batch_norm_backward(call: OpCall) -> Cost:
    # (input, grad_output, ...): training-mode backward of all three gradients.
    return _batch_norm_backward(call, call.args[1], True, (True, True, True))


# ---- layer norm, group norm, rms norm ----------------------------------------------------------------


@register_formula(aten.native_layer_norm)
def _layer_norm(call: OpCall) -> Cost:
    # (input, normalized_shape, weight, bias, eps): rows = numel / prod(normalized_shape).
    x, shape = call.args[0], call.args[1]
    n = x.numel()
    rows = n // max(prod(shape), 1)
    return call.traffic(
        OpKind.NORM, flops=_stats_forward_flops(n, rows, call.arg(2, "weight"), call.arg(3, "bias"))
    )


@register_formula(aten.native_layer_norm_backward)
def _layer_norm_backward(call: OpCall) -> Cost:
    # (grad_out, input, normalized_shape, mean, rstd, weight, bias, output_mask)
    grad_out, shape = call.args[0], call.args[2]
    n = grad_out.numel()
    rows = n // max(prod(shape), 1)
    mask = call.arg(7, "output_mask", (True, True, True))
    return call.traffic(
        OpKind.NORM, flops=_norm_backward_flops(n, rows, call.arg(5, "weight") is not None, mask)
    )


@register_formula(aten.native_group_norm)
def _group_norm(call: OpCall) -> Cost:
    # (input, weight, bias, N, C, HxW, group, eps): N * group groups.
    x = call.args[0]
    groups = int(call.arg(3, "N")) * int(call.arg(6, "group"))
    return call.traffic(
        OpKind.NORM, flops=_stats_forward_flops(x.numel(), groups, call.arg(1, "weight"), call.arg(2, "bias"))
    )


@register_formula(aten.native_group_norm_backward)
def _group_norm_backward(call: OpCall) -> Cost:
    # (grad_out, input, mean, rstd, weight, N, C, HxW, group, output_mask)
    grad_out = call.args[0]
    groups = int(call.arg(5, "N")) * int(call.arg(8, "group"))
    mask = call.arg(9, "output_mask", (True, True, True))
    flops = _norm_backward_flops(grad_out.numel(), groups, call.arg(4, "weight") is not None, mask)
    return call.traffic(OpKind.NORM, flops=flops)


@register_formula(aten._fused_rms_norm)
def _rms_norm(call: OpCall) -> Cost:
    # (input, normalized_shape, weight, eps): per element square, sum, * rstd (3) + * weight (1);
    # per row mean = sum / n, + eps, rsqrt (3).
    x, shape = call.args[0], call.args[1]
    n = x.numel()
    rows = n // max(prod(shape), 1)
    weight = call.arg(2, "weight")
    return call.traffic(OpKind.NORM, flops=n * (3 + int(weight is not None)) + 3 * rows)


@register_formula(aten._fused_rms_norm_backward)
def _rms_norm_backward(call: OpCall) -> Cost:
    # (grad_out, input, normalized_shape, rstd, weight, output_mask):
    # xhat = x * rstd (1, shared); dx: g = dy * w (1 if w), g * xhat, sum, xhat * c, sub, * rstd (5);
    # dw: dy * xhat, sum (2). Per row: mean(g * xhat) = sum / n (1) when dx is computed.
    grad_out, shape = call.args[0], call.args[2]
    n = grad_out.numel()
    rows = n // max(prod(shape), 1)
    has_weight = call.arg(4, "weight") is not None
    want_dx, want_dw = (bool(m) for m in call.arg(5, "output_mask", (True, True)))
    per = int(want_dx or want_dw)
    per += (int(has_weight) + 5) if want_dx else 0
    per += 2 if want_dw else 0
    return call.traffic(OpKind.NORM, flops=n * per + (rows if want_dx else 0))


# ---- softmax ------------------------------------------------------------------------------------------


def _softmax_cost(call: OpCall, per: int, log: bool = False) -> Cost:
    x = call.args[0]
    n = x.numel()
    flops = per * n
    if log:
        # One log per row: rows = numel / size of the softmax dim.
        dim = int(call.args[1])
        size = x.shape[dim] if x.dim() else 1
        flops += n // max(size, 1)
    return call.traffic(OpKind.SOFTMAX, flops=flops)


@register_formula(aten._softmax)
def _softmax(call: OpCall) -> Cost:
    return _softmax_cost(call, 5)


@register_formula(aten._safe_softmax)
def _safe_softmax(call: OpCall) -> Cost:
    return _softmax_cost(call, 7)


@register_formula(aten._log_softmax)
def _log_softmax(call: OpCall) -> Cost:
    return _softmax_cost(call, 5, log=True)


@register_formula(aten._softmax_backward_data, aten._log_softmax_backward_data)
def _softmax_backward(call: OpCall) -> Cost:
    return _softmax_cost(call, 4)
