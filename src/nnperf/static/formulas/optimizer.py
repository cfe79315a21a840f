"""Optimizer kernels: ``_foreach_*`` list ops and the fused ``_fused_adam_``/``_fused_adamw_``/``_fused_sgd_``
/``_fused_adagrad_`` updates.

A ``_foreach_<op>`` applies ``<op>`` to every tensor of a list: it costs, per element, what the scalar
``<op>`` costs (:mod:`nnperf.static.formulas.pointwise`), summed over the list. In-place variants return
nothing; they write the ``self`` list.

Fused optimizers count the math of their reference (``foreach=False``) update, per parameter element, so a
fused step costs the same FLOPs as the unfused step does op by op:

* SGD: weight decay ``g + wd * p`` (2 if wd != 0); momentum ``buf = mu * buf + (1 - dampening) * g`` (2,
  +1 if dampening != 0; the first step copies g: 0); Nesterov ``g + mu * buf`` (2); update ``p - lr * g``
  (2); ``maximize`` negates g (1); a grad scaler divides g (1).
* Adam: ``m = lerp(m, g, 1 - beta1)`` (3); ``v = beta2 * v + (1 - beta2) * g * g`` (mul, addcmul: 4);
  ``denom = sqrt(v) / sqrt(bc2) + eps`` (3); ``p = p - step_size * m / denom`` (addcdiv: 3): 13.
  Weight decay: Adam adds ``wd * p`` to g (2), AdamW scales ``p *= 1 - lr * wd`` (1); amsgrad: max (1).
* Adagrad: ``sum += g * g`` (2); ``std = sqrt(sum) + eps`` (2); ``p -= clr * g / std`` (3): 7, + wd (2).

Per-tensor scalar work (bias corrections, step counters) is not per element and is left out; the step
counters are incremented by a separate ``_foreach_add_`` that is counted on its own.
"""

from __future__ import annotations

import torch

from nnperf.static.formulas.pointwise import flops_per_element_by_name
from nnperf.static.registry import Cost, OpCall, OpKind, register_formula, tensor_bytes

aten = torch.ops.aten


def _tensors(x: object) -> list[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for t in x if isinstance(t, torch.Tensor)]
    return []


def _foreach_op_name(call: OpCall) -> tuple[str, bool]:
    # "_foreach_addcmul_" -> ("addcmul", in_place=True)
    name = call.op.overloadpacket.__name__.removeprefix("_foreach_")
    in_place = name.endswith("_")
    return name.rstrip("_"), in_place


def _written_bytes(call: OpCall, in_place: bool) -> int:
    if in_place:
        return sum(tensor_bytes(t) for t in _tensors(call.args[0]))
    return call.bytes_written()


def _elements(call: OpCall, in_place: bool) -> int:
    if in_place:
        return sum(t.numel() for t in _tensors(call.args[0]))
    return call.out_numel()


_SCALED = {"add", "sub"}  # take an `alpha`: one more multiply when it is not 1


def _foreach_pointwise(call: OpCall) -> Cost:
    name, in_place = _foreach_op_name(call)
    per = flops_per_element_by_name(name)
    if name in _SCALED and call.kwargs.get("alpha", 1) != 1:
        per += 1
    flops = per * _elements(call, in_place)
    kind = OpKind.MEMORY if per == 0 else OpKind.POINTWISE
    return Cost(kind, flops, 0, call.bytes_read(), _written_bytes(call, in_place))


def _register_foreach() -> None:
    names = sorted(
        {
            n.split("::")[1].split(".")[0]
            for n in torch._C._dispatch_get_all_op_names()
            if n.startswith("aten::_foreach_")
        }
    )
    special = {
        "_foreach_norm",
        "_foreach_max",
        "_foreach_mm",
        "_foreach_powsum",
        "_foreach_copy_",
        "_foreach_copy",
    }
    packets = [getattr(aten, n) for n in names if n not in special]
    register_formula(*packets)(_foreach_pointwise)


_register_foreach()


@register_formula(aten._foreach_copy_, aten._foreach_copy)
def _foreach_copy(call: OpCall) -> Cost:
    # copy_(self[i], src[i]): read src, write self (or the new outputs).
    in_place = call.op.overloadpacket.__name__.endswith("_")
    src = _tensors(call.args[1])
    return Cost(OpKind.MEMORY, 0, 0, sum(tensor_bytes(t) for t in src), _written_bytes(call, in_place))


def _norm_flops(n: int, ord_: object) -> int:
    # As linalg_vector_norm per tensor: p=2 square + sum (2n) + sqrt; p=1/inf abs + sum/max (2n);
    # general p abs, pow, sum (3n) + root.
    if ord_ == 2:
        return 2 * n + 1
    if ord_ in (1, float("inf"), float("-inf")):
        return 2 * n
    return 3 * n + 1


@register_formula(aten._foreach_norm)
def _foreach_norm(call: OpCall) -> Cost:
    ord_ = call.arg(1, "ord", 2)
    flops = sum(_norm_flops(t.numel(), ord_) for t in _tensors(call.args[0]))
    return call.traffic(OpKind.REDUCTION, flops=flops, note=f"ord={ord_}")


@register_formula(aten._foreach_powsum)
def _foreach_powsum(call: OpCall) -> Cost:
    # sum(|x|^p) per tensor: abs, pow, add (3 per element); p=2 is square + add (2).
    ord_ = call.arg(1, "ord", call.arg(1, "exponent", 2))
    per = 2 if ord_ == 2 else 3
    flops = sum(per * t.numel() for t in _tensors(call.args[0]))
    return call.traffic(OpKind.REDUCTION, flops=flops)


@register_formula(aten._foreach_max)
def _foreach_max(call: OpCall) -> Cost:
    flops = sum(t.numel() for t in _tensors(call.args[0]))
    return call.traffic(OpKind.REDUCTION, flops=flops)


@register_formula(aten._foreach_mm)
def _foreach_mm(call: OpCall) -> Cost:
    # A list of (M, K) @ (K, N) products.
    macs = sum(
        a.shape[0] * a.shape[1] * b.shape[1]
        for a, b in zip(_tensors(call.args[0]), _tensors(call.args[1]), strict=False)
    )
    return call.traffic(OpKind.MATMUL, flops=2 * macs, macs=macs)


# ---- fused optimizers ---------------------------------------------------------------------------------


def _common_extra(call: OpCall) -> int:
    # maximize negates g; a grad scaler divides g by the scale: 1 FLOP per element each.
    extra = int(bool(call.kwargs.get("maximize", False)))
    extra += int(call.kwargs.get("grad_scale") is not None)
    return extra


def _fused_adam(call: OpCall, adamw: bool) -> Cost:
    params = _tensors(call.args[0])
    n = sum(p.numel() for p in params)
    amsgrad = bool(call.kwargs.get("amsgrad", False))
    wd = call.kwargs.get("weight_decay", 0)
    per = 13 + _common_extra(call) + int(amsgrad)
    if wd:
        per += 1 if adamw else 2
    # Written: params, exp_avgs, exp_avg_sqs (and max_exp_avg_sqs with amsgrad).
    read = call.bytes_read()
    lists = [call.args[0], call.args[2], call.args[3]] + ([call.args[4]] if amsgrad else [])
    written = sum(tensor_bytes(t) for lst in lists for t in _tensors(lst))
    return Cost(OpKind.OPTIMIZER, per * n, 0, read, written, note="adamw" if adamw else "adam")


@register_formula(aten._fused_adam_)
def _fused_adam_(call: OpCall) -> Cost:
    return _fused_adam(call, adamw=False)


@register_formula(aten._fused_adamw_)
def _fused_adamw_(call: OpCall) -> Cost:
    return _fused_adam(call, adamw=True)


@register_formula(aten._fused_sgd_)
def _fused_sgd_(call: OpCall) -> Cost:
    # (params, grads, momentum_buffers, *, weight_decay, momentum, lr, dampening, nesterov, maximize,
    #  is_first_step, grad_scale, found_inf)
    params = _tensors(call.args[0])
    n = sum(p.numel() for p in params)
    kw = call.kwargs
    per = 2 + _common_extra(call)  # p - lr * g
    if kw.get("weight_decay", 0):
        per += 2
    momentum = kw.get("momentum", 0)
    if momentum:
        if not kw.get("is_first_step", False):
            per += 2 + int(bool(kw.get("dampening", 0)))
        if kw.get("nesterov", False):
            per += 2
    read = call.bytes_read()
    lists = [call.args[0]] + ([call.args[2]] if momentum else [])
    written = sum(tensor_bytes(t) for lst in lists for t in _tensors(lst))
    return Cost(OpKind.OPTIMIZER, per * n, 0, read, written, note="sgd")


@register_formula(aten._fused_adagrad_)
def _fused_adagrad_(call: OpCall) -> Cost:
    # (params, grads, state_sums, state_steps, *, lr, lr_decay, weight_decay, eps, maximize, ...)
    params = _tensors(call.args[0])
    n = sum(p.numel() for p in params)
    per = 7 + _common_extra(call) + (2 if call.kwargs.get("weight_decay", 0) else 0)
    read = call.bytes_read()
    written = sum(tensor_bytes(t) for lst in (call.args[0], call.args[2]) for t in _tensors(lst))
    return Cost(OpKind.OPTIMIZER, per * n, 0, read, written, note="adagrad")
