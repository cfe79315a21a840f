"""Copies, fills, factories, concatenation, padding, RNG fills and bookkeeping ops: bytes but no FLOPs.

* Copies (``clone``, ``_to_copy``, ``cat``, ``repeat``, ``flip``, ``*_copy`` of views, ...): read the
  input, write the output.
* ``copy_(dst, src)``: reads ``src`` only; ``dst`` is overwritten, not read.
* Factories and fills (``zeros``, ``full``, ``ones_like``, ``fill_``, ``zero_``, ``arange``): write the
  output, read nothing (a ``*_like`` op looks only at its argument's shape).
* Allocations (``empty*``, ``new_empty*``, ``resize_``): 0 bytes — memory is reserved, not touched.
* Random fills (``uniform_``, ``normal_``, ``bernoulli_``, ``randn``): write the output; random-number
  generation is integer work and is not counted as FLOPs.
* Dropout: ``native_dropout`` multiplies by the mask and by 1/(1 - p): 2 FLOPs per element (kind
  POINTWISE), the same as its decomposition ``bernoulli_`` (0) + ``div_`` (1) + ``mul`` (1) on meta.
* Backward ops of views (``select_backward``, ``slice_backward``, ...): write a zero gradient of the
  input's shape and copy grad_output into it.
* ``_unsafe_view`` is a view (no data moves) that autograd treats as a fresh tensor.
* Profiler, assertion and metadata-query ops (``prim.device`` under FakeTensor) do no work: kind OTHER.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, register_formula, tensor_bytes

aten = torch.ops.aten


def _packets(names: Sequence[str], namespace: object = aten) -> list:
    return [getattr(namespace, n) for n in names if hasattr(namespace, n)]


_COPIES = [
    "clone",
    "_to_copy",
    "copy",
    "_copy_from",
    "_copy_from_and_resize",
    "cat",
    "stack",
    "_stack",
    "hstack",
    "vstack",
    "repeat",
    "tile",
    "constant_pad_nd",
    "flip",
    "roll",
    "rot90",
    "tril",
    "triu",
    "tril_",
    "triu_",
    "lift_fresh_copy",
    "resolve_conj",
    "resolve_neg",
    "_pin_memory",
    "_local_scalar_dense",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "native_channel_shuffle",
    "im2col",
    "diag_embed",
    "diag",
    "_reshape_copy",
    "repeat_interleave",
    "reflection_pad1d",
    "reflection_pad2d",
    "reflection_pad3d",
    "replication_pad1d",
    "replication_pad2d",
    "replication_pad3d",
    # Materialised views.
    "alias_copy",
    "as_strided_copy",
    "detach_copy",
    "diagonal_copy",
    "expand_copy",
    "narrow_copy",
    "permute_copy",
    "select_copy",
    "slice_copy",
    "split_copy",
    "split_with_sizes_copy",
    "squeeze_copy",
    "t_copy",
    "transpose_copy",
    "unbind_copy",
    "unfold_copy",
    "unsqueeze_copy",
    "view_copy",
    "view_as_real_copy",
    "view_as_complex_copy",
    "_reshape_alias_copy",
    # Gradients of views: zeros of the input's shape with grad_output copied in; scatters into a copy.
    "select_backward",
    "slice_backward",
    "diagonal_backward",
    "as_strided_scatter",
    "slice_scatter",
    "select_scatter",
    "diagonal_scatter",
    "unfold_backward",
]


@register_formula(*_packets(_COPIES))
def _copy(call: OpCall) -> Cost:
    return call.traffic(OpKind.MEMORY)


@register_formula(aten.copy_)
def _copy_(call: OpCall) -> Cost:
    # copy_(dst, src): src is read, dst written; dst's old contents are not read.
    dst, src = call.args[0], call.args[1]
    return Cost(OpKind.MEMORY, 0, 0, tensor_bytes(src), tensor_bytes(dst))


_FACTORIES = [
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "new_zeros",
    "new_ones",
    "new_full",
    "scalar_tensor",
    "arange",
    "linspace",
    "logspace",
    "eye",
    "tril_indices",
    "triu_indices",
    "fill",
    "fill_",
    "zero_",
    "zero",
    # Random fills: RNG is not counted as FLOPs.
    "rand",
    "randn",
    "randint",
    "randperm",
    "rand_like",
    "randn_like",
    "randint_like",
    "uniform_",
    "normal_",
    "random_",
    "exponential_",
    "geometric_",
    "cauchy_",
    "log_normal_",
    "bernoulli_",
]


@register_formula(*_packets(_FACTORIES))
def _factory(call: OpCall) -> Cost:
    # Writes the output (in-place fills: self). Reads only 0-d value tensors (fill_.Tensor, bernoulli_.Tensor
    # with a tensor p), never the shape-only argument of *_like / new_* / in-place fills.
    out = call.outputs() or [call.args[0]]
    shape_arg = call.args[0] if call.args and isinstance(call.args[0], torch.Tensor) else None
    value_tensors = [t for t in call.inputs() if t is not shape_arg]
    read = sum(tensor_bytes(t) for t in value_tensors)
    written = sum(tensor_bytes(t) for t in out)
    return Cost(OpKind.MEMORY, 0, 0, read, written)


@register_formula(aten.bernoulli, aten.normal, aten.poisson, aten.multinomial, aten.binomial)
def _random_from(call: OpCall) -> Cost:
    # Random draws parameterised by a tensor (probabilities, means): read it, write the output.
    return call.traffic(OpKind.MEMORY, note="RNG not counted as FLOPs")


_ALLOCATIONS = [
    "empty",
    "empty_like",
    "empty_strided",
    "empty_permuted",
    "new_empty",
    "new_empty_strided",
    "resize_",
    "resize_as_",
    "set_",
    "_empty_affine_quantized",
    "_empty_per_channel_affine_quantized",
]


@register_formula(*_packets(_ALLOCATIONS))
def _allocation(call: OpCall) -> Cost:
    return Cost(OpKind.MEMORY, note="allocation only")


@register_formula(aten._unsafe_view)
def _unsafe_view(call: OpCall) -> Cost:
    return Cost(OpKind.VIEW)


@register_formula(aten.native_dropout)
def _native_dropout(call: OpCall) -> Cost:
    # (input, p, train) -> (output, mask). Training: mask from RNG (0 FLOPs), x * mask * (1 / (1 - p)):
    # 2 FLOPs per element. Not training: output is the input, mask all ones: a copy.
    x, train = call.args[0], call.arg(2, "train")
    if train is False:
        return call.traffic(OpKind.MEMORY, note="not training: copy")
    return call.traffic(OpKind.POINTWISE, flops=2 * x.numel(), note="mask multiply and 1/(1-p) scaling")


@register_formula(
    *_packets(
        [
            "reflection_pad1d_backward",
            "reflection_pad2d_backward",
            "reflection_pad3d_backward",
            "replication_pad1d_backward",
            "replication_pad2d_backward",
            "replication_pad3d_backward",
        ]
    )
)
def _pad_backward(call: OpCall) -> Cost:
    # (grad_output, self, padding): the interior is copied; every padded element's gradient is added onto
    # the element it mirrors or replicates: grad_output.numel - grad_input.numel adds.
    grad_out, grad_in = call.args[0], call.outputs()[0]
    flops = max(grad_out.numel() - grad_in.numel(), 0)
    return Cost(OpKind.POINTWISE, flops, 0, tensor_bytes(grad_out), call.bytes_written())


@register_formula(aten.col2im)
def _col2im(call: OpCall) -> Cost:
    # Sums overlapping patches: one add per column element.
    return call.traffic(OpKind.POINTWISE, flops=call.args[0].numel(), note="overlapping patches summed")


_NO_WORK_ATEN = [
    "_assert_async",
    "_assert_scalar",
    "_functional_assert_async",
    "_functional_assert_scalar",
    "_assert_tensor_metadata",
    "sym_constrain_range",
    "sym_constrain_range_for_size",
    "_functional_sym_constrain_range",
    "_functional_sym_constrain_range_for_size",
    "record_stream",
    "_make_dep_token",
    # Metadata queries (seen with tensor subclasses such as FakeTensor and with symbolic shapes).
    "sym_size",
    "sym_stride",
    "sym_numel",
    "sym_storage_offset",
    "is_contiguous",
    "is_strides_like_format",
    "is_non_overlapping_and_dense",
]
_NO_WORK_PROFILER = ["_record_function_enter", "_record_function_enter_new", "_record_function_exit"]
_NO_WORK_PRIM = ["device", "layout", "dtype"]


@register_formula(
    *_packets(_NO_WORK_ATEN),
    *_packets(_NO_WORK_PROFILER, torch.ops.profiler),
    *_packets(_NO_WORK_PRIM, torch.ops.prim),
)
def _no_work(call: OpCall) -> Cost:
    # Bookkeeping (profiler ranges, runtime assertions, metadata queries): no data, no arithmetic.
    return Cost(OpKind.OTHER, note="bookkeeping")
