"""Reductions, scans, sorting and selection where the generic rule (1 FLOP per input element) is wrong.

The generic rule in the registry covers ``sum``, ``prod``, ``amax``/``amin``, ``argmax``/``argmin``,
``max.dim``, ``all``/``any``: reducing n elements takes n - 1 adds or comparisons, counted as n. The ops
below do more per element, or are not tagged as reductions:

=================  ===========================================================  =====================
op                 reference computation                                        FLOPs
=================  ===========================================================  =====================
mean               sum, then one division per output                            n + outputs
var / std          mean (n), x - mean, square, sum (3n), two divisions per out   4n + 2 out (+ out sqrt)
var_mean/std_mean  the same; the mean comes for free                            same
vector norm, p=2   square, sum; sqrt per output                                 2n + out
vector norm, p=1   abs, sum                                                     2n
vector norm, inf   abs, max                                                     2n
vector norm, p     abs, pow, sum; pow(1/p) per output                           3n + out
logsumexp          max, sub, exp, sum; log, add per output                      4n + 2 out
cumsum / cumprod   one add / mul per element                                    n
cummax / cummin    one comparison per element                                   n
sort               comparisons of a comparison sort: L * ceil(log2 L) per row   rows * L * ceil(log2 L)
topk               a size-k heap scan: ceil(log2(k + 1)) comparisons per elem   n * ceil(log2(k + 1))
nonzero            one comparison with 0 per element                            n
histc              range test (2 comparisons), bin = (x - lo) * bins / (hi - lo)   6n
                   (sub, mul, div), the bin's count + 1 (add)
=================  ===========================================================  =====================

``sort`` and ``topk`` are algorithm-dependent; the counts are the textbook comparison counts, documented
so that they are at least consistent.
"""

from __future__ import annotations

import math

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, register_formula

aten = torch.ops.aten


def _reduce(call: OpCall, per_in: int, per_out: int, note: str = "") -> Cost:
    n = call.args[0].numel()
    return call.traffic(OpKind.REDUCTION, flops=per_in * n + per_out * call.out_numel(), note=note)


@register_formula(aten.mean, aten.nanmean)
def _mean(call: OpCall) -> Cost:
    return _reduce(call, 1, 1)


@register_formula(aten.var, aten.var_mean)
def _var(call: OpCall) -> Cost:
    # var_mean returns (var, mean): count per var output, not per output tensor.
    n = call.args[0].numel()
    n_out = call.outputs()[0].numel()
    return call.traffic(OpKind.REDUCTION, flops=4 * n + 2 * n_out)


@register_formula(aten.std, aten.std_mean)
def _std(call: OpCall) -> Cost:
    n = call.args[0].numel()
    n_out = call.outputs()[0].numel()
    return call.traffic(OpKind.REDUCTION, flops=4 * n + 3 * n_out)


@register_formula(aten.linalg_vector_norm)
def _vector_norm(call: OpCall) -> Cost:
    ord_ = call.arg(1, "ord", 2)
    n = call.args[0].numel()
    n_out = call.out_numel()
    if ord_ == 2:
        flops = 2 * n + n_out
    elif ord_ in (1, math.inf, -math.inf):
        flops = 2 * n
    elif ord_ == 0:
        flops = 2 * n  # count of non-zeros: comparison, add
    else:
        flops = 3 * n + n_out
    return call.traffic(OpKind.REDUCTION, flops=flops, note=f"ord={ord_}")


@register_formula(aten.logsumexp)
def _logsumexp(call: OpCall) -> Cost:
    return _reduce(call, 4, 2)


@register_formula(aten.cumsum, aten.cumsum_, aten.cumprod, aten.cumprod_, aten.cummax, aten.cummin)
def _scan(call: OpCall) -> Cost:
    return call.traffic(OpKind.REDUCTION, flops=call.args[0].numel())


@register_formula(aten.logcumsumexp)
def _logcumsumexp(call: OpCall) -> Cost:
    # Running log-add-exp: max, sub, exp, log1p, add per element (as logaddexp).
    return call.traffic(OpKind.REDUCTION, flops=5 * call.args[0].numel())


def _dim_size(t: torch.Tensor, dim: int) -> int:
    return t.shape[dim] if t.dim() else 1


@register_formula(aten.sort)
def _sort(call: OpCall) -> Cost:
    x = call.args[0]
    dim = call.kwargs.get("dim", -1)
    for a in call.args[1:]:
        if isinstance(a, int) and not isinstance(a, bool):
            dim = a
            break
    length = _dim_size(x, dim)
    per = math.ceil(math.log2(length)) if length > 1 else 0
    return call.traffic(
        OpKind.REDUCTION, flops=x.numel() * per, note="comparison sort: L*ceil(log2 L) per row"
    )


@register_formula(aten.topk)
def _topk(call: OpCall) -> Cost:
    x, k = call.args[0], int(call.args[1])
    per = max(1, math.ceil(math.log2(k + 1)))
    return call.traffic(
        OpKind.REDUCTION, flops=x.numel() * per, note="heap selection: ceil(log2(k+1)) per element"
    )


@register_formula(aten.nonzero, aten.argwhere, aten.masked_select)
def _nonzero(call: OpCall) -> Cost:
    return call.traffic(OpKind.REDUCTION, flops=call.args[0].numel())


@register_formula(aten.histc)
def _histc(call: OpCall) -> Cost:
    # Mixture-of-experts routers count the tokens of each expert with histc (transformers' grouped_mm path).
    return call.traffic(OpKind.REDUCTION, flops=6 * call.args[0].numel(), note="6 per element binned")
