"""Which module of a model is running, in forward and in backward, and what each module call produced.

Like ``torch.utils.module_tracker.ModuleTracker``, but: hooks go on the model's own modules only and are
removed in ``__exit__`` (no global state left behind), names are the model's fully qualified names, and
every forward call is recorded as a :class:`~nnperf.records.static_profile.ModuleCall` with its output
shapes.

Backward attribution goes by autograd sequence numbers, as the profiler links backward to forward ops: each
autograd node gets the thread's next sequence number when a forward op creates it, so the forward hooks note
the sequence number at which each module starts and stops being the innermost one, and in backward the node
being evaluated (``torch._C._current_autograd_node()``) names its module by its ``_sequence_nr()``.
ModuleTracker's multi-grad hooks (a module's backward runs from its outputs' grads to its inputs' grads)
misattribute residual blocks: a shortcut branch's "inputs' grads" are only complete when the main branch's
backward is done too, so the main branch's convolutions landed in the shortcut. The hooks remain as the
fallback for backward work that no node of a module's forward explains.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import torch
from torch import nn
from torch.autograd.graph import register_multi_grad_hook
from torch.utils._pytree import tree_flatten

from nnperf.records.static_profile import ModuleCall

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def _tensors(value: Any) -> list[torch.Tensor]:
    if hasattr(value, "to_tuple") and callable(value.to_tuple):  # transformers ModelOutput
        value = value.to_tuple()
    flat, _ = tree_flatten(value)
    return [t for t in flat if isinstance(t, torch.Tensor)]


def _numel(t: torch.Tensor | None) -> int:
    return int(t.numel()) if isinstance(t, torch.Tensor) else 0


class ModuleScope:
    """Context manager: ``current()`` is the innermost running module's path ("" outside any)."""

    def __init__(self, model: nn.Module, record_calls: bool = True) -> None:
        self.model = model
        self.record_calls = record_calls
        self.names: dict[int, str] = {}
        for name, module in model.named_modules(remove_duplicate=False):
            self.names.setdefault(id(module), name)
        self._stack: list[str] = []
        self._orders: list[int] = []
        self._backward: dict[str, int] = {}  # path -> times entered (insertion ordered)
        self._handles: list[Any] = []
        self._grad_handles: list[Any] = []
        self._order = 0
        self.calls: list[ModuleCall] = []
        self._seen_params: set[int] = set()
        # From sequence number _seq_starts[i] on, nodes are created while _seq_modules[i] is innermost.
        self._seq_starts: list[int] = []
        self._seq_modules: list[str] = []

    def _note_seq(self) -> None:
        seq = torch._C._autograd._get_sequence_nr()
        current = self._stack[-1] if self._stack else ""
        if self._seq_starts and self._seq_starts[-1] == seq:  # no node was created in between
            self._seq_modules[-1] = current
        else:
            self._seq_starts.append(seq)
            self._seq_modules.append(current)

    # -- the current module -------------------------------------------------------------------------------
    def current(self) -> str:
        if torch._C._current_graph_task_id() != -1:  # inside autograd's backward
            node = torch._C._current_autograd_node()
            if node is not None and self._seq_starts:
                seq = node._sequence_nr()
                # AccumulateGrad nodes have no forward op (sequence number UINT64_MAX): not a module's work.
                if seq >= 2**63 - 1:
                    return ""
                i = bisect_right(self._seq_starts, seq) - 1
                if i >= 0:
                    return self._seq_modules[i]
            if self._backward:
                return max(self._backward, key=_depth)
            return ""
        return self._stack[-1] if self._stack else ""

    # -- hooks --------------------------------------------------------------------------------------------
    def _pre(self, module: nn.Module, args: Any) -> None:
        name = self.names.get(id(module), type(module).__name__)
        self._order += 1
        self._stack.append(name)
        self._orders.append(self._order)
        self._note_seq()
        grads = [t for t in _tensors(args) if t.requires_grad]
        if grads:  # the grads of the inputs are the last thing this module's backward computes
            self._grad_handles.append(register_multi_grad_hook(grads, lambda _g, n=name: self._leave_bw(n)))

    def _post(self, module: nn.Module, args: Any, output: Any) -> None:
        name = self.names.get(id(module), type(module).__name__)
        order = 0
        if name in self._stack:  # normally the top; a module that raised inside a child may leave more
            i = len(self._stack) - 1 - self._stack[::-1].index(name)
            order = self._orders[i]
            del self._stack[i:], self._orders[i:]
        self._note_seq()
        outs = _tensors(output)
        grads = [t for t in outs if t.requires_grad]
        if grads:  # the grads of the outputs arriving means this module's backward starts
            self._grad_handles.append(register_multi_grad_hook(grads, lambda _g, n=name: self._enter_bw(n)))
        if self.record_calls:
            self.calls.append(self._call(module, name, order, outs))

    def _enter_bw(self, name: str) -> None:
        self._backward[name] = self._backward.get(name, 0) + 1

    def _leave_bw(self, name: str) -> None:
        n = self._backward.get(name, 0) - 1
        if n > 0:
            self._backward[name] = n
        else:
            self._backward.pop(name, None)

    def _call(self, module: nn.Module, name: str, order: int, outs: list[torch.Tensor]) -> ModuleCall:
        own = 0
        for p in module.parameters(recurse=False):
            if id(p) not in self._seen_params:  # shared parameters count once, where first used
                self._seen_params.add(id(p))
                own += p.numel()
        recursive = sum(p.numel() for p in module.parameters())
        weight = getattr(module, "weight", None)
        bias = getattr(module, "bias", None)
        return ModuleCall(
            path=name,
            type=type(module).__name__,
            depth=0 if name == "" else name.count(".") + 1,
            order=order,
            output_shapes=tuple(tuple(int(d) for d in t.shape) for t in outs),
            params=own,
            params_recursive=recursive,
            weight_bias=_numel(weight) + _numel(bias),
            weight_trainable=bool(weight.requires_grad) if isinstance(weight, torch.Tensor) else None,
            is_container=isinstance(module, _CONTAINERS),
        )

    def reset_backward(self) -> None:
        """Forget backward scopes left open (the first layer's input needs no grad, so it never closes)."""
        self._backward.clear()

    def __enter__(self) -> ModuleScope:
        for module in self.model.modules():
            self._handles.append(module.register_forward_pre_hook(self._pre))
            self._handles.append(module.register_forward_hook(self._post))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles + self._grad_handles:
            h.remove()
        self._handles.clear()
        self._grad_handles.clear()


def _depth(path: str) -> int:
    return 0 if path == "" else path.count(".") + 1
