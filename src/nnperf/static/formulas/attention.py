"""Fused attention kernels, costed by decomposition into their reference math.

``F.scaled_dot_product_attention`` reaches the dispatcher differently on each backend: on meta tensors it
takes the math path (``mul``, ``bmm``, ``_safe_softmax``, ``bmm`` ...; each op costed by its own formula)
when autograd decomposes it (training), and arrives whole under inference mode (costed as a fused op),
on real CPU tensors it becomes one ``_scaled_dot_product_flash_attention_for_cpu``, on CUDA a flash,
memory-efficient or cuDNN kernel. The same model must cost the same FLOPs on all of them, so a fused
attention op is costed as *its reference math decomposition*: the formulas of this registry summed over
the ops that ``aten._scaled_dot_product_attention_math`` dispatches when run on meta tensors of the same
shapes, dtypes and flags. A backward kernel is costed as the backward ops that autograd runs for that math
forward (only those: the forward is not counted again).

That count is the *math* count:

* causal masking is dense: the full Tq x Tk score matrix is computed and then masked, as the math path
  does; a kernel that skips fully masked tiles does about half the score and AV work;
* flash-style backward kernels also recompute the forward scores (one more Tq x Tk x D block of MACs);
  the count is the math backward's, which does not recompute.

The bytes of a fused op are its own minimum traffic (q, k, v, mask, outputs; for a backward also
grad_out, out and logsumexp), not the decomposition's: the fused kernel never writes the score matrix.

The decomposition runs in a short-lived worker thread: dispatch modes, torch-function modes and the
dispatch-key exclusions that surround a ``__torch_dispatch__`` call are all thread-local, so the worker
starts clean (autograd on, no modes) whatever the caller has active. Results are cached by op, shapes,
dtypes and flags.

``_native_multi_head_attention`` (the ``nn.MultiheadAttention`` inference fast path on CPU/CUDA) is costed
as ``F.multi_head_attention_forward`` on meta, and ``_transformer_encoder_layer_fwd`` (the
``nn.TransformerEncoderLayer`` fast path) as the layer's own forward on meta: exactly what runs on meta
tensors, where the fast paths are never taken.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from nnperf.static.registry import Cost, OpCall, OpKind, formula_for, register_formula

__all__ = ["DecomposedCost", "math_attention_cost"]

aten = torch.ops.aten

_CAUSAL_NOTE = "causal: dense count; a kernel that skips masked tiles does about half the score and AV work"

# A tensor as the decomposition needs it: shape and dtype.
_Spec = tuple[tuple[int, ...], torch.dtype]


@dataclass(frozen=True, slots=True)
class DecomposedCost:
    """FLOPs and MACs of a decomposition, and the ops in it that have no formula."""

    flops: int
    macs: int
    uncounted: tuple[str, ...] = ()


class _Counter(TorchDispatchMode):
    # Sums the registry's formulas over the ops dispatched inside it.
    def __init__(self) -> None:
        super().__init__()
        self.flops = 0
        self.macs = 0
        self.uncounted: set[str] = set()
        self.active = True

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.active:
            formula = formula_for(func)
            if formula is None:
                self.uncounted.add(str(func))
            else:
                cost = formula(OpCall(func, args, kwargs, out))
                self.flops += cost.flops
                self.macs += cost.macs
        return out


def _in_clean_thread(fn: Callable[[], DecomposedCost]) -> DecomposedCost:
    # Dispatch modes, the "below autograd" key exclusions of a __torch_dispatch__ call and grad mode are
    # thread-local: a fresh thread runs the decomposition as plain eager code on meta tensors.
    result: list[DecomposedCost] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # re-raised in the caller
            error.append(e)

    thread = threading.Thread(target=target, name="nnperf-attention-decomposition")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _meta(spec: _Spec | None, requires_grad: bool = False) -> torch.Tensor | None:
    if spec is None:
        return None
    shape, dtype = spec
    return torch.empty(shape, dtype=dtype, device="meta", requires_grad=requires_grad)


def _count(
    run: Callable[[], Any], backward_of: Callable[[], tuple[Any, list[torch.Tensor]]] | None
) -> DecomposedCost:
    counter = _Counter()
    if backward_of is None:
        with counter:
            run()
    else:
        out, inputs = backward_of()
        with counter:
            torch.autograd.grad(out, inputs, torch.empty_like(out))
    return DecomposedCost(counter.flops, counter.macs, tuple(sorted(counter.uncounted)))


@functools.lru_cache(maxsize=1024)
def math_attention_cost(
    q: _Spec,
    k: _Spec,
    v: _Spec,
    mask: _Spec | None,
    dropout_p: float,
    is_causal: bool,
    scale: float | None,
    grads: tuple[bool, bool, bool, bool] | None = None,
) -> DecomposedCost:
    """FLOPs/MACs of ``_scaled_dot_product_attention_math`` on meta tensors (B..., H, L, E layout).

    ``grads`` is None for the forward; for a backward, which of (q, k, v, mask) get gradients: the cost is
    then the autograd backward of the math forward, without the forward.
    """
    enable_gqa = len(q[0]) >= 3 and len(k[0]) >= 3 and q[0][-3] != k[0][-3]

    def forward(need: tuple[bool, bool, bool, bool]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        tq, tk, tv = _meta(q, need[0]), _meta(k, need[1]), _meta(v, need[2])
        # Only a floating-point mask (an additive bias) can have a gradient.
        tm = _meta(mask, need[3] and mask is not None and mask[1].is_floating_point)
        out, _ = aten._scaled_dot_product_attention_math(
            tq, tk, tv, tm, dropout_p, is_causal, None, scale=scale, enable_gqa=enable_gqa
        )
        inputs = [t for t in (tq, tk, tv, tm) if t is not None and t.requires_grad]
        return out, inputs

    if grads is None:
        no_grads = (False, False, False, False)
        return _in_clean_thread(lambda: _count(lambda: forward(no_grads), None))
    return _in_clean_thread(lambda: _count(lambda: None, lambda: forward(grads)))


# ---- per-op argument normalisation ----------------------------------------------------------------------


def _spec(t: torch.Tensor, layout_bthe: bool = False) -> _Spec:
    shape = tuple(int(s) for s in t.shape)
    if layout_bthe and len(shape) == 4:
        # (B, T, H, E) -> (B, H, T, E)
        shape = (shape[0], shape[2], shape[1], shape[3])
    return shape, t.dtype


def _mask_spec(mask: Any, q: _Spec, k: _Spec) -> tuple[_Spec | None, str]:
    # A mask/bias that does not broadcast to (B, H, Tq, Tk) (a kernel's padded bias) is dropped, with a note;
    # its add is 1 FLOP per score element, small next to the two matmuls.
    if not isinstance(mask, torch.Tensor):
        return None, ""
    spec = _spec(mask)
    scores = (*q[0][:-1], k[0][-2])
    try:
        torch.broadcast_shapes(spec[0], scores)
    except RuntimeError:
        return None, "attention bias of unexpected shape: its add is not counted"
    return spec, ""


def _fused(
    call: OpCall,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: Any,
    dropout_p: float,
    is_causal: bool,
    grads: tuple[bool, bool, bool, bool] | None,
    layout_bthe: bool = False,
    varlen: tuple[int, int, int] | None = None,
) -> Cost:
    notes = []
    if varlen is not None:
        # Packed variable-length batch (total_tokens, H, E): the per-sequence lengths are data, unknown
        # from shapes; count `batch` sequences all at the maximum lengths: an upper bound.
        batch, max_q, max_k = varlen
        qs = ((batch, int(q.shape[1]), max_q, int(q.shape[2])), q.dtype)
        ks = ((batch, int(k.shape[1]), max_k, int(k.shape[2])), k.dtype)
        vs = ((batch, int(v.shape[1]), max_k, int(v.shape[2])), v.dtype)
        notes.append("variable-length batch: upper bound (all sequences at max length)")
    else:
        qs, ks, vs = _spec(q, layout_bthe), _spec(k, layout_bthe), _spec(v, layout_bthe)
    ms, mask_note = _mask_spec(mask, qs, ks)
    if mask_note:
        notes.append(mask_note)
    scale = call.kwargs.get("scale")
    if grads is not None and ms is None:
        grads = (grads[0], grads[1], grads[2], False)
    cost = math_attention_cost(qs, ks, vs, ms, float(dropout_p), bool(is_causal), scale, grads)
    if cost.uncounted:
        notes.append("decomposition has uncounted ops: " + ", ".join(cost.uncounted))
    if is_causal:
        notes.append(_CAUSAL_NOTE)
    if grads is not None:
        notes.append("math backward (no forward recomputation)")
    return call.traffic(OpKind.ATTENTION, flops=cost.flops, macs=cost.macs, note="; ".join(notes))


_ALL_GRADS = (True, True, True, False)


def _mask4(mask: Any) -> tuple[bool, bool, bool, bool]:
    m = tuple(bool(x) for x in mask)
    return (m[0], m[1], m[2], m[3] if len(m) > 3 else False)


@register_formula(aten._scaled_dot_product_flash_attention_for_cpu)
def _flash_cpu(call: OpCall) -> Cost:
    # (query, key, value, dropout_p, is_causal, *, attn_mask, scale)
    a = call.args
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.kwargs.get("attn_mask"),
        call.arg(3, "dropout_p", 0.0),
        call.arg(4, "is_causal", False),
        None,
    )


@register_formula(aten._scaled_dot_product_flash_attention_for_cpu_backward)
def _flash_cpu_backward(call: OpCall) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, dropout_p, is_causal, *, attn_mask, scale)
    a = call.args
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        call.kwargs.get("attn_mask"),
        call.arg(6, "dropout_p", 0.0),
        call.arg(7, "is_causal", False),
        _ALL_GRADS,
    )


@register_formula(aten._scaled_dot_product_flash_attention)
def _flash(call: OpCall) -> Cost:
    # (query, key, value, dropout_p, is_causal, return_debug_mask, *, scale); the .quantized overload has
    # three descale tensors before dropout_p.
    a = call.args
    base = 6 if call.op._overloadname == "quantized" else 3
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        None,
        call.arg(base, "dropout_p", 0.0),
        call.arg(base + 1, "is_causal", False),
        None,
    )


@register_formula(aten._scaled_dot_product_flash_attention_backward)
def _flash_backward(call: OpCall) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal,
    #  philox_seed, philox_offset, *, scale)
    a = call.args
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        None,
        call.arg(10, "dropout_p", 0.0),
        call.arg(11, "is_causal", False),
        _ALL_GRADS,
    )


@register_formula(aten._scaled_dot_product_efficient_attention)
def _efficient(call: OpCall) -> Cost:
    # (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, *, scale)
    a = call.args
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.arg(3, "attn_bias"),
        call.arg(5, "dropout_p", 0.0),
        call.arg(6, "is_causal", False),
        None,
    )


@register_formula(aten._scaled_dot_product_efficient_attention_backward)
def _efficient_backward(call: OpCall) -> Cost:
    # (grad_out_, query, key, value, attn_bias, out, logsumexp, philox_seed, philox_offset, dropout_p,
    #  grad_input_mask, is_causal, *, scale)
    a = call.args
    mask = _mask4(call.arg(10, "grad_input_mask", (True, True, True, False)))
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        call.arg(4, "attn_bias"),
        call.arg(9, "dropout_p", 0.0),
        call.arg(11, "is_causal", False),
        mask,
    )


@register_formula(aten._scaled_dot_product_cudnn_attention)
def _cudnn(call: OpCall) -> Cost:
    # (query, key, value, attn_bias, compute_log_sumexp, dropout_p, is_causal, return_debug_mask, *, scale)
    a = call.args
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.arg(3, "attn_bias"),
        call.arg(5, "dropout_p", 0.0),
        call.arg(6, "is_causal", False),
        None,
    )


@register_formula(aten._scaled_dot_product_cudnn_attention_backward)
def _cudnn_backward(call: OpCall) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, philox_seed, philox_offset, attn_bias, cum_seq_q,
    #  cum_seq_k, max_q, max_k, dropout_p, is_causal, *, scale)
    a = call.args
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        call.arg(8, "attn_bias"),
        call.arg(13, "dropout_p", 0.0),
        call.arg(14, "is_causal", False),
        (True, True, True, True),
    )


@register_formula(aten._scaled_dot_product_fused_attention_overrideable)
def _overrideable(call: OpCall) -> Cost:
    # (query, key, value, attn_bias, dropout_p, is_causal, return_debug_mask, *, scale)
    a = call.args
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.arg(3, "attn_bias"),
        call.arg(4, "dropout_p", 0.0),
        call.arg(5, "is_causal", False),
        None,
    )


@register_formula(aten._scaled_dot_product_fused_attention_overrideable_backward)
def _overrideable_backward(call: OpCall) -> Cost:
    # (grad_out, query, key, value, attn_bias, grad_input_mask, out, logsumexp, cum_seq_q, cum_seq_k, max_q,
    #  max_k, dropout_p, is_causal, philox_seed, philox_offset, *, scale)
    a = call.args
    mask = _mask4(call.arg(5, "grad_input_mask", (True, True, True, False)))
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        call.arg(4, "attn_bias"),
        call.arg(12, "dropout_p", 0.0),
        call.arg(13, "is_causal", False),
        mask,
    )


@register_formula(aten.scaled_dot_product_attention, aten._scaled_dot_product_attention_math_for_mps)
def _sdpa(call: OpCall) -> Cost:
    # (query, key, value, attn_mask, dropout_p, is_causal, [dropout_mask,] *, scale, enable_gqa). The
    # composite reaches the counter whole only where autograd does not decompose it (inference mode): costed
    # as the fused kernel that CPU and CUDA run for it (math FLOPs, the kernel's own bytes), so an inference
    # analysis on meta tensors moves the bytes a real run's kernel moves, not the math path's score matrices.
    a = call.args
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.arg(3, "attn_mask"),
        call.arg(4, "dropout_p", 0.0),
        call.arg(5, "is_causal", False),
        None,
    )


def _varlen(cum_seq: Any, max_q: Any, max_k: Any) -> tuple[int, int, int] | None:
    if not isinstance(cum_seq, torch.Tensor):
        return None
    return max(cum_seq.numel() - 1, 1), int(max_q), int(max_k)


@register_formula(aten._flash_attention_forward)
def _flash_forward(call: OpCall) -> Cost:
    # (query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, return_debug_mask, ...,
    #  *, scale, window_size_left, window_size_right, ...). Layout (B, T, H, E), or (total, H, E) packed.
    a = call.args
    varlen = _varlen(call.arg(3, "cum_seq_q"), call.arg(5, "max_q"), call.arg(6, "max_k"))
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        None,
        call.arg(7, "dropout_p", 0.0),
        call.arg(8, "is_causal", False),
        None,
        layout_bthe=True,
        varlen=varlen,
    )


@register_formula(aten._flash_attention_backward)
def _flash_attention_backward(call: OpCall) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p,
    #  is_causal, rng_state, unused, *, scale, ...)
    a = call.args
    varlen = _varlen(call.arg(6, "cum_seq_q"), call.arg(8, "max_q"), call.arg(9, "max_k"))
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        None,
        call.arg(10, "dropout_p", 0.0),
        call.arg(11, "is_causal", False),
        _ALL_GRADS,
        layout_bthe=True,
        varlen=varlen,
    )


@register_formula(aten._efficient_attention_forward)
def _efficient_forward(call: OpCall) -> Cost:
    # (query, key, value, bias, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, dropout_p,
    #  custom_mask_type, compute_log_sumexp, *, scale, ...). Layout (B, T, H, E); mask type 1/2 = causal.
    a = call.args
    varlen = _varlen(call.arg(4, "cu_seqlens_q"), call.arg(6, "max_seqlen_q"), call.arg(7, "max_seqlen_k"))
    causal = int(call.arg(9, "custom_mask_type", 0)) != 0
    return _fused(
        call,
        a[0],
        a[1],
        a[2],
        call.arg(3, "bias"),
        call.arg(8, "dropout_p", 0.0),
        causal,
        None,
        layout_bthe=True,
        varlen=varlen,
    )


@register_formula(aten._efficient_attention_backward)
def _efficient_attention_backward(call: OpCall) -> Cost:
    # (grad_out_, query, key, value, bias, out, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
    #  logsumexp, dropout_p, philox_seed, philox_offset, custom_mask_type, bias_requires_grad, *, scale, ...)
    a = call.args
    varlen = _varlen(call.arg(6, "cu_seqlens_q"), call.arg(8, "max_seqlen_q"), call.arg(9, "max_seqlen_k"))
    causal = int(call.arg(14, "custom_mask_type", 0)) != 0
    grads = (True, True, True, bool(call.arg(15, "bias_requires_grad", False)))
    return _fused(
        call,
        a[1],
        a[2],
        a[3],
        call.arg(4, "bias"),
        call.arg(11, "dropout_p", 0.0),
        causal,
        grads,
        layout_bthe=True,
        varlen=varlen,
    )


# ---- nn.MultiheadAttention / nn.TransformerEncoderLayer fast paths ------------------------------------


def _spec_or_none(t: Any) -> _Spec | None:
    return _spec(t) if isinstance(t, torch.Tensor) else None


@functools.lru_cache(maxsize=256)
def _native_mha_cost(
    q: _Spec,
    k: _Spec,
    v: _Spec,
    same: tuple[bool, bool],
    embed_dim: int,
    num_heads: int,
    qkv_w: _Spec,
    qkv_b: _Spec | None,
    proj_w: _Spec,
    proj_b: _Spec | None,
    mask: _Spec | None,
    need_weights: bool,
    average_attn_weights: bool,
    mask_type: int | None,
) -> DecomposedCost:
    def run() -> None:
        import torch.nn.functional as F

        tq = _meta(q)
        tk = tq if same[0] else _meta(k)
        tv = tk if same[1] else _meta(v)
        tm = _meta(mask)
        attn_mask = key_padding_mask = None
        if tm is not None:
            if mask_type == 1:
                key_padding_mask = tm
            elif tm.dim() == 4:
                # Merged (B, H, Tq, Tk) mask: F.multi_head_attention_forward takes it as (B * H, Tq, Tk).
                attn_mask = tm.reshape(-1, *tm.shape[2:])
            else:
                attn_mask = tm
        # The native op is batch-first (B, T, E); the functional form is (T, B, E): transposes are views.
        tq_, tk_, tv_ = (t.transpose(0, 1) for t in (tq, tk, tv))
        if same[0] and same[1]:
            tk_ = tv_ = tq_
        elif same[1]:
            tv_ = tk_
        F.multi_head_attention_forward(
            tq_,
            tk_,
            tv_,
            embed_dim,
            num_heads,
            _meta(qkv_w),
            _meta(qkv_b),
            None,
            None,
            False,
            0.0,
            _meta(proj_w),
            _meta(proj_b),
            training=False,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            average_attn_weights=average_attn_weights,
        )

    def counted() -> DecomposedCost:
        with torch.no_grad():
            return _count(run, None)

    return _in_clean_thread(counted)


@register_formula(aten._native_multi_head_attention)
def _native_mha(call: OpCall) -> Cost:
    # (query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias, mask,
    #  need_weights, average_attn_weights, mask_type)
    a = call.args
    q, k, v = a[0], a[1], a[2]
    if q.is_nested:
        raise NotImplementedError("nnperf cannot cost _native_multi_head_attention on nested tensors")
    cost = _native_mha_cost(
        _spec(q),
        _spec(k),
        _spec(v),
        (k is q, v is k),
        int(a[3]),
        int(a[4]),
        _spec(a[5]),
        _spec_or_none(a[6]),
        _spec(a[7]),
        _spec_or_none(a[8]),
        _spec_or_none(call.arg(9, "mask")),
        bool(call.arg(10, "need_weights", True)),
        bool(call.arg(11, "average_attn_weights", True)),
        call.arg(12, "mask_type"),
    )
    note = "as F.multi_head_attention_forward"
    if cost.uncounted:
        note += "; decomposition has uncounted ops: " + ", ".join(cost.uncounted)
    return call.traffic(OpKind.ATTENTION, flops=cost.flops, macs=cost.macs, note=note)


@functools.lru_cache(maxsize=256)
def _encoder_layer_cost(
    src: _Spec,
    embed_dim: int,
    num_heads: int,
    ffn_dim: int,
    use_gelu: bool,
    norm_first: bool,
    eps: float,
    mask: _Spec | None,
    mask_type: int | None,
) -> DecomposedCost:
    def counted() -> DecomposedCost:
        from torch import nn

        layer = nn.TransformerEncoderLayer(
            embed_dim,
            num_heads,
            ffn_dim,
            dropout=0.0,
            activation="gelu" if use_gelu else "relu",
            layer_norm_eps=eps,
            batch_first=True,
            norm_first=norm_first,
            device="meta",
            dtype=src[1],
        ).eval()
        x, tm = _meta(src), _meta(mask)
        kwargs: dict[str, Any] = {}
        if tm is not None:
            kwargs["src_key_padding_mask" if mask_type == 1 else "src_mask"] = tm
        with torch.no_grad():
            return _count(lambda: layer(x, **kwargs), None)

    return _in_clean_thread(counted)


@register_formula(aten._transformer_encoder_layer_fwd)
def _encoder_layer(call: OpCall) -> Cost:
    # (src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu, norm_first, eps,
    #  norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1, ffn_bias_1, ffn_weight_2,
    #  ffn_bias_2, mask, mask_type)
    a = call.args
    src = a[0]
    if src.is_nested:
        raise NotImplementedError("nnperf cannot cost _transformer_encoder_layer_fwd on nested tensors")
    cost = _encoder_layer_cost(
        _spec(src),
        int(a[1]),
        int(a[2]),
        int(a[14].shape[0]),
        bool(a[7]),
        bool(a[8]),
        float(a[9]),
        _spec_or_none(call.arg(18, "mask")),
        call.arg(19, "mask_type"),
    )
    note = "as nn.TransformerEncoderLayer.forward"
    if cost.uncounted:
        note += "; decomposition has uncounted ops: " + ", ".join(cost.uncounted)
    return call.traffic(OpKind.ATTENTION, flops=cost.flops, macs=cost.macs, note=note)
