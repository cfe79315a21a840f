"""Peak bytes of live tensors during a call, measured from the allocator's own events.

This is the independent check of the static memory model: the PyTorch profiler records every allocation
and free the CPU (or CUDA) allocator makes; its memory timeline (``_memory_profile``) gives storages that
existed before the call (PREEXISTING), were created (CREATE) and freed (DESTROY). Summing them in time order
gives the live bytes at every moment; the peak is the maximum. Nothing of nnperf's dispatch-level tracker is
involved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class AllocatorPeak:
    peak_bytes: int  # live bytes at the peak, preexisting storages included
    preexisting_bytes: int  # live at the start of the call (as far as the call touched them)
    end_bytes: int
    events: int
    method: str = "torch.profiler memory timeline (allocator events, profile_memory=True)"


def measure_allocator_peak(fn: Callable[[], object]) -> AllocatorPeak:
    """Run ``fn`` once under the profiler and return the peak of live bytes it reached."""
    import warnings

    from torch.profiler import ProfilerActivity, profile
    from torch.profiler._memory_profiler import Action

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(
            activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True, with_stack=True
        ) as prof:
            fn()
        timeline = prof._memory_profile().timeline
    current = preexisting = peak = 0
    for _t, action, _key, size in sorted(timeline, key=lambda e: e[0]):
        if action == Action.PREEXISTING:
            preexisting += size
            current += size
        elif action == Action.CREATE:
            current += size
        elif action == Action.DESTROY:
            current -= size
        peak = max(peak, current)
    return AllocatorPeak(peak, preexisting, current, len(timeline))
