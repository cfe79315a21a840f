"""What a torch.profiler trace says about a training or inference loop: where each step's time goes and why.

Input: a Chrome / Perfetto JSON trace of a PyTorch run (``nnperf bench --profile --trace FILE``,
``torch.profiler.profile(...).export_chrome_trace``, ``tensorboard_trace_handler``), one file per rank.
:func:`load_trace` reads it; :func:`analyze` returns a :class:`TraceReport` of plain data. Nothing here
imports torch: a trace recorded on a GPU machine is analysed anywhere.

The trace format, as torch.profiler (Kineto) writes it: ``traceEvents`` holds complete events (``"ph": "X"``,
``ts`` and ``dur`` in microseconds) on *lanes* ``(pid, tid)``: CPU threads carry operators (``"cat":
"cpu_op"``), ``record_function`` ranges (``"user_annotation"``) and CUDA runtime calls (``"cuda_runtime"``,
``"cuda_driver"``); GPU streams (``pid`` = device, ``tid`` = stream) carry ``"kernel"``, ``"gpu_memcpy"`` and
``"gpu_memset"`` events. Flow events (``"ph": "s"`` / ``"f"``, ``"cat": "ac2g"``) and the ``correlation``
argument link each launch to its kernel; ``"fwdbwd"`` flows link a forward op to its backward op. The header
may hold ``deviceProperties`` (GPU names) and ``distributedInfo`` (rank, world size).

Definitions:

* **Steps.** One step per ``ProfilerStep#N`` range (torch.profiler's ``schedule`` with ``prof.step()``),
  else per ``nnperf.step`` range (``nnperf bench``). Step *i* runs from its range's start to the next range's
  start (the last step: to its range's end), so whatever the loop does between two ranges (fetching the next
  batch, logging) belongs to the step before it; ``ProfilerStep`` ranges are back to back, so for them this
  is the range itself. The *step thread* is the thread holding most ranges. Without step ranges the whole
  trace is one step (a warning says so).
* **Busy, idle, categories.** On each lane, an instant is *busy* when an event covers it, else *idle*
  (on a CPU thread idle is untraced time: Python between ops, I/O, sleeping). Step ranges, ``python_function``
  events (their outer frames cover everything) and GPU-side annotation copies are not events here. A busy
  instant belongs to the first of these categories that an event covering it has (so a nested call decides):
  ``sync`` (a CUDA synchronisation call: ``*Synchronize``, blocking ``cudaMemcpy``), ``communication`` (names
  with nccl, gloo, c10d, allreduce/allgather/reduce_scatter/alltoall, record_param_comms), ``memcpy`` (GPU
  copies and memsets), ``data loading`` (DataLoader's ``enumerate(DataLoader)#...__next__``), ``optimizer``
  (``Optimizer.step#...`` / ``Optimizer.zero_grad#...``), else ``compute``. A GPU event also takes the
  category of the CPU code that launched it (a kernel launched inside ``Optimizer.step`` is optimizer time).
* **GPU idle** is the time no stream of a device is busy; each idle instant is attributed to what the host
  (the step thread and the threads that launch to that device) was doing then: in the data loader (waiting
  for data), in a synchronisation, in a collective, busy otherwise or untraced (the GPU waits on the host).
* **Data-loader stall**: the time the step thread is in the data loader while the device is idle (the GPUs
  when the trace has GPU streams, else the step thread itself, whose data loading then *is* the stall);
  its *share* is that time over the step time.
* **Self time** of an event: its duration minus its direct children's on the same lane. Top ops rank CPU
  operators and runtime calls by self time per step, GPU kernels by time per step; only events starting
  inside a step count.
* **Static costs** (``static_records``: the :class:`~nnperf.records.static_profile.OpRecord` list of one
  step from :mod:`nnperf.static`) are joined by op name: a record ``aten.addmm.default`` is the op
  ``aten::addmm``. An op's time is that of its outermost calls (not inside another costed op): device time
  of the kernels launched under them when the trace has GPU kernels, else inclusive CPU time. Achieved
  FLOP/s = FLOPs / time; placed under a roofline (the given ceilings, else the nominal peaks of the trace's
  GPU) it gets a class (memory-bound, compute-bound, below both roofs) and an efficiency (achieved /
  attainable). A top op or kernel takes the class of the costed op it runs under.
* **Critical path**: see :mod:`nnperf.analysis.critical_path`. Its spans are the top-level events of each
  CPU thread (split around the synchronisation calls inside them, which *wait* for the device work that
  ended last while they blocked) and the GPU events; its dependencies are launch -> kernel (ac2g flows and
  correlation ids), device work -> the synchronisation that waited for it, and forward -> backward flows
  across threads. Computed per step, clipped to the step.
* **Variation**: coefficient of variation (sample standard deviation / mean) of the step times; the slowest
  step, its ratio to the median and the lane and category that grew the most against the median step.
* **Stragglers** (two traces or more, one per rank): a rank's *work* is its median step time minus its
  median communication time per step (GPU communication kernels, else the step thread's collectives: time a
  rank spends waiting for the others). A rank whose work exceeds the median over ranks by more than 10% is a
  straggler: the others wait for it in their collectives.

Findings (data-loader stall, GPU waiting on the host, synchronisation, untraced host time (CPU-only
traces), communication, step-time variation, straggler) are reported when they account for at least 5% of
the step time, largest first, each with advice; the first one is the report's *cause*. The straggler
findings are the :class:`TraceReport`'s, the others each rank's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nnperf.analysis.roofline import Ceilings
from nnperf.analysis.trace_categories import CATEGORIES
from nnperf.analysis.trace_model import Event, Trace, load_trace, trace_from_dict
from nnperf.analysis.trace_ops import profiler_name as profiler_name  # not in __all__; the tests import it
from nnperf.analysis.trace_rank import STEP_RANGE, RankAnalysis
from nnperf.analysis.trace_report import (
    SCHEMA,
    CostedOp,
    CriticalPath,
    Finding,
    IdleCause,
    LaneBreakdown,
    OpTime,
    PathSegment,
    RankReport,
    RankTime,
    StepReport,
    TraceReport,
    Variation,
)
from nnperf.errors import UsageError
from nnperf.records.static_profile import OpRecord
from nnperf.units import fmt_time

__all__ = [
    "CATEGORIES",
    "SCHEMA",
    "STEP_RANGE",
    "CostedOp",
    "CriticalPath",
    "Event",
    "Finding",
    "IdleCause",
    "LaneBreakdown",
    "OpTime",
    "PathSegment",
    "RankReport",
    "RankTime",
    "StepReport",
    "Trace",
    "TraceReport",
    "Variation",
    "analyze",
    "load_trace",
    "trace_from_dict",
]

# This module keeps the entry point, the straggler analysis across ranks and the public names; the rest
# lives one concern per module: trace_model (the trace and its loaders), trace_categories and intervals
# (what kind of time an event is, busy covers), trace_rank (one rank: steps, nesting, launches, its report)
# with trace_findings, trace_ops and trace_critical_path, and trace_report (the records).

STRAGGLER_RATIO = 1.10  # work per step over the median rank's above which a rank is a straggler


def _roofs(
    ceilings: Ceilings | None, traces: Sequence[Trace], dtype: str, memory_level: str
) -> tuple[tuple[float, float, str] | None, list[str]]:
    """(peak FLOP/s, bandwidth bytes/s, label) to place costed ops under, and notes."""
    if ceilings is not None:
        from nnperf.analysis.roofline_points import select_roofs

        compute, memory = select_roofs(ceilings, dtype, memory_level)
        return (compute.flops_per_s, memory.bytes_per_s, f"{compute.source} {dtype} and {memory.level}"), []
    names = {d for t in traces for d in t.devices}
    if len(names) == 1:
        from nnperf.analysis.roofline import gpu_ceilings

        (name,) = names
        spec_sheet = gpu_ceilings(name)  # no profile: the card's nominal roofs only
        compute = next((r for r in spec_sheet.compute if r.dtype == dtype), None)
        memory = next((b for b in spec_sheet.bandwidth if b.level == "hbm"), None)
        if compute is not None and memory is not None:
            label = f"nominal {dtype} and memory bandwidth of {name} (spec sheet, not measured)"
            return (compute.flops_per_s, memory.bytes_per_s, label), [f"roofline classes use the {label}"]
    return None, [
        "no roofs for the costed ops' roofline classes: give a machine profile (nnperf trace --machine FILE, "
        "analyze(ceilings=...)); their FLOPs, intensity and achieved FLOP/s are shown"
    ]


def trace_ceilings(traces: Sequence[Trace], profile: Any, memory_level: str = "dram") -> tuple[Ceilings, str]:
    """The roofs for a trace's costed ops from a machine profile, and the memory level to place them under.

    The kernels of a one-GPU trace run on that GPU, not on the host that recorded the profile's CPU roofs:
    they go under the GPU's roofs (the profile's measured GPU section, else the spec sheet) and its HBM
    (unless another level is asked for). Other traces use the profile's CPU roofs."""
    from nnperf.analysis.roofline import ceilings_from_profile, gpu_ceilings

    gpus = {d for t in traces for d in t.devices}
    if len(gpus) == 1:
        return gpu_ceilings(next(iter(gpus)), profile), ("hbm" if memory_level == "dram" else memory_level)
    return ceilings_from_profile(profile), memory_level


def analyze(
    trace: Trace | Sequence[Trace],
    *,
    static_records: Sequence[OpRecord] | None = None,
    ceilings: Ceilings | None = None,
    dtype: str = "fp32",
    memory_level: str = "dram",
    top: int = 10,
) -> TraceReport:
    """Analyse one trace, or one trace per rank of a distributed run (see the module doc).

    ``static_records``: the op records of one step of the traced workload (e.g. ``nnperf.summary(model,
    mode="train").ops``) for FLOPs, intensity and roofline classes of the ops; ``ceilings``: the roofs to
    place them under (default: the nominal peaks of the trace's GPU, when it is in nnperf's table);
    ``dtype`` and ``memory_level`` pick the roofs. ``top``: rows of the top-op and top-kernel tables.
    """
    traces = [trace] if isinstance(trace, Trace) else list(trace)
    if not traces:
        raise UsageError("no trace to analyse: give at least one trace file")
    if top < 1:
        raise UsageError(f"top must be at least 1, got {top}")
    ranks = [t.rank if t.rank is not None else i for i, t in enumerate(traces)]
    if len(traces) > 1 and len(set(ranks)) < len(ranks):
        dup = next(r for r in ranks if ranks.count(r) > 1)
        raise UsageError(f"two traces are both rank {dup}: give one trace per rank")
    roofs, notes = _roofs(ceilings, traces, dtype, memory_level) if static_records else (None, [])
    reports: list[RankReport] = []
    for t, r in zip(traces, ranks, strict=True):
        known = t.rank is not None or len(traces) > 1
        analysis = RankAnalysis(t, f"rank {r}" if known else Path(t.source).name)
        analysis.notes.extend(notes)
        reports.append(
            analysis.report(records=static_records, roofs=roofs, top=top, rank=r if known else None)
        )
    rank_times, stragglers = _stragglers(reports, ranks)
    warnings = tuple(w for rep in reports for w in rep.notes)
    return TraceReport(tuple(reports), rank_times, stragglers, warnings)


def _stragglers(
    reports: list[RankReport], ranks: list[int]
) -> tuple[tuple[RankTime, ...], tuple[Finding, ...]]:
    if len(reports) < 2:
        return (), ()
    comm = [statistics.median(s.communication_s for s in rep.steps) for rep in reports]
    works = [max(rep.variation.median_s - c, 0.0) for rep, c in zip(reports, comm, strict=True)]
    typical = statistics.median(works)
    times = tuple(
        RankTime(
            rank=r,
            label=rep.label,
            steps=rep.variation.steps,
            step_s=rep.variation.median_s,
            communication_s=c,
            work_s=w,
            ratio=w / typical if typical > 0 else 1.0,
        )
        for rep, r, c, w in zip(reports, ranks, comm, works, strict=True)
    )
    found: list[Finding] = []
    for t in sorted(times, key=lambda t: -t.ratio):
        if t.ratio > STRAGGLER_RATIO:
            extra = t.work_s - typical
            found.append(
                Finding(
                    cause="straggler",
                    share=extra / t.step_s if t.step_s > 0 else 0.0,
                    seconds_per_step=extra,
                    message=f"rank {t.rank} is a straggler: it works {t.ratio:.2f}x the median rank per step "
                    f"({fmt_time(t.work_s)} against {fmt_time(typical)}); the other ranks wait for it in collectives",
                    advice=(
                        f"look at rank {t.rank}'s own findings (data loading, host overhead) and its machine "
                        "(thermal throttling, other processes, a slower link)",
                        "balance the work: uneven batch sizes or sequence lengths make uneven steps",
                    ),
                )
            )
    return times, tuple(found)
