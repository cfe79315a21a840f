"""Pointwise (elementwise) ops: FLOPs per output element.

Convention: count the *math operations* of the op's reference formula per output element, not machine
instructions. Every arithmetic operation (add, sub, mul, div, comparison, max/min) counts 1, and so does
every evaluation of a transcendental or special function (exp, log, tanh, erf, sqrt, rsqrt, sin, pow, ...):
a vectorised ``exp`` takes a dozen instructions, but one FLOP here. Negating an operand that feeds another
op (the ``-x`` in ``exp(-x)``) is folded into that op. Complex dtypes are counted as if real.

Ops that only *select* or *move* data (``where``, ``masked_fill``, ``clone``, ``copy``, ``positive``) are
0 FLOPs per element: they do no arithmetic on the values. Comparisons (``gt``, ``eq``, ...) do, and count 1,
the same as the comparisons of max pooling and ``amax``.

The generic pointwise rule in :mod:`nnperf.static.registry` multiplies :func:`pointwise_flops_per_element`
by the number of output elements. Ops whose per-element count depends on their arguments (``add`` with
``alpha``, ``clamp`` with one or two bounds, ``gelu``'s ``approximate``) and pointwise ops that lack the
``pointwise`` tag (``hardswish``, ``softplus_backward``, ...) have explicit formulas below.
"""

from __future__ import annotations

import torch
from torch._ops import OpOverload

from nnperf.static.registry import Cost, OpCall, OpKind, register_formula

__all__ = ["flops_per_element_by_name", "pointwise_flops_per_element"]

aten = torch.ops.aten

# Per-element FLOPs of compound ops, keyed by the functional op name (in-place ``add_`` and ``_foreach_``
# variants map to it). Every op not listed here costs 1 FLOP per output element.
_PER_ELEMENT: dict[str, int] = {
    # Data selection / movement: no arithmetic on the values.
    "clone": 0,
    "copy": 0,
    "_to_copy": 0,
    "fill": 0,
    "zero": 0,
    "where": 0,
    "masked_fill": 0,
    "positive": 0,
    "conj_physical": 0,  # a no-op for real dtypes
    "lift_fresh_copy": 0,
    # self + value * t1 * t2 -> mul, mul (value), add. Optimizers pass value != 1, so it is counted.
    "addcmul": 3,
    # self + value * t1 / t2 -> div, mul (value), add.
    "addcdiv": 3,
    # start + weight * (end - start) -> sub, mul, add.
    "lerp": 3,
    # 1 / (1 + exp(-x)) -> exp, add, div.
    "sigmoid": 3,
    # grad * y * (1 - y) -> sub, mul, mul.
    "sigmoid_backward": 3,
    # grad * (1 - y^2) -> mul, sub, mul.
    "tanh_backward": 3,
    # x * sigmoid(x) -> sigmoid (3) + mul.
    "silu": 4,
    # s = sigmoid(x) (3); grad * s * (1 + x * (1 - s)) -> sub, mul, add, mul, mul (5).
    "silu_backward": 8,
    # x * tanh(softplus(x)) -> exp, add, log, tanh, mul.
    "mish": 5,
    # sp = softplus(x) (3), t = tanh(sp) (1), sig = sigmoid(x) (3);
    # grad * (t + x * sig * (1 - t^2)) -> t^2, sub, mul, mul, add, mul (6).
    "mish_backward": 13,
    # where(x <= threshold, value, x) -> one comparison; the select is free.
    "threshold": 1,
    "threshold_backward": 1,
    "relu": 1,  # max(x, 0)
    # clamp(x, lo, hi) -> max, min.
    "hardtanh": 2,
    "relu6": 2,
    # grad where lo < x < hi -> two comparisons.
    "hardtanh_backward": 2,
    # x * clamp(x + 3, 0, 6) / 6 -> add, max, min, mul, div.
    "hardswish": 5,
    # two comparisons pick the piece; the middle piece grad * (2x + 3) / 6 -> mul, add, div, mul.
    "hardswish_backward": 6,
    # clamp(x + 3, 0, 6) / 6 -> add, max, min, div.
    "hardsigmoid": 4,
    # two comparisons, grad / 6.
    "hardsigmoid_backward": 3,
    # x * beta > threshold ? x : log(1 + exp(beta * x)) / beta -> mul, comparison, exp, add, log, div.
    "softplus": 6,
    # grad * sigmoid(beta * x) with the threshold test -> mul, comparison, exp, add, div, mul.
    "softplus_backward": 6,
    # x > 0 ? x : alpha * (exp(x) - 1) -> comparison, exp, sub, mul.
    "elu": 4,
    # grad * (x > 0 ? 1 : alpha * exp(x)) computed from the output -> comparison, add, mul.
    "elu_backward": 3,
    "celu": 5,  # elu with exp(x / alpha): one more div
    "selu": 5,  # elu followed by the scale mul
    # x > 0 ? x : slope * x -> comparison, mul.
    "leaky_relu": 2,
    "leaky_relu_backward": 2,
    "rrelu_with_noise": 2,
    "hardshrink": 2,  # abs, comparison
    "softshrink": 3,  # abs, comparison, sub
    # grad * mask * scale -> mul, mul.
    "native_dropout_backward": 2,
    # x * log(y), with the x == 0 test -> comparison, log, mul.
    "xlogy": 3,
    "special_xlog1py": 3,
    "special_entr": 3,
    # max(a, b) + log1p(exp(-|a - b|)) -> max, sub, exp, log1p, add.
    "logaddexp": 5,
    "logaddexp2": 5,
    # sqrt(a^2 + b^2) -> mul, mul, add, sqrt.
    "hypot": 4,
    # sin(pi x) / (pi x) -> mul, sin, div.
    "sinc": 3,
    # log(x / (1 - x)) -> sub, div, log.
    "logit": 3,
    # grad / (x * (1 - x)) -> sub, mul, div.
    "logit_backward": 3,
    # -softplus(-x) computed stably: max, sub, exp, add, log, sub (log_sigmoid_forward returns a buffer too).
    "log_sigmoid_forward": 6,
    # grad * (1 - sigmoid(x)) -> sigmoid (3), sub, mul.
    "log_sigmoid_backward": 5,
    # x > 0 ? x : w * x -> comparison, mul.
    "_prelu_kernel": 2,
    # floor(a / b) -> div, floor.
    "floor_divide": 2,
}


def _base_name(op: OpOverload) -> str:
    name = op.overloadpacket.__name__
    # `add_` is the in-place `add`; dunder ops (`__ilshift__`) keep their name.
    if name.endswith("_") and not name.endswith("__"):
        name = name[:-1]
    return name


def flops_per_element_by_name(name: str) -> int:
    """FLOPs per output element of the pointwise op called ``name`` (functional name, e.g. ``"addcmul"``)."""
    return _PER_ELEMENT.get(name, 1)


def pointwise_flops_per_element(op: OpOverload) -> int:
    """FLOPs per output element of a pointwise op: 1 unless the table above says otherwise."""
    return flops_per_element_by_name(_base_name(op))


def _per_element(call: OpCall, per: int, note: str = "") -> Cost:
    return call.traffic(OpKind.POINTWISE, flops=per * call.out_numel(), note=note)


def _is_one(x: object) -> bool:
    return x is None or (isinstance(x, (int, float)) and x == 1)


@register_formula(aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub)
def _add_sub(call: OpCall) -> Cost:
    # a + alpha * b: 1 FLOP, plus the multiply when alpha != 1 (SGD weight decay: grad + wd * param).
    alpha = call.kwargs.get("alpha", call.args[2] if len(call.args) > 2 else 1)
    return _per_element(call, 1 if _is_one(alpha) else 2)


@register_formula(aten.clamp, aten.clamp_, aten.clip, aten.clip_)
def _clamp(call: OpCall) -> Cost:
    # One comparison per bound that is given (clamp(x, min=0) is a relu).
    bounds = [call.arg(1, "min"), call.arg(2, "max")]
    return _per_element(call, sum(b is not None for b in bounds))


@register_formula(aten.gelu, aten.gelu_)
def _gelu(call: OpCall) -> Cost:
    # erf form: 0.5 * x * (1 + erf(x / sqrt(2))) -> mul, erf, add, mul, mul = 5.
    # tanh form: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
    #   -> x^2, x^3, mul c, add, mul k, tanh, add, mul x, mul 0.5 = 9.
    tanh = call.arg(1, "approximate", "none") == "tanh"
    return _per_element(call, 9 if tanh else 5, note="gelu tanh" if tanh else "gelu erf")


@register_formula(aten.gelu_backward)
def _gelu_backward(call: OpCall) -> Cost:
    # erf form: cdf = 0.5 * (1 + erf(x / sqrt 2)) (4), pdf = exp(-x^2 / 2) / sqrt(2 pi) (4),
    #   grad * (cdf + x * pdf) (3) -> 11.
    # tanh form: inner = k * (x + c x^3) (5), t = tanh(inner) (1), left = 0.5 * (1 + t) (2),
    #   right = 0.5 * x * (1 - t^2) * k * (1 + 3c x^2) (8), grad * (left + right) (2) -> 18.
    tanh = call.arg(2, "approximate", "none") == "tanh"
    return _per_element(call, 18 if tanh else 11, note="gelu tanh" if tanh else "gelu erf")


def _register_table_ops() -> None:
    # Pointwise ops that lack the `pointwise` tag (so the generic rule never sees them) but follow the table.
    names = [
        "hardtanh_backward",
        "hardswish",
        "hardswish_",
        "hardswish_backward",
        "hardsigmoid_backward",
        "softplus_backward",
        "elu_backward",
        "leaky_relu_backward",
        "mish_backward",
        "log_sigmoid_forward",
        "log_sigmoid_backward",
        "_prelu_kernel",
        "rrelu_with_noise",
        "rrelu_with_noise_",
        "floor_divide",
        "floor_divide_",
    ]
    packets = [getattr(aten, n) for n in names if hasattr(aten, n)]

    @register_formula(*packets)
    def _table(call: OpCall) -> Cost:
        return _per_element(call, pointwise_flops_per_element(call.op))


_register_table_ops()


@register_formula(aten._prelu_kernel_backward)
def _prelu_backward(call: OpCall) -> Cost:
    # grad_input = x > 0 ? grad : w * grad (comparison, mul); grad_weight = x > 0 ? 0 : x * grad (mul).
    n = call.arg(1, "self").numel()
    return call.traffic(OpKind.POINTWISE, flops=3 * n)


@register_formula(aten.glu)
def _glu(call: OpCall) -> Cost:
    # a * sigmoid(b) on the two halves -> sigmoid (3) + mul = 4 per output element.
    return _per_element(call, 4)


@register_formula(aten.glu_backward)
def _glu_backward(call: OpCall) -> Cost:
    # s = sigmoid(b) (3); grad_a = grad * s (1); grad_b = grad * a * s * (1 - s) (4): 8 per output element,
    # and the output (grad_input) has two elements per glu output element.
    return call.traffic(OpKind.POINTWISE, flops=4 * call.out_numel())
