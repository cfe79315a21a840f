"""Loss functions that reach the dispatcher as single ops.

``cross_entropy`` decomposes into ``_log_softmax`` + ``nll_loss_forward``; ``l1_loss`` and ``kl_div`` into
pointwise ops and reductions, so they need nothing here. ``reduction`` is 0 = none, 1 = mean, 2 = sum;
a mean or sum adds 1 FLOP per element (the reduction) and a mean one division.

NLL loss reads only the N target entries of its (N, C) input, not the whole input: its minimum traffic is
the gathered elements, the targets and the output. Its backward writes the whole (N, C) gradient (zeros
except at the targets) and reads only grad_output, targets and weights.
"""

from __future__ import annotations

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, register_formula, tensor_bytes

aten = torch.ops.aten

_NONE, _MEAN = 0, 1


def _reduction_flops(n: int, reduction: int) -> int:
    # none: nothing; sum: n adds; mean: n adds + 1 division.
    if reduction == _NONE:
        return 0
    return n + (1 if reduction == _MEAN else 0)


def _elementwise_loss(call: OpCall, per: int, reduction_index: int) -> Cost:
    n = call.args[0].numel()
    reduction = int(call.arg(reduction_index, "reduction", _MEAN))
    return call.traffic(OpKind.LOSS, flops=per * n + _reduction_flops(n, reduction))


def _nll_samples(target: torch.Tensor) -> int:
    # One sample per target entry: N for (N, C) input, N*H*W for nll_loss2d's (N, C, H, W).
    return max(target.numel(), 1)


@register_formula(aten.nll_loss_forward, aten.nll_loss2d_forward)
def _nll_loss_forward(call: OpCall) -> Cost:
    # (self, target, weight, reduction, ignore_index) -> (output, total_weight)
    # Per sample: -x[t] (1) and * w[t] (1 if weight); reduction over the samples; the mean divides by the
    # total weight, which with a weight is itself a sum over the samples (n more adds).
    x, target, weight = call.args[0], call.args[1], call.arg(2, "weight")
    reduction = int(call.arg(3, "reduction", _MEAN))
    n = _nll_samples(target)
    flops = n * (1 + int(weight is not None)) + _reduction_flops(n, reduction)
    if reduction == _MEAN and weight is not None:
        flops += n
    # Minimum traffic: the n gathered input elements, the targets, at most min(n, C) weights.
    read = n * x.element_size() + tensor_bytes(target)
    if weight is not None:
        read += min(n, weight.numel()) * weight.element_size()
    return Cost(OpKind.LOSS, flops, 0, read, call.bytes_written(), note="reads only the target entries")


@register_formula(aten.nll_loss_backward, aten.nll_loss2d_backward)
def _nll_loss_backward(call: OpCall) -> Cost:
    # (grad_output, self, target, weight, reduction, ignore_index, total_weight) -> grad_input
    # grad_input = 0 everywhere except grad_input[i, t_i] = -grad * w[t_i] (/ total_weight for a mean):
    # per sample neg (1) + weight mul (1 if weight) + division (1 if mean).
    grad_out, target, weight = call.args[0], call.args[2], call.arg(3, "weight")
    reduction = int(call.arg(4, "reduction", _MEAN))
    total_weight = call.arg(6, "total_weight")
    n = _nll_samples(target)
    flops = n * (1 + int(weight is not None) + int(reduction == _MEAN))
    read = tensor_bytes(grad_out) + tensor_bytes(target) + tensor_bytes(total_weight)
    if weight is not None:
        read += min(n, weight.numel()) * weight.element_size()
    return Cost(OpKind.LOSS, flops, 0, read, call.bytes_written(), note="writes the whole gradient")


@register_formula(aten.mse_loss)
def _mse_loss(call: OpCall) -> Cost:
    # (x - t)^2: sub, square per element.
    return _elementwise_loss(call, 2, 2)


@register_formula(aten.mse_loss_backward)
def _mse_loss_backward(call: OpCall) -> Cost:
    # (grad_output, self, target, reduction): 2 * (x - t) * grad -> sub, mul 2, mul grad per element
    # (a mean folds 1/n into the scalar grad: 1 division).
    n = call.args[1].numel()
    reduction = int(call.arg(3, "reduction", _MEAN))
    return call.traffic(OpKind.LOSS, flops=3 * n + int(reduction == _MEAN))


@register_formula(aten.smooth_l1_loss, aten.huber_loss)
def _smooth_l1_loss(call: OpCall) -> Cost:
    # d = x - t, |d|, |d| < beta ? 0.5 * d^2 / beta (3) : |d| - 0.5 * beta (1): counting the longer branch
    # -> sub, abs, comparison, 3 = 6 per element.
    return _elementwise_loss(call, 6, 2)


@register_formula(aten.smooth_l1_loss_backward, aten.huber_loss_backward)
def _smooth_l1_loss_backward(call: OpCall) -> Cost:
    # (grad_output, self, target, reduction, beta): d = x - t, comparison, d / beta or sign(d), * grad -> 4.
    n = call.args[1].numel()
    reduction = int(call.arg(3, "reduction", _MEAN))
    return call.traffic(OpKind.LOSS, flops=4 * n + int(reduction == _MEAN))


@register_formula(aten.binary_cross_entropy)
def _bce(call: OpCall) -> Cost:
    # (self, target, weight, reduction): -(t * max(log x, -100) + (1 - t) * max(log(1 - x), -100))
    # -> log, max, mul, sub, sub, log, max, mul, add, neg = 10; * weight (1 if weight).
    weight = call.arg(2, "weight")
    n = call.args[0].numel()
    reduction = int(call.arg(3, "reduction", _MEAN))
    return call.traffic(
        OpKind.LOSS, flops=n * (10 + int(weight is not None)) + _reduction_flops(n, reduction)
    )


@register_formula(aten.binary_cross_entropy_backward)
def _bce_backward(call: OpCall) -> Cost:
    # (grad_output, self, target, weight, reduction): grad * (x - t) / max((1 - x) * x, eps)
    # -> sub, sub, mul, max, div, mul = 6; * weight (1); / n for a mean (1).
    n = call.args[1].numel()
    weight = call.arg(3, "weight")
    reduction = int(call.arg(4, "reduction", _MEAN))
    return call.traffic(OpKind.LOSS, flops=n * (6 + int(weight is not None) + int(reduction == _MEAN)))


@register_formula(aten.binary_cross_entropy_with_logits)
def _bce_with_logits(call: OpCall) -> Cost:
    # (self, target, weight, pos_weight, reduction), stable form:
    # (1 - t) * x + max(-x, 0) + log(exp(-max) + exp(-x - max))
    # -> sub, mul, max, add, sub, exp, exp, add, log, add = 10 per element;
    # pos_weight: l = (pos_weight - 1) * t + 1 scales the log term -> sub, mul, add, mul = 4; weight: 1.
    n = call.args[0].numel()
    weight, pos_weight = call.arg(2, "weight"), call.arg(3, "pos_weight")
    reduction = int(call.arg(4, "reduction", _MEAN))
    per = 10 + 4 * int(pos_weight is not None) + int(weight is not None)
    return call.traffic(OpKind.LOSS, flops=n * per + _reduction_flops(n, reduction))


@register_formula(aten.soft_margin_loss)
def _soft_margin_loss(call: OpCall) -> Cost:
    # log(1 + exp(-t * x)) -> mul, exp, add, log = 4.
    return _elementwise_loss(call, 4, 2)


@register_formula(aten.soft_margin_loss_backward)
def _soft_margin_loss_backward(call: OpCall) -> Cost:
    # (grad_output, self, target, reduction): -t * sigmoid(-t x) * grad -> mul, exp, add, div, mul, mul = 6.
    n = call.args[1].numel()
    reduction = int(call.arg(3, "reduction", _MEAN))
    return call.traffic(OpKind.LOSS, flops=6 * n + int(reduction == _MEAN))
