"""The measurement loop for model steps, written down once (clocks injectable, so a fake clock tests it).

A *step* is a callable ``step(mark)`` that calls ``mark(phase)`` when each of its phases begins ("data",
"forward", "loss", "backward", "optimizer"); the loop reads its clocks at each mark, so phase times need no
second run. The protocol (compare ``torch.utils.benchmark.Timer.blocked_autorange``, pyperf's runner and
``triton.testing.do_bench``):

1. **Warm-up.** ``warmup`` steps (at least one), each timed and kept apart as ``warmup_s``: the first steps
   pay for lazy initialisation, allocator growth, thread-pool start-up, autotuning and -- with
   ``torch.compile`` or ``torch.jit.trace`` -- compilation, which is why the first warm-up step minus the
   steady-state median is reported as the compile time and never mixed into the samples.
2. **Timed steps.** One sample per step: a step is the unit of latency percentiles and of phases. Each
   step: read ``clock`` and ``thread_clock`` (the calling thread's CPU time), run the step, synchronise the
   device, read both clocks again. Steps are taken until *both* ``min_iters`` samples exist and they add up
   to ``min_time_s``, or until ``budget_s`` (counted from the first warm-up step) runs out, or ``max_iters``
   -- whichever first; at least one timed step is always taken (``stopped_by`` says why the loop ended).
   **Tiny steps** (the last warm-up step under ``min_block_s``, 1 ms) are timed in blocks of ``inner``
   steps per sample, as ``Timer.blocked_autorange`` does: reading the thread CPU clock is a system call
   (about a microsecond on a VM), and per-step clock reads and phase marks would then be a visible part of
   the time measured. Blocked samples are mean step times over a block; phases are not recorded for them.
3. **Phases.** At each ``mark`` the loop records both clocks; a phase lasts from its mark to the next mark
   (the last phase to the end of the step, after synchronisation). Wall time minus the main thread's CPU
   time in a phase is time that thread spent waiting (for data-loader workers, intra-op threads, the GPU).
4. **CUDA.** Kernels run asynchronously, so the host clock alone would time the launches. With a
   ``device_timer`` the loop records a CUDA event at each mark and at the end of the step, synchronises once
   per step, and reports per-phase device time from the events; the step's wall time is taken after that
   synchronisation, so it covers the GPU work too (as ``torch.utils.benchmark.Timer`` does).
5. **Raw samples are returned**; statistics are derived by the record (:mod:`nnperf.records.measurement`).

The loop's own cost per step is two clock reads per mark plus a list append (about a microsecond for five
phases); ``benchmarks/bench_harness_vs_timer.py`` measures it against ``torch.utils.benchmark.Timer``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Mark = Callable[[str], None]
Step = Callable[[Mark], object]


class DeviceTimer(Protocol):
    """Device-side timing of one step's phases (CUDA events); see :class:`CudaEventTimer`."""

    def begin_step(self) -> None: ...
    def mark(self, phase: str) -> None: ...
    def end_step(self) -> dict[str, float]:  # synchronises; returns device seconds per phase
        ...


class CudaEventTimer:
    """CUDA events at each phase boundary of a step; elapsed times read after one synchronisation."""

    def __init__(self, torch_module: object) -> None:
        self._torch = torch_module
        self._marks: list[tuple[str, object]] = []

    def _event(self) -> object:
        ev = self._torch.cuda.Event(enable_timing=True)  # type: ignore[attr-defined]
        ev.record()
        return ev

    def begin_step(self) -> None:
        self._marks = []

    def mark(self, phase: str) -> None:
        self._marks.append((phase, self._event()))

    def end_step(self) -> dict[str, float]:
        end = self._event()
        end.synchronize()  # type: ignore[attr-defined]
        out: dict[str, float] = {}
        bounds = [*self._marks, ("", end)]
        for (phase, start), (_, stop) in itertools.pairwise(bounds):
            out[phase] = out.get(phase, 0.0) + start.elapsed_time(stop) / 1e3  # type: ignore[attr-defined]
        return out


@dataclass
class StepSamples:
    """Raw samples of a timed step loop (seconds)."""

    warmup_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    phase_s: dict[str, list[float]] = field(default_factory=dict)
    phase_cpu_s: dict[str, list[float]] = field(default_factory=dict)
    device_phase_s: dict[str, list[float]] = field(default_factory=dict)
    stopped_by: str = "target"  # "target", "budget" or "max_iters"
    inner: int = 1  # steps per sample: above 1 only for tiny steps timed in blocks (no phases then)


def _no_sync() -> None:
    return None


def _block(step: Step, inner: int, sync: Callable[[], object], clock: Callable[[], float]) -> float:
    """Mean seconds per step over ``inner`` steps run back to back (no phase marks, one clock read pair)."""
    t0 = clock()
    for _ in range(inner):
        step(_no_mark)
    sync()
    return (clock() - t0) / inner


def _no_mark(_phase: str) -> None:
    return None


def time_steps(
    step: Step,
    *,
    warmup: int = 3,
    min_iters: int = 10,
    min_time_s: float = 1.0,
    budget_s: float = 60.0,
    max_iters: int = 100_000,
    min_block_s: float = 1e-3,
    synchronize: Callable[[], object] | None = None,
    device_timer: DeviceTimer | None = None,
    clock: Callable[[], float] = time.perf_counter,
    thread_clock: Callable[[], float] = time.thread_time,
    on_timed_start: Callable[[], object] | None = None,
) -> StepSamples:
    """Time ``step`` by the protocol in this module's docstring.

    ``on_timed_start`` is called once between the warm-up and the first timed step (the caller starts its
    process-wide accounting there: CPU times, memory peaks, hardware counters).
    """
    if min_iters < 1:
        raise ValueError(f"min_iters must be at least 1, got {min_iters}")
    sync = synchronize or _no_sync
    out = StepSamples()
    marks: list[tuple[str, float, float]] = []
    per_step: list[tuple[dict[str, float], dict[str, float], dict[str, float]]] = []

    def mark(phase: str) -> None:
        marks.append((phase, clock(), thread_clock()))
        if device_timer is not None:
            device_timer.mark(phase)

    def one_step(record_phases: bool) -> float:
        marks.clear()
        if device_timer is not None:
            device_timer.begin_step()
        c0 = thread_clock()
        t0 = clock()
        step(mark)
        device = device_timer.end_step() if device_timer is not None else None
        sync()
        t1 = clock()
        c1 = thread_clock()
        if record_phases:
            # The first phase starts with the step (the clock read before the first mark belongs to it).
            bounds = (
                [(marks[0][0], t0, c0), *marks[1:], ("", t1, c1)]
                if marks
                else [("step", t0, c0), ("", t1, c1)]
            )
            wall: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for (phase, ta, ca), (_, tb, cb) in itertools.pairwise(bounds):
                wall[phase] = wall.get(phase, 0.0) + (tb - ta)
                cpu[phase] = cpu.get(phase, 0.0) + (cb - ca)
            per_step.append((wall, cpu, device or {}))
        return t1 - t0

    start = clock()
    for _ in range(max(warmup, 1)):
        out.warmup_s.append(one_step(record_phases=False))
    last = out.warmup_s[-1]
    if 0 < last < min_block_s:
        out.inner = min(math.ceil(min_block_s / last), 100_000)
    if on_timed_start is not None:
        on_timed_start()
    while True:
        if out.inner == 1:
            out.step_s.append(one_step(record_phases=True))
        else:
            out.step_s.append(_block(step, out.inner, sync, clock))
        n = len(out.step_s)
        if n >= min_iters and sum(out.step_s) * out.inner >= min_time_s:
            out.stopped_by = "target"
            break
        if clock() - start >= budget_s:
            out.stopped_by = "budget"
            break
        if n >= max_iters:
            out.stopped_by = "max_iters"
            break
    # Every phase list lines up with step_s: a phase a step skipped counts 0 s in that step.
    for index, table in enumerate((out.phase_s, out.phase_cpu_s, out.device_phase_s)):
        names: list[str] = []
        for parts in per_step:
            names.extend(n for n in parts[index] if n not in names)
        for name in names:
            table[name] = [parts[index].get(name, 0.0) for parts in per_step]
    return out
