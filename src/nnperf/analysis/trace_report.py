"""The records of a trace analysis: frozen plain data that :func:`nnperf.analysis.trace.analyze` returns.

Separate from the engine so that the views (:mod:`nnperf.report.trace_view`, the study report) read the
results without the analysis code; :meth:`TraceReport.to_dict` is the versioned JSON form (``SCHEMA``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = "nnperf.trace-report"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class LaneBreakdown:
    """Mean seconds per step of one lane, by category (idle included); shares of the mean step time."""

    lane: str
    kind: str  # "cpu" or "gpu"
    seconds: dict[str, float]
    shares: dict[str, float]


@dataclass(frozen=True)
class IdleCause:
    """Idle (or waiting) time of a device or of the step thread, by what it was waiting for."""

    subject: str  # "GPU 0" or the step thread's label
    cause: str
    seconds_per_step: float
    share: float  # of the step time


@dataclass(frozen=True)
class Finding:
    cause: str  # "data loading", "GPU waiting on the host", "synchronisation", "communication", ...
    share: float  # of the step time (variation: time lost to slower-than-median steps)
    seconds_per_step: float
    message: str
    advice: tuple[str, ...]


@dataclass(frozen=True)
class OpTime:
    """An op (CPU lanes, by self time) or a kernel (GPU lanes, by time), per step."""

    name: str
    kind: str  # "cpu" or "gpu"
    calls_per_step: float
    time_s: float  # self time per step (kernels: their time)
    share: float  # of the step time
    launched_by: str | None = None  # kernels: the CPU op that launched most of them
    costed_as: str | None = None  # the costed op it runs under (static records), if any
    bound: str | None = None  # that op's roofline class
    efficiency: float | None = None  # that op's achieved / attainable FLOP/s


@dataclass(frozen=True)
class CostedOp:
    """A profiled op joined with the static costs of its records (one step's worth)."""

    name: str  # "aten::addmm"
    calls_per_step: float
    time_s: float  # per step
    time_source: str  # "device" (kernels launched under it) or "cpu" (inclusive)
    flops: float | None  # None: no formula counted its records (unknown, not zero)
    bytes: float
    uncounted_calls: int
    intensity: float | None
    achieved_flops_per_s: float | None
    attainable_flops_per_s: float | None
    bound: str | None  # "memory", "compute", "below both roofs"; None without ceilings
    efficiency: float | None


@dataclass(frozen=True)
class PathSegment:
    """One span of a step's critical path: the part of it the path covers, relative to the step's start."""

    lane: str
    kind: str
    name: str
    category: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class CriticalPath:
    length_s: float  # busy time along the path
    span_s: float  # from its first start to its last end
    by_lane: dict[str, float]
    by_category: dict[str, float]
    segments: tuple[PathSegment, ...]


@dataclass(frozen=True)
class StepReport:
    index: int
    name: str  # "ProfilerStep#3", "nnperf.step", "(whole trace)"
    start_s: float  # from the first step's start
    duration_s: float
    marker_s: float  # the step range's own duration
    lanes: dict[str, dict[str, float]]  # lane label -> category -> seconds (idle included)
    device_idle_s: dict[str, float]  # "GPU 0" -> seconds with no stream busy
    stall_s: float
    communication_s: float  # the device in collectives: GPU communication kernels, else the step thread's
    critical_path: CriticalPath


@dataclass(frozen=True)
class Variation:
    steps: int
    mean_s: float
    median_s: float
    stdev_s: float  # sample standard deviation (0 for one step)
    cv: float
    min_s: float
    max_s: float
    slowest_step: int
    slowest_ratio: float  # slowest / median
    slowest_cause: str | None  # "+12.3 ms of compute on thread 1"


@dataclass(frozen=True)
class RankTime:
    rank: int
    label: str
    steps: int
    step_s: float  # median
    communication_s: float  # median per step
    work_s: float  # step minus communication
    ratio: float  # work over the median rank's work


@dataclass(frozen=True)
class RankReport:
    rank: int | None
    label: str
    source: str
    device: str  # "cpu" or the GPU names
    step_marker: str  # "ProfilerStep#N", "nnperf.step" or "(whole trace)"
    step_thread: str
    steps: tuple[StepReport, ...]
    lanes: tuple[LaneBreakdown, ...]
    gpu_idle_share: dict[str, float]  # "GPU 0" -> share of the step time with no stream busy
    idle: tuple[IdleCause, ...]
    stall_share: float
    findings: tuple[Finding, ...]
    top_ops: tuple[OpTime, ...]
    top_kernels: tuple[OpTime, ...]
    costed_ops: tuple[CostedOp, ...]
    critical_path: CriticalPath  # mean over steps (by lane and category); segments of the median step
    variation: Variation
    notes: tuple[str, ...]

    @property
    def cause(self) -> str | None:
        """The largest finding's cause, None when nothing reaches 5% of the step time."""
        return self.findings[0].cause if self.findings else None

    @property
    def step_time_s(self) -> float:
        return self.variation.mean_s


@dataclass(frozen=True)
class TraceReport:
    ranks: tuple[RankReport, ...]
    rank_times: tuple[RankTime, ...]  # with two ranks or more
    stragglers: tuple[Finding, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for rank, data in zip(self.ranks, out["ranks"], strict=True):
            data["cause"] = rank.cause
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **out}
