"""Embedding lookups, gathers and scatters.

Gathers move data without arithmetic: 0 FLOPs. Their minimum traffic is what they touch, not the whole
source: an embedding lookup reads the rows it gathers (at most one read per distinct row, so at most
min(#indices, #rows) rows) plus the indices, and writes the output. A 50 000 x 768 table looked up by 8
tokens reads 8 rows, not 150 MB.

Scatter-adds do one add per scattered element (``embedding_dense_backward``, ``scatter_add``,
``index_add``, ``index_put`` with ``accumulate=True``). An in-place scatter reads its indices and sources
and writes only the elements it touches; an out-of-place one also copies ``self`` to the output.
"""

from __future__ import annotations

import torch

from nnperf.static.registry import Cost, OpCall, OpKind, prod, register_formula, tensor_bytes

aten = torch.ops.aten


def _in_place(call: OpCall) -> bool:
    return call.op._schema.name.endswith("_")


@register_formula(aten.embedding)
def _embedding(call: OpCall) -> Cost:
    # (weight, indices, padding_idx, scale_grad_by_freq, sparse): gather #indices rows of D elements.
    weight, indices = call.args[0], call.args[1]
    row_bytes = prod(weight.shape[1:]) * weight.element_size()
    rows = min(indices.numel(), weight.shape[0])
    read = rows * row_bytes + tensor_bytes(indices)
    return Cost(OpKind.EMBEDDING, 0, 0, read, call.bytes_written(), note="reads gathered rows only")


@register_formula(aten.embedding_dense_backward)
def _embedding_dense_backward(call: OpCall) -> Cost:
    # (grad_output, indices, num_weights, padding_idx, scale_grad_by_freq): zero the (V, D) gradient and
    # scatter-add #indices rows of D: 1 add per grad_output element. With scale_grad_by_freq each row is
    # also divided by its token count (1 more per element, plus 1 count per index).
    grad_out, indices = call.args[0], call.args[1]
    flops = grad_out.numel()
    if call.arg(4, "scale_grad_by_freq", False):
        flops += grad_out.numel() + indices.numel()
    read = tensor_bytes(grad_out) + tensor_bytes(indices)
    return Cost(OpKind.EMBEDDING, flops, 0, read, call.bytes_written(), note="dense (V, D) gradient")


def _embedding_bag_flops(
    weight: torch.Tensor, indices: torch.Tensor, mode: int, psw: object, out: torch.Tensor
) -> int:
    # mode 0 = sum, 1 = mean, 2 = max: one add/comparison per gathered element, a multiply per element with
    # per_sample_weights, a division per output element for the mean.
    d = prod(weight.shape[1:])
    n = indices.numel() * d
    return n + (n if psw is not None else 0) + (out.numel() if mode == 1 else 0)


@register_formula(aten._embedding_bag, aten._embedding_bag_forward_only)
def _embedding_bag(call: OpCall) -> Cost:
    # (weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights, ...)
    weight, indices = call.args[0], call.args[1]
    mode = int(call.arg(4, "mode", 0))
    psw = call.arg(6, "per_sample_weights")
    out = call.outputs()[0]
    flops = _embedding_bag_flops(weight, indices, mode, psw, out)
    row_bytes = prod(weight.shape[1:]) * weight.element_size()
    read = min(indices.numel(), weight.shape[0]) * row_bytes
    read += sum(tensor_bytes(t) for t in call.inputs() if t is not weight)
    return Cost(OpKind.EMBEDDING, flops, 0, read, call.bytes_written(), note="reads gathered rows only")


@register_formula(aten._embedding_bag_dense_backward)
def _embedding_bag_dense_backward(call: OpCall) -> Cost:
    # (grad, indices, offset2bag, bag_size, maximum_indices, num_weights, ...): one add per gathered element.
    grad, indices = call.args[0], call.args[1]
    d = prod(grad.shape[1:])
    return call.traffic(OpKind.EMBEDDING, flops=indices.numel() * d)


@register_formula(aten.index_select, aten.gather, aten.index, aten._unsafe_index, aten.take)
def _gather(call: OpCall) -> Cost:
    # 0 FLOPs; reads the gathered elements (as many as the output has) and the indices, writes the output.
    out = call.outputs()[0]
    index_bytes = sum(tensor_bytes(t) for t in call.inputs()[1:])
    read = out.numel() * out.element_size() + index_bytes
    return Cost(OpKind.EMBEDDING, 0, 0, read, call.bytes_written(), note="reads gathered elements only")


def _scatter_cost(call: OpCall, self_: torch.Tensor, touched: int, flops: int, sources: list) -> Cost:
    # In place: read index/source tensors, write the touched elements of self (an accumulating scatter also
    # reads them). Out of place: read all of self too and write the whole output.
    src_bytes = sum(tensor_bytes(t) for t in sources if isinstance(t, torch.Tensor))
    touched_bytes = touched * self_.element_size()
    if _in_place(call):
        read = src_bytes + (touched_bytes if flops else 0)
        return Cost(OpKind.EMBEDDING, flops, 0, read, touched_bytes)
    return Cost(OpKind.EMBEDDING, flops, 0, src_bytes + tensor_bytes(self_), call.bytes_written())


@register_formula(aten.scatter, aten.scatter_)
def _scatter(call: OpCall) -> Cost:
    # (self, dim, index, src | value [, reduce]): one element written per index entry; a `reduce` adds or
    # multiplies (1 FLOP each).
    self_, index = call.args[0], call.args[2]
    src = call.arg(3, "src")
    reduce = call.kwargs.get("reduce", call.args[4] if len(call.args) > 4 else None)
    flops = index.numel() if reduce is not None else 0
    return _scatter_cost(call, self_, index.numel(), flops, [index, src])


@register_formula(aten.scatter_add, aten.scatter_add_, aten.scatter_reduce, aten.scatter_reduce_)
def _scatter_add(call: OpCall) -> Cost:
    # (self, dim, index, src, ...): one add (or reduce op) per index entry; scatter_reduce's mean divides
    # every element of self once more.
    self_, index, src = call.args[0], call.args[2], call.args[3]
    flops = index.numel()
    reduce = call.arg(4, "reduce")
    if reduce == "mean":
        flops += self_.numel()
    return _scatter_cost(call, self_, index.numel(), flops, [index, src])


@register_formula(aten.index_add, aten.index_add_)
def _index_add(call: OpCall) -> Cost:
    # (self, dim, index, source, alpha): one add per source element (+ a multiply when alpha != 1).
    self_, index, source = call.args[0], call.args[2], call.args[3]
    alpha = call.kwargs.get("alpha", call.args[4] if len(call.args) > 4 else 1)
    flops = source.numel() * (1 if alpha == 1 else 2)
    return _scatter_cost(call, self_, source.numel(), flops, [index, source])


@register_formula(aten.index_copy, aten.index_copy_, aten.index_fill, aten.index_fill_)
def _index_copy(call: OpCall) -> Cost:
    # (self, dim, index, source | value): pure data movement; the touched elements are the index entries
    # times the size of the other dimensions.
    self_, dim, index = call.args[0], int(call.args[1]), call.args[2]
    other = self_.numel() // max(self_.shape[dim] if self_.dim() else 1, 1)
    return _scatter_cost(call, self_, index.numel() * other, 0, [index, call.args[3]])


def _indexed_elements(self_: torch.Tensor, indices: list) -> int:
    # Advanced indexing: the index tensors broadcast together and replace the dims they index (a ``None``
    # entry keeps its dim); a bool mask stands for as many elements as it has True values, unknown from
    # shapes, so its numel is used as an upper bound.
    shapes = []
    pos, indexed_size = 0, 1
    for i in indices:
        if i is None:
            pos += 1
            continue
        is_mask = i.dtype in (torch.bool, torch.uint8)
        dims = i.dim() if is_mask else 1
        shapes.append(torch.Size([i.numel()]) if is_mask else i.shape)
        indexed_size *= prod(self_.shape[pos : pos + dims])
        pos += dims
    n_idx = prod(torch.broadcast_shapes(*shapes)) if shapes else 1
    return n_idx * (self_.numel() // max(indexed_size, 1))


@register_formula(aten.index_put, aten.index_put_, aten._index_put_impl_, aten._unsafe_index_put)
def _index_put(call: OpCall) -> Cost:
    # (self, indices, values, accumulate): writes the indexed elements; accumulate adds (1 FLOP each).
    self_, indices, values = call.args[0], list(call.args[1]), call.args[2]
    touched = _indexed_elements(self_, indices)
    accumulate = bool(call.arg(3, "accumulate", False))
    flops = touched if accumulate else 0
    sources = [i for i in indices if i is not None] + [values]
    cost = _scatter_cost(call, self_, touched, flops, sources)
    if any(i is not None and i.dtype == torch.bool for i in indices):
        cost = Cost(cost.kind, cost.flops, 0, cost.bytes_read, cost.bytes_written, "bool mask: upper bound")
    return cost
