"""Matrix products: mm, addmm, bmm, baddbmm, mv, addmv, dot, and their fused-epilogue variants.

An (M, K) @ (K, N) product does M*N*K multiply-adds: MACs = M*N*K, FLOPs = 2*M*N*K. Epilogues (the bias
add of ``addmm``, the ``beta``/``alpha`` scalings when they are not 1, the activation of
``_addmm_activation``) are FLOPs on the M*N outputs and never MACs.

``matmul``, ``linear`` and ``einsum`` are composite: they reach the dispatcher as ``mm``/``addmm``/``bmm`` on
views (``_unsafe_view`` and ``expand`` are views), so they need no formula here; ``linear`` gets one anyway
for backends that dispatch it whole.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from nnperf.static.formulas.pointwise import flops_per_element_by_name
from nnperf.static.registry import Cost, OpCall, OpKind, prod, register_formula

aten = torch.ops.aten


def _scale_flops(scalar: object, n_out: int) -> int:
    # A scaling by a number other than 1 is one multiply per output element.
    return 0 if scalar is None or scalar == 1 else n_out


def _epilogue_flops(call: OpCall, n_out: int, beta_index: int, alpha_index: int) -> int:
    # out = beta * bias + alpha * (A @ B): the bias add (1 per output) unless beta == 0 drops the bias,
    # plus a multiply for each scalar that is not 1.
    beta = call.arg(beta_index, "beta", 1)
    alpha = call.arg(alpha_index, "alpha", 1)
    if beta == 0:
        return _scale_flops(alpha, n_out)
    return n_out + _scale_flops(beta, n_out) + _scale_flops(alpha, n_out)


@register_formula(aten.mm, aten._int_mm)
def _mm(call: OpCall) -> Cost:
    # (M, K) @ (K, N): M*N*K MACs.
    a, b = call.args[0], call.args[1]
    macs = a.shape[0] * a.shape[1] * b.shape[1]
    return call.traffic(OpKind.MATMUL, flops=2 * macs, macs=macs)


@register_formula(aten._scaled_mm)
def _scaled_mm(call: OpCall) -> Cost:
    # Low-precision (fp8) mm: M*N*K MACs; the per-tensor/row scales are applied to the M*N outputs (1 FLOP
    # each), and a bias adds 1 more.
    a, b = call.args[0], call.args[1]
    m, n = a.shape[0], b.shape[1]
    macs = m * a.shape[1] * n
    bias = call.arg(4, "bias")
    epilogue = m * n * (1 + (bias is not None))
    return call.traffic(OpKind.MATMUL, flops=2 * macs + epilogue, macs=macs)


@register_formula(aten.addmm, aten.addmm_)
def _addmm(call: OpCall) -> Cost:
    # beta * bias + alpha * (M, K) @ (K, N): M*N*K MACs + 1 FLOP per output for the bias add.
    a, b = call.args[1], call.args[2]
    m, n = a.shape[0], b.shape[1]
    macs = m * a.shape[1] * n
    return call.traffic(OpKind.MATMUL, flops=2 * macs + _epilogue_flops(call, m * n, 3, 4), macs=macs)


@register_formula(aten._addmm_activation)
def _addmm_activation(call: OpCall) -> Cost:
    # addmm followed by relu (1 FLOP per output) or gelu (erf form or tanh form per pointwise.py; the
    # fused kernel uses the tanh approximation).
    a, b = call.args[1], call.args[2]
    m, n = a.shape[0], b.shape[1]
    macs = m * a.shape[1] * n
    use_gelu = bool(call.kwargs.get("use_gelu", False))
    act = 9 if use_gelu else flops_per_element_by_name("relu")
    flops = 2 * macs + _epilogue_flops(call, m * n, 3, 4) + act * m * n
    return call.traffic(OpKind.MATMUL, flops=flops, macs=macs, note="gelu epilogue" if use_gelu else "")


@register_formula(aten.bmm)
def _bmm(call: OpCall) -> Cost:
    # (B, M, K) @ (B, K, N): B*M*N*K MACs.
    a, b = call.args[0], call.args[1]
    macs = a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
    return call.traffic(OpKind.MATMUL, flops=2 * macs, macs=macs)


@register_formula(aten._grouped_mm)
def _grouped_mm(call: OpCall) -> Cost:
    # One matmul per group (mixture-of-experts: one per expert), groups given by the offsets ``offs``:
    #   (S, K) @ (E, K, N) -> (S, N)     rows split among E groups: S*K*N MACs (forward of the experts)
    #   (M, S) @ (S, N)    -> (E, M, N)  the shared dim split:       M*S*N MACs (their weight gradients)
    #   (E, M, K) @ (E, K, N) -> (E, M, N)  a batched matmul:        E*M*K*N MACs
    #   (E, M, K) @ (K, S) -> (M, S)     columns split:              M*K*S MACs
    # The total does not depend on how the rows are split, so it is exact without knowing the routing,
    # as long as the groups cover the split dimension (offs[-1] equals it, as without expert parallelism).
    #
    # Bytes: with rows split among groups, each row uses one group's weights, so S rows read at most min(E, S)
    # of the E groups' weights: a decode step of Mixtral (2 rows per token) reads 2 of its 8 experts, not 8.
    # The minimum traffic counts that many; the other operands are read whole.
    a, b = call.args[0], call.args[1]
    split_columns = a.dim() == 3 and b.dim() == 2
    macs = (a.numel() // (a.shape[0] if split_columns else 1)) * b.shape[-1]
    bias = call.arg(3, "bias")
    n_out = call.out_numel()
    flops = 2 * macs + (n_out if bias is not None else 0)
    cost = call.traffic(OpKind.MATMUL, flops=flops, macs=macs)
    rows, groups = a.shape[0], b.shape[0]
    if a.dim() == 2 and b.dim() == 3 and rows < groups:
        weights = b.numel() * b.element_size()
        unread = weights - weights * rows // groups
        note = f"{rows} rows read at most {rows} of the {groups} groups' weights"
        return replace(cost, bytes_read=cost.bytes_read - unread, note=note)
    return cost


@register_formula(aten.baddbmm, aten.baddbmm_)
def _baddbmm(call: OpCall) -> Cost:
    # beta * self + alpha * (B, M, K) @ (B, K, N): B*M*N*K MACs + 1 FLOP per output for the add.
    a, b = call.args[1], call.args[2]
    n_out = a.shape[0] * a.shape[1] * b.shape[2]
    macs = n_out * a.shape[2]
    return call.traffic(OpKind.MATMUL, flops=2 * macs + _epilogue_flops(call, n_out, 3, 4), macs=macs)


@register_formula(aten.mv)
def _mv(call: OpCall) -> Cost:
    # (M, K) @ (K,): M*K MACs.
    macs = call.args[0].shape[0] * call.args[0].shape[1]
    return call.traffic(OpKind.MATMUL, flops=2 * macs, macs=macs)


@register_formula(aten.addmv, aten.addmv_)
def _addmv(call: OpCall) -> Cost:
    # beta * self + alpha * (M, K) @ (K,): M*K MACs + M adds.
    m, k = call.args[1].shape
    macs = m * k
    return call.traffic(OpKind.MATMUL, flops=2 * macs + _epilogue_flops(call, m, 3, 4), macs=macs)


@register_formula(aten.dot, aten.vdot)
def _dot(call: OpCall) -> Cost:
    # (K,) . (K,): K MACs (vdot's conjugation is free for real dtypes).
    macs = call.args[0].numel()
    return call.traffic(OpKind.MATMUL, flops=2 * macs, macs=macs)


@register_formula(aten.linear)
def _linear(call: OpCall) -> Cost:
    # x (..., K) @ W^T (K, N) [+ b]: rows*N*K MACs + rows*N bias adds, rows = prod of x's leading dims.
    x, w = call.args[0], call.args[1]
    bias = call.arg(2, "bias")
    rows = prod(x.shape[:-1])
    n_out = rows * (w.shape[0] if w.dim() == 2 else 1)
    macs = n_out * x.shape[-1]
    return call.traffic(OpKind.MATMUL, flops=2 * macs + (n_out if bias is not None else 0), macs=macs)
