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

from nnperf.records.static_profile import OpRecord
from nnperf.static.fast_meta import run_fast
from nnperf.static.memory import LiveBytes
from nnperf.static.meta_cache import MetaOutputCache
from nnperf.static.registry import OpCall, _flat_tensors, formula_for

# Bookkeeping ops of the profiler and autograd that do no work on tensors.
_IGNORED_NAMESPACES = ("profiler",)


_NAMES: dict[Any, str] = {}  # op -> "aten.mm.default" (str() of an op is not free, and runs per call)
_DTYPE_NAMES: dict[torch.dtype, str] = {}


def _short_dtype(dtype: torch.dtype) -> str:
    name = _DTYPE_NAMES[dtype] = str(dtype).removeprefix("torch.")
    return name


def _outputs(out: Any) -> list[torch.Tensor]:
    return _flat_tensors(out, [])


class CostCounter(TorchDispatchMode):
    """Records an :class:`OpRecord` for each op; optionally tracks live tensor memory.

    ``phase`` is set by the driver ("forward", "loss", "backward", "optimizer"); ``module`` is a callable
    returning the current module path (see :class:`nnperf.static.scope.ModuleScope`); ``cache`` memoizes
    meta-kernel outputs (see :mod:`nnperf.static.meta_cache`).
    """

    def __init__(
        self,
        module: Callable[[], str] = lambda: "",
        live: LiveBytes | None = None,
        cache: MetaOutputCache | None = None,
    ) -> None:
        super().__init__()
        self.module = module
        self.live = live
        self.cache = cache
        self.phase = "forward"
        self.records: list[OpRecord] = []
        self.recording = True  # False: ops still run and memory is still tracked, but no record is kept
        self.count = 1  # each call stands for this many identical calls (see OpRecord.count)

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
        out = run_fast(func, args, kwargs)
        if out is None:
            out = self.cache.run(func, args, kwargs) if self.cache is not None else func(*args, **kwargs)
        if not self.recording:
            if self.live is not None:
                self.live.observe(_outputs(out), self.phase)
            return out
        call = OpCall(func, args, kwargs, out)
        try:
            cost = formula(call) if formula is not None else None
        except NotImplementedError:  # a formula that cannot cost this variant (e.g. nested tensors)
            cost = None
        inputs = call.inputs()
        name = _NAMES.get(func)
        if name is None:
            name = _NAMES[func] = str(func)
        self.records.append(
            OpRecord(
                op=name,
                module=self.module(),
                phase=self.phase,
                kind=str(cost.kind) if cost is not None else None,
                flops=int(cost.flops) if cost is not None else None,
                macs=int(cost.macs) if cost is not None else 0,
                bytes_read=int(cost.bytes_read) if cost is not None else call.bytes_read(),
                bytes_written=int(cost.bytes_written) if cost is not None else call.bytes_written(),
                shapes=tuple([tuple(t.shape) for t in inputs]),
                dtypes=tuple([_DTYPE_NAMES.get(t.dtype) or _short_dtype(t.dtype) for t in inputs]),
                note=cost.note if cost is not None else "",
                count=self.count,
            )
        )
        if self.live is not None:
            self.live.observe(call.outputs(), self.phase)
        return out
