"""The dispatch-level counter: every aten op, with its module, phase, FLOPs, MACs and bytes.

A ``TorchDispatchMode`` sees each op after autograd has decomposed composite ops and recorded backward, so
forward, backward and optimizer ops are all seen one by one — backward is counted op by op, never as a
multiple of forward. It works on meta tensors (nothing is allocated or computed), on FakeTensors and on
real tensors alike, since formulas only read shapes, dtypes and strides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nnperf.records.static_profile import OpRecord
from nnperf.static.memory import LiveBytes
from nnperf.static.registry import OpCall, formula_for

# Bookkeeping ops of the profiler and autograd that do no work on tensors.
_IGNORED_NAMESPACES = ("profiler",)


def _short_dtype(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


class CostCounter(TorchDispatchMode):
    """Records an :class:`OpRecord` for each op; optionally tracks live tensor memory.

    ``phase`` is set by the driver ("forward", "loss", "backward", "optimizer"); ``module`` is a callable
    returning the current module path (see :class:`nnperf.static.scope.ModuleScope`).
    """

    def __init__(
        self,
        module: Callable[[], str] = lambda: "",
        live: LiveBytes | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.live = live
        self.phase = "forward"
        self.records: list[OpRecord] = []

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        if self.live is not None:
            self.live.start_phase(phase)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func.namespace in _IGNORED_NAMESPACES:
            return func(*args, **kwargs)
        formula = formula_for(func)
        if formula is None:
            # A composite op (seen undecomposed under inference_mode, which skips the autograd key that
            # normally decomposes it) is counted through its decomposition, as FlopCounterMode does.
            with self:
                r = func.decompose(*args, **kwargs)
            if r is not NotImplemented:
                return r
        out = func(*args, **kwargs)
        call = OpCall(func, args, kwargs, out)
        try:
            cost = formula(call) if formula is not None else None
        except NotImplementedError:  # a formula that cannot cost this variant (e.g. nested tensors)
            cost = None
        inputs = call.inputs()
        self.records.append(
            OpRecord(
                op=str(func),
                module=self.module(),
                phase=self.phase,
                kind=str(cost.kind) if cost is not None else None,
                flops=int(cost.flops) if cost is not None else None,
                macs=int(cost.macs) if cost is not None else 0,
                bytes_read=int(cost.bytes_read) if cost is not None else call.bytes_read(),
                bytes_written=int(cost.bytes_written) if cost is not None else call.bytes_written(),
                shapes=tuple(tuple(int(d) for d in t.shape) for t in inputs),
                dtypes=tuple(_short_dtype(t.dtype) for t in inputs),
                note=cost.note if cost is not None else "",
            )
        )
        if self.live is not None:
            flat, _ = tree_flatten(out)
            self.live.observe((t for t in flat if isinstance(t, torch.Tensor)), self.phase)
        return out
