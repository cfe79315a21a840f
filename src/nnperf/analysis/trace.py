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

import bisect
import gzip
import json
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nnperf.analysis.critical_path import critical_path
from nnperf.analysis.roofline import Ceilings, place
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

SCHEMA = "nnperf.trace-report"
SCHEMA_VERSION = 1
# The same name as nnperf.measure.op_breakdown.STEP_RANGE (not imported from there: that module imports torch).
STEP_RANGE = "nnperf.step"
_PROFILER_STEP = re.compile(r"^ProfilerStep#(\d+)$")

# Categories, first wins where events nest or streams overlap; "idle" is the time no event covers.
PRIORITY: tuple[str, ...] = ("sync", "communication", "memcpy", "data loading", "optimizer", "compute")
CATEGORIES: tuple[str, ...] = (
    "compute",
    "data loading",
    "optimizer",
    "communication",
    "memcpy",
    "sync",
    "idle",
)
_COMPUTE = PRIORITY.index("compute")

_SYNC = re.compile(r"Synchronize|^(cuda|hip)Memcpy(2D|3D)?$|^cuMemcpy(DtoH|HtoD|DtoD)?(_v2)?$")
_COMM = re.compile(
    r"nccl|gloo|c10d|record_param_comms|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all", re.IGNORECASE
)
_DATA = re.compile(r"DataLoader")
_OPTIMIZER = re.compile(r"^Optimizer\.(step|zero_grad)#")
_SINGLE_PROCESS_LOADER = "_SingleProcessDataLoaderIter"
_MULTI_PROCESS_LOADER = "_MultiProcessingDataLoaderIter"

GPU_CATS = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})
LAUNCH_CATS = frozenset({"cuda_runtime", "cuda_driver"})
# Not work on a lane: the profiler's own span, Python frames (the outer ones cover every instant), the
# GPU-side copies of record_function ranges, profiler overhead and instant markers.
_IGNORED_CATS = frozenset(
    {
        "Trace",
        "python_function",
        "gpu_user_annotation",
        "overhead",
        "cpu_instant_event",
        "cuda_profiler_range",
    }
)

FINDING_SHARE = 0.05  # a cause is reported when it accounts for at least this share of the step time
VARIATION_CV = 0.10  # step-time coefficient of variation above which variation is a finding
STRAGGLER_RATIO = 1.10  # work per step over the median rank's above which a rank is a straggler
_EPS_US = 0.01  # timestamps are printed to 3 decimals (ns): a child may end 1 ns after its parent

LaneKey = tuple[Hashable, Hashable]


# ---- the trace -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Event:
    """One complete event: ``ts`` and ``dur`` in microseconds, as in the file."""

    name: str
    cat: str
    pid: Hashable
    tid: Hashable
    ts: float
    dur: float
    args: dict[str, Any] = field(compare=False, repr=False)
    index: int = 0  # position among the trace's complete events

    @property
    def end(self) -> float:
        return self.ts + self.dur

    @property
    def lane(self) -> LaneKey:
        return (self.pid, self.tid)


@dataclass(frozen=True, slots=True)
class Flow:
    """A flow arrow (``s`` -> ``f``): where it starts and where it ends."""

    cat: str
    id: Hashable
    start_lane: LaneKey
    start_ts: float
    end_lane: LaneKey
    end_ts: float


@dataclass(frozen=True, slots=True)
class Lane:
    key: LaneKey
    kind: str  # "cpu" (a thread) or "gpu" (a stream)
    label: str  # "thread 8934 (python)", "GPU 0 stream 7"
    device: Hashable | None  # GPU lanes: the device (pid)


@dataclass(frozen=True)
class Trace:
    """A loaded trace: its complete events, flows, lanes and header."""

    source: str
    events: tuple[Event, ...]
    flows: tuple[Flow, ...]
    lanes: dict[LaneKey, Lane]
    rank: int | None  # distributedInfo.rank
    world_size: int | None
    devices: tuple[str, ...]  # GPU names from deviceProperties
    metadata: dict[str, Any]  # the header, without traceEvents
    warnings: tuple[str, ...] = ()


def _read_text(path: Path) -> str:
    if not path.exists():
        raise UsageError(
            f"trace {str(path)!r} not found: give the path of a Chrome/Perfetto JSON trace "
            "(e.g. written by `nnperf bench --profile --trace FILE`)"
        )
    if path.is_dir():
        raise UsageError(f"{str(path)!r} is a folder: give one trace file (e.g. a *.pt.trace.json in it)")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # tensorboard_trace_handler(use_gzip=True) writes .json.gz
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise UsageError(f"trace {str(path)!r} is a broken gzip file ({exc}): record it again") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"{str(path)!r} is not a text (JSON) file: give a Chrome/Perfetto JSON trace"
        ) from None


def _parse_json(text: str, name: str) -> tuple[Any, list[str]]:
    """The JSON value, recovering a trace whose closing ``]}`` (only) is missing, with a warning."""
    try:
        return json.loads(text), []
    except json.JSONDecodeError as exc:
        error = exc
    body = text.rstrip().rstrip(",").rstrip()
    # Only the closing brackets may be missing: after a whole event "]}", after the event list "}".
    suffix = "]}" if body.endswith("}") else "}" if body.endswith("]") else None
    if body.lstrip().startswith("{") and suffix is not None:
        try:
            value = json.loads(body + suffix)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("traceEvents"), list):
            return value, [
                f"{name}: the trace was cut short (its closing {suffix!r} was missing, as when the profiler "
                "is stopped before it finishes writing): closed it and read the events it holds"
            ]
    if not text.strip():
        raise UsageError(f"trace {name!r} is empty: record it again")
    raise UsageError(
        f"trace {name!r} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}): the file "
        "is truncated inside an event or is not a trace; record it again"
    )


def load_trace(path: str | Path) -> Trace:
    """Read a Chrome/Perfetto JSON trace (``.json`` or ``.json.gz``); UsageError with a one-line reason if not."""
    p = Path(path)
    data, warnings = _parse_json(_read_text(p), str(p))
    return trace_from_dict(data, source=str(p), warnings=warnings)


def _number(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        try:
            x = float(x)  # some writers quote numbers
        except (TypeError, ValueError):
            return None
    x = float(x)
    return x if math.isfinite(x) else None


def _key(x: Any) -> Hashable:
    """pid/tid as written (int or str); lists and other unhashables become their text."""
    return x if isinstance(x, (int, str)) else str(x)


def trace_from_dict(data: Any, *, source: str = "<trace>", warnings: Iterable[str] = ()) -> Trace:
    """A :class:`Trace` from a parsed trace: an object with ``traceEvents`` (or a bare array of events)."""
    notes = list(warnings)
    if isinstance(data, list):  # the Chrome format's "JSON array" form
        header: dict[str, Any] = {}
        raw_events = data
        if not all(isinstance(e, dict) and "ph" in e for e in raw_events[:100]):
            raise UsageError(
                f"{source!r} is a JSON array but not of trace events: give a Chrome/Perfetto trace"
            )
    elif isinstance(data, dict):
        if "traceEvents" not in data:
            keys = ", ".join(sorted(map(str, data))[:6]) or "none"
            raise UsageError(
                f"{source!r} is JSON but not a Chrome/Perfetto trace (no 'traceEvents'; its keys: {keys}): give "
                "the file torch.profiler's export_chrome_trace (or nnperf bench --trace) wrote"
            )
        raw_events = data["traceEvents"]
        if not isinstance(raw_events, list):
            raise UsageError(
                f"{source!r}: 'traceEvents' is not a list of events: not a Chrome/Perfetto trace"
            )
        header = {k: v for k, v in data.items() if k != "traceEvents"}
    else:
        raise UsageError(f"{source!r} is JSON but not a Chrome/Perfetto trace (a {type(data).__name__})")

    events: list[Event] = []
    flow_starts: dict[tuple[str, Hashable], tuple[LaneKey, float]] = {}
    flow_ends: dict[tuple[str, Hashable], tuple[LaneKey, float]] = {}
    process_labels: dict[Hashable, str] = {}
    thread_names: dict[LaneKey, str] = {}
    skipped = 0
    for raw in raw_events:
        if not isinstance(raw, dict):
            skipped += 1
            continue
        ph = raw.get("ph")
        pid, tid = _key(raw.get("pid", "")), _key(raw.get("tid", ""))
        if ph == "X":
            ts, dur = _number(raw.get("ts")), _number(raw.get("dur", 0))
            if ts is None or dur is None or dur < 0:
                skipped += 1
                continue
            args = raw.get("args")
            events.append(
                Event(
                    name=str(raw.get("name", "")),
                    cat=str(raw.get("cat", "")),
                    pid=pid,
                    tid=tid,
                    ts=ts,
                    dur=dur,
                    args=args if isinstance(args, dict) else {},
                    index=len(events),
                )
            )
        elif ph in ("s", "f") and "id" in raw:
            ts = _number(raw.get("ts"))
            if ts is not None:
                key = (str(raw.get("cat", "")), _key(raw["id"]))
                (flow_starts if ph == "s" else flow_ends)[key] = ((pid, tid), ts)
        elif ph == "M":
            args = raw.get("args") if isinstance(raw.get("args"), dict) else {}
            if raw.get("name") == "process_labels":
                process_labels[pid] = str(args.get("labels", ""))
            elif raw.get("name") == "thread_name":
                thread_names[(pid, tid)] = str(args.get("name", ""))
    if skipped:
        notes.append(f"{source}: {skipped} malformed events skipped (no numeric ts/dur)")
    if not events:
        raise UsageError(
            f"trace {source!r} has no complete ('X') events: nothing to analyse (did the profiler record any "
            "active step?)"
        )
    flows = tuple(
        Flow(cat, fid, *flow_starts[(cat, fid)], *flow_ends[(cat, fid)])
        for (cat, fid) in flow_starts
        if (cat, fid) in flow_ends
    )
    distributed = header.get("distributedInfo") if isinstance(header.get("distributedInfo"), dict) else {}
    rank = distributed.get("rank")
    world = distributed.get("world_size")
    devices = tuple(
        str(d.get("name"))
        for d in header.get("deviceProperties") or []
        if isinstance(d, dict) and d.get("name")
    )
    return Trace(
        source=source,
        events=tuple(events),
        flows=flows,
        lanes=_lanes(events, process_labels, thread_names),
        rank=int(rank) if isinstance(rank, (int, float)) else None,
        world_size=int(world) if isinstance(world, (int, float)) else None,
        devices=devices,
        metadata=header,
        warnings=tuple(notes),
    )


def _lanes(
    events: list[Event], process_labels: dict[Hashable, str], thread_names: dict[LaneKey, str]
) -> dict[LaneKey, Lane]:
    gpu: set[LaneKey] = set()
    seen: dict[LaneKey, None] = {}
    work: set[LaneKey] = set()
    for e in events:
        seen.setdefault(e.lane)
        if e.cat not in _IGNORED_CATS:
            work.add(e.lane)
        if e.cat in GPU_CATS or e.cat == "gpu_user_annotation":
            gpu.add(e.lane)
    # A thread's label says its process only when the trace has work on threads of several processes.
    cpu_pids = {
        pid for pid, tid in work if (pid, tid) not in gpu and "GPU" not in process_labels.get(pid, "")
    }
    lanes: dict[LaneKey, Lane] = {}
    for key in seen:
        pid, tid = key
        if key in gpu or "GPU" in process_labels.get(pid, ""):
            lanes[key] = Lane(key, "gpu", f"GPU {pid} stream {tid}", pid)
        else:
            name = thread_names.get(key) or f"thread {tid}"
            label = name if len(cpu_pids) <= 1 else f"pid {pid} {name}"
            lanes[key] = Lane(key, "cpu", label, None)
    return lanes


# ---- the report ------------------------------------------------------------------------------------------------
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


# ---- intervals -------------------------------------------------------------------------------------------------
Segment = tuple[float, float, int]  # start, end, category (index into PRIORITY)


def _cover(items: Iterable[Segment]) -> list[Segment]:
    """The busy cover of intervals: at each instant the first-priority category covering it; gaps left out."""
    points: list[tuple[float, int, int]] = []
    for s, e, k in items:
        if e > s:
            points.append((s, 1, k))
            points.append((e, -1, k))
    points.sort(key=lambda p: (p[0], p[1]))  # at one instant, ends before starts
    counts = [0] * len(PRIORITY)
    out: list[Segment] = []
    prev: float | None = None
    for t, delta, k in points:
        if prev is not None and t > prev:
            cur = next((i for i, c in enumerate(counts) if c > 0), None)
            if cur is not None:
                if out and out[-1][2] == cur and out[-1][1] == prev:
                    out[-1] = (out[-1][0], t, cur)
                else:
                    out.append((prev, t, cur))
        counts[k] += delta
        prev = t
    return out


class _Cover:
    """Sorted, disjoint busy segments of a lane (or of several merged) with window queries."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.starts = [s for s, _, _ in segments]

    @classmethod
    def merge(cls, covers: Iterable[_Cover]) -> _Cover:
        return cls(_cover(seg for c in covers for seg in c.segments))

    def _within(self, a: float, b: float) -> Iterable[Segment]:
        i = max(bisect.bisect_right(self.starts, a) - 1, 0)
        while i < len(self.segments) and self.segments[i][0] < b:
            s, e, k = self.segments[i]
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                yield lo, hi, k
            i += 1

    def by_category(self, a: float, b: float) -> dict[str, float]:
        """Seconds per category (idle included) in [a, b), from microseconds."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        busy = 0.0
        for lo, hi, k in self._within(a, b):
            out[PRIORITY[k]] += (hi - lo) * 1e-6
            busy += hi - lo
        out["idle"] = max(b - a - busy, 0.0) * 1e-6
        return out

    def gaps(self, a: float, b: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        t = a
        for lo, hi, _ in self._within(a, b):
            if lo > t:
                out.append((t, lo))
            t = max(t, hi)
        if b > t:
            out.append((t, b))
        return out

    def in_intervals(self, intervals: Iterable[tuple[float, float]]) -> dict[str, float]:
        """Seconds per category (idle = none of this cover) within the given disjoint intervals."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        for a, b in intervals:
            for k, v in self.by_category(a, b).items():
                out[k] += v
        return out


# ---- one rank --------------------------------------------------------------------------------------------------
@dataclass
class _Node:
    """A span of the critical path: a top-level CPU event (or a piece of it around a sync) or a GPU event."""

    lane: LaneKey
    start: float
    end: float
    name: str
    category: str
    event: int  # index of the event it comes from
    waits: bool = False


class _Rank:
    """The analysis of one trace (one rank); the report is built by :meth:`report`."""

    def __init__(self, trace: Trace, label: str) -> None:
        self.trace = trace
        self.label = label
        self.notes: list[str] = list(trace.warnings)
        ev = trace.events
        self.ev = ev
        self.lane_of = {k: trace.lanes[k] for k in trace.lanes}
        self._find_steps()
        # Work events per lane, in nesting order (start, longest first); step ranges are not work.
        lanes: dict[LaneKey, list[int]] = defaultdict(list)
        for e in ev:
            if e.cat in _IGNORED_CATS or e.index in self.marker_set:
                continue
            lanes[e.lane].append(e.index)
        for members in lanes.values():
            members.sort(key=lambda i: (ev[i].ts, -ev[i].dur, i))
        lanes.setdefault(self.step_lane, [])
        self.lanes = dict(lanes)
        self._window_starts = [a for a, _, _, _ in self.windows]
        self._nest()
        self._launches()
        self._categories()
        self.covers = {
            lane: _Cover(_cover((ev[i].ts, ev[i].end, self.cat[i]) for i in members))
            for lane, members in self.lanes.items()
        }

    # -- steps
    def _find_steps(self) -> None:
        ev = self.ev
        profiler = [e for e in ev if e.cat != "gpu_user_annotation" and _PROFILER_STEP.match(e.name)]
        nnperf = [e for e in ev if e.cat != "gpu_user_annotation" and e.name == STEP_RANGE]
        markers = profiler or nnperf
        self.step_marker = "ProfilerStep#N" if profiler else STEP_RANGE if nnperf else "(whole trace)"
        self.marker_set = {e.index for e in profiler + nnperf}
        if markers:
            per_lane = Counter(e.lane for e in markers)
            self.step_lane: LaneKey = max(per_lane, key=per_lane.__getitem__)  # ties: the first seen
            chosen = sorted((e for e in markers if e.lane == self.step_lane), key=lambda e: e.ts)
            self.windows: list[tuple[float, float, str, float]] = []
            for i, m in enumerate(chosen):
                end = chosen[i + 1].ts if i + 1 < len(chosen) else m.end
                self.windows.append((m.ts, max(end, m.end), m.name, m.dur))
        else:
            work = [e for e in ev if e.cat not in _IGNORED_CATS]
            start, end = min(e.ts for e in work), max(e.end for e in work)
            busy: Counter[LaneKey] = Counter()
            for e in work:
                if self.lane_of[e.lane].kind == "cpu":
                    busy[e.lane] += e.dur
            self.step_lane = max(busy, key=busy.__getitem__) if busy else work[0].lane
            self.windows = [(start, end, "(whole trace)", end - start)]
            self.notes.append(
                f"{self.trace.source}: no step ranges (ProfilerStep#N from torch.profiler's schedule and "
                f"prof.step(), or {STEP_RANGE} from nnperf bench): the whole trace is analysed as one step"
            )

    # -- nesting
    def _nest(self) -> None:
        ev = self.ev
        self.parent: dict[int, int] = {}
        self.children: dict[int, list[int]] = defaultdict(list)
        self.top: dict[LaneKey, list[int]] = {}
        for lane, members in self.lanes.items():
            stack: list[int] = []
            top: list[int] = []
            for i in members:
                e = ev[i]
                while stack and not (e.ts >= ev[stack[-1]].ts and e.end <= ev[stack[-1]].end + _EPS_US):
                    stack.pop()
                if stack:
                    self.parent[i] = stack[-1]
                    self.children[stack[-1]].append(i)
                elif top and e.ts < ev[top[-1]].end - _EPS_US:
                    # overlaps the previous top-level event without nesting (malformed, or streams that
                    # share a tid): kept as work, left out of the critical path's lane order
                    self.parent[i] = -1
                else:
                    top.append(i)
                stack.append(i)
            self.top[lane] = top

    def _ancestors(self, i: int) -> Iterable[int]:
        p = self.parent.get(i, -1)
        while p >= 0:
            yield p
            p = self.parent.get(p, -1)

    def _enclosing(self, lane: LaneKey, ts: float) -> int | None:
        """The innermost work event of a lane that covers the instant ts (a flow's end binds to it)."""
        top = self.top.get(lane)
        if not top:
            return None
        i = self._covering(top, ts)
        if i is None:
            return None
        while True:
            inner = self._covering(self.children.get(i, []), ts)
            if inner is None:
                return i
            i = inner

    def _covering(self, members: list[int], ts: float) -> int | None:
        """The last of ``members`` (disjoint, in start order) that starts at or before ts and covers it."""
        if not members:
            return None
        key = id(members)
        starts = self._starts.get(key)
        if starts is None:
            starts = self._starts[key] = [self.ev[i].ts for i in members]
        k = bisect.bisect_right(starts, ts + _EPS_US) - 1
        if k < 0 or self.ev[members[k]].end + _EPS_US < ts:
            return None
        return members[k]

    # -- launches: GPU event -> the CPU runtime call that launched it
    def _launches(self) -> None:
        ev = self.ev
        self._starts: dict[int, list[float]] = {}  # by id() of a member list that lives as long as self
        self.launch_of: dict[int, int] = {}
        self.cross_deps: list[tuple[int, int]] = []  # event -> event, across CPU threads (fwdbwd flows)
        for f in self.trace.flows:
            if f.cat == "ac2g":
                src = self._enclosing(f.start_lane, f.start_ts)
                dst = self._enclosing(f.end_lane, f.end_ts)
                if src is not None and dst is not None and ev[dst].cat in GPU_CATS:
                    self.launch_of[dst] = src
            elif f.cat == "fwdbwd" and f.start_lane != f.end_lane:
                src = self._enclosing(f.start_lane, f.start_ts)
                dst = self._enclosing(f.end_lane, f.end_ts)
                if src is not None and dst is not None:
                    self.cross_deps.append((src, dst))
        # Correlation ids: the same pairs where the flows are missing (some exporters drop them).
        runtime: dict[Any, int] = {}
        for members in self.lanes.values():
            for i in members:
                corr = ev[i].args.get("correlation")
                if ev[i].cat in LAUNCH_CATS and corr is not None:
                    runtime[corr] = i
        for members in self.lanes.values():
            for i in members:
                if ev[i].cat in GPU_CATS and i not in self.launch_of:
                    corr = ev[i].args.get("correlation")
                    if corr is not None and corr in runtime:
                        self.launch_of[i] = runtime[corr]

    # -- categories
    def _own(self, e: Event) -> int | None:
        if e.cat in LAUNCH_CATS and _SYNC.search(e.name):
            return PRIORITY.index("sync")
        if _COMM.search(e.name):
            return PRIORITY.index("communication")
        if e.cat in ("gpu_memcpy", "gpu_memset"):
            return PRIORITY.index("memcpy")
        if _DATA.search(e.name):
            return PRIORITY.index("data loading")
        if _OPTIMIZER.match(e.name):
            return PRIORITY.index("optimizer")
        return None

    def _categories(self) -> None:
        """cat[i]: the category an event gives the instants it covers (CPU: its own; GPU: with its launch's)."""
        ev = self.ev
        own = {i: self._own(ev[i]) for members in self.lanes.values() for i in members}
        self.context: dict[int, int] = {}  # CPU: the first-priority category of the event and its ancestors
        for members in self.lanes.values():
            for i in members:  # parents come before their children in nesting order
                p = self.parent.get(i, -1)
                mine = own[i] if own[i] is not None else _COMPUTE
                self.context[i] = min(mine, self.context[p]) if p >= 0 else mine
        sync = PRIORITY.index("sync")
        self.cat: dict[int, int] = {}
        for members in self.lanes.values():
            for i in members:
                k = own[i] if own[i] is not None else _COMPUTE
                if ev[i].cat in GPU_CATS and i in self.launch_of:
                    launched = self.context[self.launch_of[i]]
                    if launched != sync:
                        k = min(k, launched)
                self.cat[i] = k
        self.context.update({i: k for i, k in self.cat.items() if ev[i].cat in GPU_CATS})

    # -- the report
    def report(
        self,
        *,
        records: Sequence[OpRecord] | None,
        roofs: tuple[float, float, str] | None,
        top: int,
        rank: int | None,
    ) -> RankReport:
        ev = self.ev
        lanes = self.lane_of
        step_label = lanes[self.step_lane].label
        gpu_lanes = [k for k in self.lanes if lanes[k].kind == "gpu"]
        devices: dict[Hashable, list[LaneKey]] = defaultdict(list)
        for k in gpu_lanes:
            devices[lanes[k].device].append(k)
        device_cover = {d: _Cover.merge(self.covers[k] for k in ks) for d, ks in devices.items()}
        all_gpu = _Cover.merge(self.covers[k] for k in gpu_lanes) if gpu_lanes else None
        # The host of a device: the step thread and every thread that launched work onto it.
        host_lanes: dict[Hashable, set[LaneKey]] = {d: {self.step_lane} for d in devices}
        for g, c in self.launch_of.items():
            host_lanes[lanes[ev[g].lane].device].add(ev[c].lane)
        host_cover = {d: _Cover.merge(self.covers[k] for k in ks) for d, ks in host_lanes.items()}
        step_cover = self.covers.get(self.step_lane, _Cover([]))
        data = PRIORITY.index("data loading")

        nodes, deps = self._nodes()
        in_window, deps_in_window = self._by_window(nodes, deps)
        steps: list[StepReport] = []
        origin = self.windows[0][0]
        for n, (a, b, name, marker) in enumerate(self.windows):
            per_lane = {lanes[k].label: self.covers[k].by_category(a, b) for k in self.lanes}
            idle_gaps = {d: c.gaps(a, b) for d, c in device_cover.items()}
            if all_gpu is not None:
                gaps = all_gpu.gaps(a, b)
                stall = sum(
                    hi - lo for s0, e0 in gaps for lo, hi, k in step_cover._within(s0, e0) if k == data
                )
                comm = all_gpu.by_category(a, b)["communication"]
            else:
                stall = sum(hi - lo for lo, hi, k in step_cover._within(a, b) if k == data)
                comm = step_cover.by_category(a, b)["communication"]
            steps.append(
                StepReport(
                    index=n,
                    name=name,
                    start_s=(a - origin) * 1e-6,
                    duration_s=(b - a) * 1e-6,
                    marker_s=marker * 1e-6,
                    lanes=per_lane,
                    device_idle_s={f"GPU {d}": sum(y - x for x, y in g) * 1e-6 for d, g in idle_gaps.items()},
                    stall_s=stall * 1e-6,
                    communication_s=comm,
                    critical_path=self._path(nodes, in_window[n], deps_in_window[n], a, b),
                )
            )
        total = sum(s.duration_s for s in steps)
        count = len(steps)

        def per_step(x: float) -> float:
            return x / count

        def share(x: float) -> float:
            return x / total if total > 0 else 0.0

        # Lanes: mean seconds per step by category; lanes idle in every step are left out.
        breakdown: list[LaneBreakdown] = []
        order = sorted(self.lanes, key=lambda k: (k != self.step_lane, lanes[k].kind != "cpu", str(k)))
        for k in order:
            label = lanes[k].label
            sums = {c: sum(s.lanes[label][c] for s in steps) for c in CATEGORIES}
            if sum(v for c, v in sums.items() if c != "idle") <= 0:
                continue
            breakdown.append(
                LaneBreakdown(
                    label,
                    lanes[k].kind,
                    {c: per_step(v) for c, v in sums.items()},
                    {c: share(v) for c, v in sums.items()},
                )
            )

        # Idle attribution.
        idle: list[IdleCause] = []
        gpu_idle_share: dict[str, float] = {}
        gpu_waits: dict[str, float] = defaultdict(float)  # cause -> seconds over all steps and devices
        for d in devices:
            label = f"GPU {d}"
            gpu_idle_share[label] = share(sum(s.device_idle_s[label] for s in steps))
            causes: dict[str, float] = defaultdict(float)
            for a, b, _, _ in self.windows:
                for cat, secs in host_cover[d].in_intervals(device_cover[d].gaps(a, b)).items():
                    causes[_GPU_IDLE_CAUSE[cat]] += secs
            for cause, secs in sorted(causes.items(), key=lambda kv: -kv[1]):
                if secs > 0:
                    idle.append(IdleCause(label, cause, per_step(secs), share(secs)))
                    gpu_waits[cause] += secs
        host_sums = {c: sum(s.lanes[step_label][c] for s in steps) for c in CATEGORIES}
        for cat, cause in _HOST_WAIT_CAUSE.items():
            if host_sums[cat] > 0:
                idle.append(IdleCause(step_label, cause, per_step(host_sums[cat]), share(host_sums[cat])))

        stall_total = sum(s.stall_s for s in steps)
        variation = self._variation(steps)
        findings = self._findings(
            steps=steps,
            stall_s=stall_total,
            gpu=bool(devices),
            gpu_waits=gpu_waits,
            gpu_idle=max(gpu_idle_share.values(), default=0.0),
            host_sync_s=host_sums["sync"],
            host_idle_s=host_sums["idle"],
            comm_s=sum(s.communication_s for s in steps),
            variation=variation,
            total=total,
        )
        costed, costed_of = self._costed(records, roofs, count, bool(gpu_lanes))
        top_ops, top_kernels = self._top_ops(top, count, total, costed, costed_of)
        return RankReport(
            rank=rank,
            label=self.label,
            source=self.trace.source,
            device=", ".join(self.trace.devices) or ("gpu" if gpu_lanes else "cpu"),
            step_marker=self.step_marker,
            step_thread=step_label,
            steps=tuple(steps),
            lanes=tuple(breakdown),
            gpu_idle_share=gpu_idle_share,
            idle=tuple(idle),
            stall_share=share(stall_total),
            findings=tuple(findings),
            top_ops=top_ops,
            top_kernels=top_kernels,
            costed_ops=tuple(costed.values()),
            critical_path=self._mean_path(steps),
            variation=variation,
            notes=tuple(self.notes),
        )

    # -- findings
    def _findings(
        self,
        *,
        steps: list[StepReport],
        stall_s: float,
        gpu: bool,
        gpu_waits: dict[str, float],
        gpu_idle: float,
        host_sync_s: float,
        host_idle_s: float,
        comm_s: float,
        variation: Variation,
        total: float,
    ) -> list[Finding]:
        n = len(steps)
        out: list[Finding] = []

        def add(cause: str, secs: float, message: str, advice: tuple[str, ...]) -> None:
            if total > 0 and secs / total >= FINDING_SHARE:
                out.append(Finding(cause, secs / total, secs / n, message, advice))

        def pct(secs: float) -> str:
            x = secs / total if total > 0 else 0.0
            return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"

        who = "the GPU is idle while the host waits for" if gpu else "the training loop waits for"
        add(
            "data loading",
            stall_s,
            f"data loading stalls the step: for {pct(stall_s)} of the step time ({fmt_time(stall_s / n)} per step) "
            f"{who} the data loader",
            self._data_advice(steps),
        )
        host_bound = sum(v for k, v in gpu_waits.items() if k.startswith("waiting on the host"))
        add(
            "GPU waiting on the host",
            host_bound,
            f"the GPU is idle {pct(host_bound)} of the step time ({fmt_time(host_bound / n)} per step) while the host "
            "runs Python, dispatches ops and launches kernels",
            (
                "capture the step in CUDA graphs (torch.compile(mode='reduce-overhead')) or fuse small ops "
                "(torch.compile): fewer launches per step",
                "raise the batch size so each kernel does more work per launch",
                "move Python work (logging, metrics, checks) out of the step",
            ),
        )
        if gpu and gpu_idle >= FINDING_SHARE:
            syncs = Counter(
                self.ev[i].name
                for members in self.lanes.values()
                for i in members
                if self.cat[i] == PRIORITY.index("sync") and self._in_steps(self.ev[i].ts)
            )
            called = ", ".join(f"{k} x{v / n:g}" for k, v in syncs.most_common(3))
            callers = Counter(
                next((self.ev[p].name for p in self._ancestors(i) if self.ev[p].cat == "cpu_op"), "?")
                for members in self.lanes.values()
                for i in members
                if self.cat[i] == PRIORITY.index("sync") and self._in_steps(self.ev[i].ts)
            )
            from_ = ", ".join(k for k, _ in callers.most_common(3))
            add(
                "synchronisation",
                host_sync_s,
                f"the host blocks on the device {pct(host_sync_s)} of the step time ({called} per step, "
                f"from {from_}); each one drains the GPU's queue",
                (
                    "avoid .item(), .cpu(), .tolist(), print(tensor) and torch.cuda.synchronize() inside the "
                    "step: keep metrics on the device and read them every N steps",
                    "copy results to the host with non_blocking=True into pinned memory when they are needed "
                    "later",
                ),
            )
        if not gpu:  # with a GPU, untraced host time shows as the GPU waiting on the host
            add(
                "untraced host time",
                host_idle_s,
                f"the step thread runs no traced op {pct(host_idle_s)} of the step time ({fmt_time(host_idle_s / n)} "
                "per step): Python between ops, I/O or sleeping",
                (
                    "see the Python with torch.profiler(with_stack=True) or a sampling profiler (py-spy)",
                    "move per-step Python work (logging, metrics, checks) out of the loop or do it every N steps",
                ),
            )
        add(
            "communication",
            comm_s,
            f"communication takes {pct(comm_s)} of the step time ({fmt_time(comm_s / n)} per step)",
            (
                "overlap communication with the backward pass (DDP buckets: tune bucket_cap_mb)",
                "communicate less often (gradient accumulation with model.no_sync()) or less (bf16 gradients)",
                "a straggler rank makes the others wait in collectives: compare the ranks' traces",
            ),
        )
        if variation.steps >= 2 and variation.cv > VARIATION_CV:
            lost = sum(max(0.0, s.duration_s - variation.median_s) for s in steps)
            why = f" ({variation.slowest_cause})" if variation.slowest_cause else ""
            add(
                "step-time variation",
                lost,
                f"step times vary (CV {variation.cv:.0%}): step {variation.slowest_step} took "
                f"{variation.slowest_ratio:.2f}x the median{why}",
                (
                    "leave warm-up steps out of the profile (torch.profiler.schedule(wait=1, warmup=1, ...))",
                    "look for other processes, garbage collection or uneven batches in the slow steps",
                ),
            )
        out.sort(key=lambda f: -f.share)
        return out

    def _data_advice(self, steps: list[StepReport]) -> tuple[str, ...]:
        names = {e.name for e in self.ev if _DATA.search(e.name)}
        single = any(_SINGLE_PROCESS_LOADER in n for n in names)
        multi = any(_MULTI_PROCESS_LOADER in n for n in names)
        advice: list[str] = []
        if single:
            advice.append(
                "the DataLoader loads batches in the training process (num_workers=0): set num_workers > 0 "
                "(start with the number of free CPU cores) so batches are prepared while the model runs"
            )
        if multi:
            advice.append(
                "the DataLoader's worker processes do not keep up: raise num_workers, make __getitem__ cheaper "
                "(decoding, augmentation), or raise prefetch_factor (default 2 batches per worker) to absorb "
                "uneven batches"
            )
            first, rest = steps[0].stall_s, [s.stall_s for s in steps[1:]]
            if rest and first > 2 * statistics.median(rest):
                advice.append(
                    "the first step waits longest: workers start at each epoch; persistent_workers=True keeps "
                    "them alive between epochs"
                )
        if not (single or multi):
            advice.append(
                "the data pipeline does not keep up: prepare batches in background workers (DataLoader "
                "num_workers > 0) and prefetch them"
            )
        pageable = any(e.cat == "gpu_memcpy" and "Pageable" in e.name and "HtoD" in e.name for e in self.ev)
        if pageable:
            advice.append(
                "host-to-device copies come from pageable memory: pin_memory=True in the DataLoader and "
                ".to(device, non_blocking=True) make them faster and let them overlap compute"
            )
        return tuple(advice)

    # -- variation
    def _variation(self, steps: list[StepReport]) -> Variation:
        times = [s.duration_s for s in steps]
        mean = statistics.fmean(times)
        median = statistics.median(times)
        stdev = statistics.stdev(times) if len(times) >= 2 else 0.0
        slowest = max(range(len(steps)), key=lambda i: times[i])
        cause = None
        if len(steps) >= 2:
            best = (0.0, "", "")
            for lane in steps[slowest].lanes:
                for cat in CATEGORIES:
                    typical = statistics.median(s.lanes[lane][cat] for s in steps)
                    delta = steps[slowest].lanes[lane][cat] - typical
                    if delta > best[0]:
                        best = (delta, lane, cat)
            if best[0] > 0:
                cause = f"+{fmt_time(best[0])} of {best[2]} on {best[1]}"
        return Variation(
            steps=len(times),
            mean_s=mean,
            median_s=median,
            stdev_s=stdev,
            cv=stdev / mean if mean > 0 else 0.0,
            min_s=min(times),
            max_s=max(times),
            slowest_step=slowest,
            slowest_ratio=times[slowest] / median if median > 0 else 1.0,
            slowest_cause=cause,
        )

    # -- ops
    def _in_steps(self, ts: float) -> bool:
        k = bisect.bisect_right(self._window_starts, ts) - 1
        return k >= 0 and ts < self.windows[k][1]

    def _costed_ancestor(self, i: int, names: set[str]) -> int | None:
        """The outermost event among i and its ancestors whose name has static records."""
        found = i if self.ev[i].name in names else None
        for p in self._ancestors(i):
            if self.ev[p].name in names:
                found = p
        return found

    def _costed(
        self,
        records: Sequence[OpRecord] | None,
        roofs: tuple[float, float, str] | None,
        steps: int,
        gpu: bool,
    ) -> tuple[dict[str, CostedOp], dict[int, str]]:
        """Costed ops by name, and for each event the costed op it runs under (outermost costed ancestor)."""
        if not records:
            return {}, {}
        ev = self.ev
        by_name: dict[str, list[OpRecord]] = defaultdict(list)
        for r in records:
            by_name[profiler_name(r.op)].append(r)
        names = set(by_name)
        costed_of: dict[int, str] = {}
        calls: Counter[str] = Counter()
        cpu_us: dict[str, float] = defaultdict(float)
        dev_us: dict[str, float] = defaultdict(float)
        for members in self.lanes.values():
            for i in members:
                if not self._in_steps(ev[i].ts):
                    continue
                if ev[i].cat in GPU_CATS:
                    launch = self.launch_of.get(i)
                    owner = self._costed_ancestor(launch, names) if launch is not None else None
                    if owner is not None:
                        costed_of[i] = ev[owner].name
                        dev_us[ev[owner].name] += ev[i].dur
                    continue
                owner = self._costed_ancestor(i, names)
                if owner is None:
                    continue
                costed_of[i] = ev[owner].name
                if owner == i:
                    calls[ev[i].name] += 1
                    cpu_us[ev[i].name] += ev[i].dur
        out: dict[str, CostedOp] = {}
        for name in sorted(calls, key=lambda k: -(dev_us[k] if gpu else cpu_us[k])):
            recs = by_name[name]
            counted = [r for r in recs if r.flops is not None]
            flops = float(sum(r.flops * r.count for r in counted)) if counted else None  # type: ignore[operator]
            nbytes = float(sum(r.bytes * r.count for r in recs))
            time_s = (dev_us[name] if gpu else cpu_us[name]) * 1e-6 / steps
            achieved = flops / time_s if flops is not None and time_s > 0 else None
            inten = flops / nbytes if flops is not None and nbytes > 0 else None
            bound = eff = attain = None
            if roofs is not None and flops and nbytes > 0:
                p = place(flops, nbytes, roofs[0], roofs[1], achieved)
                bound, eff, attain = p.bound, p.efficiency, p.attainable_flops_per_s
            out[name] = CostedOp(
                name=name,
                calls_per_step=calls[name] / steps,
                time_s=time_s,
                time_source="device" if gpu else "cpu",
                flops=flops,
                bytes=nbytes,
                uncounted_calls=sum(r.count for r in recs if r.flops is None),
                intensity=inten,
                achieved_flops_per_s=achieved,
                attainable_flops_per_s=attain,
                bound=bound,
                efficiency=eff,
            )
        missing = sorted(n for n in names if n not in calls)
        if missing:
            self.notes.append(
                f"static records of {len(missing)} ops the trace does not show ({', '.join(missing[:5])}"
                f"{', ...' if len(missing) > 5 else ''}): their costs are not in the costed-op table"
            )
        return out, costed_of

    def _top_ops(
        self, top: int, steps: int, total: float, costed: dict[str, CostedOp], costed_of: dict[int, str]
    ) -> tuple[tuple[OpTime, ...], tuple[OpTime, ...]]:
        ev = self.ev
        self_us: dict[tuple[str, str], float] = defaultdict(float)
        calls: Counter[tuple[str, str]] = Counter()
        under: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        launcher: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for lane, members in self.lanes.items():
            kind = self.lane_of[lane].kind
            for i in members:
                e = ev[i]
                if e.cat == "user_annotation" or not self._in_steps(e.ts):
                    continue  # ranges are not ops (their own time is Python around the ops)
                own = e.dur - sum(ev[c].dur for c in self.children.get(i, ()))
                key = (kind, e.name)
                self_us[key] += max(own, 0.0)
                calls[key] += 1
                if i in costed_of:
                    under[key][costed_of[i]] += 1
                if kind == "gpu" and i in self.launch_of:
                    op = self.launch_of[i]
                    caller = next(
                        (ev[p].name for p in (op, *self._ancestors(op)) if ev[p].cat == "cpu_op"), ev[op].name
                    )
                    launcher[key][caller] += 1

        def row(key: tuple[str, str]) -> OpTime:
            kind, name = key
            owner = under[key].most_common(1)[0][0] if under[key] else None
            c = costed.get(owner) if owner else None
            return OpTime(
                name=name,
                kind=kind,
                calls_per_step=calls[key] / steps,
                time_s=self_us[key] * 1e-6 / steps,
                share=self_us[key] * 1e-6 / total if total > 0 else 0.0,
                launched_by=launcher[key].most_common(1)[0][0] if launcher[key] else None,
                costed_as=owner,
                bound=c.bound if c else None,
                efficiency=c.efficiency if c else None,
            )

        ranked = sorted(self_us, key=lambda k: -self_us[k])
        cpu = tuple(row(k) for k in ranked if k[0] == "cpu")[:top]
        gpu = tuple(row(k) for k in ranked if k[0] == "gpu")[:top]
        return cpu, gpu

    # -- critical path
    def _nodes(self) -> tuple[list[_Node], list[tuple[int, int]]]:
        """Spans (top-level CPU events split around their syncs, GPU events) and their explicit dependencies."""
        ev = self.ev
        sync = PRIORITY.index("sync")
        nodes: list[_Node] = []
        node_of: dict[int, list[int]] = defaultdict(list)  # event -> its node(s)
        for lane, top in self.top.items():
            for t in top:
                e = ev[t]
                cat = PRIORITY[self.context[t]]
                if self.cat[t] == sync:  # a top-level synchronisation call: it all waits
                    waits = [t]
                else:
                    waits = sorted(
                        (i for i in self._descendants(t) if self.cat[i] == sync and self._outer_sync(i, t)),
                        key=lambda i: ev[i].ts,
                    )
                cursor = e.ts
                for s in waits:
                    if ev[s].ts > cursor:
                        node_of[t].append(len(nodes))
                        nodes.append(_Node(lane, cursor, ev[s].ts, e.name, cat, t))
                    if s != t:
                        node_of[s].append(len(nodes))
                    else:
                        node_of[t].append(len(nodes))
                    nodes.append(_Node(lane, ev[s].ts, ev[s].end, ev[s].name, "sync", s, waits=True))
                    cursor = ev[s].end
                if e.end > cursor or not waits:
                    node_of[t].append(len(nodes))
                    nodes.append(_Node(lane, cursor, max(e.end, cursor), e.name, cat, t))
        # Rounding (ns in the file) can make neighbours overlap by a hair: start each after the previous.
        last_end: dict[LaneKey, float] = {}
        for n in sorted(nodes, key=lambda n: (n.start, n.end)):
            n.start = max(n.start, last_end.get(n.lane, -math.inf))
            n.end = max(n.end, n.start)
            last_end[n.lane] = n.end
        top_of: dict[int, int] = {}
        for top in self.top.values():
            for t in top:
                for i in (t, *self._descendants(t)):
                    top_of[i] = t

        def node_at(i: int, ts: float) -> int | None:
            """The node of event i's top-level event that holds the instant ts."""
            t = top_of.get(i)
            if t is None:
                return None
            for k in node_of[t] + node_of.get(i, []):
                if nodes[k].start - _EPS_US <= ts <= nodes[k].end + _EPS_US:
                    return k
            return node_of[t][-1] if node_of[t] else None

        deps: list[tuple[int, int]] = []
        for g, c in self.launch_of.items():
            src, dst = node_at(c, ev[c].ts), node_at(g, ev[g].ts)
            if src is not None and dst is not None:
                deps.append((src, dst))
        for a, b in self.cross_deps:
            src, dst = node_at(a, ev[a].end), node_at(b, ev[b].ts)
            if src is not None and dst is not None:
                deps.append((src, dst))
        # A sync waited for the device work that ended last while it blocked.
        gpu_nodes = sorted(
            (k for k, n in enumerate(nodes) if n.lane in self.lanes and self._is_gpu(n)),
            key=lambda k: nodes[k].end,
        )
        gpu_ends = [nodes[k].end for k in gpu_nodes]
        for k, n in enumerate(nodes):
            if n.waits:
                j = bisect.bisect_right(gpu_ends, n.end + _EPS_US) - 1
                if j >= 0 and gpu_ends[j] >= n.start:
                    deps.append((gpu_nodes[j], k))
        return nodes, deps

    def _is_gpu(self, node: _Node) -> bool:
        return self.lane_of[node.lane].kind == "gpu"

    def _descendants(self, i: int) -> Iterable[int]:
        stack = list(self.children.get(i, ()))
        while stack:
            c = stack.pop()
            yield c
            stack.extend(self.children.get(c, ()))

    def _outer_sync(self, i: int, top: int) -> bool:
        """True when no ancestor of i below ``top`` is itself a sync (nested syncs count once)."""
        sync = PRIORITY.index("sync")
        for p in self._ancestors(i):
            if p == top:
                return True
            if self.cat.get(p) == sync:
                return False
        return True

    def _windows_of(self, start: float, end: float) -> range:
        """Indices of the step windows that the interval [start, end) overlaps."""
        first = max(bisect.bisect_right(self._window_starts, start) - 1, 0)
        last = bisect.bisect_left(self._window_starts, end) - 1
        return range(first, last + 1)

    def _by_window(
        self, nodes: list[_Node], deps: list[tuple[int, int]]
    ) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """For each step window, the nodes that overlap it and the dependencies whose target does."""
        nodes_in: list[list[int]] = [[] for _ in self.windows]
        for k, node in enumerate(nodes):
            for w in self._windows_of(node.start, node.end):
                a, b = self.windows[w][0], self.windows[w][1]
                if node.start < b and node.end > a:
                    nodes_in[w].append(k)
        deps_in: list[list[tuple[int, int]]] = [[] for _ in self.windows]
        for x, y in deps:
            for w in self._windows_of(nodes[y].start, nodes[y].end):
                deps_in[w].append((x, y))
        return nodes_in, deps_in

    def _path(
        self, nodes: list[_Node], inside: list[int], deps: list[tuple[int, int]], a: float, b: float
    ) -> CriticalPath:
        local = {k: j for j, k in enumerate(inside)}
        clipped = [
            _Node(n.lane, max(n.start, a), min(n.end, b), n.name, n.category, n.event, n.waits)
            for n in (nodes[k] for k in inside)
        ]
        path = critical_path(clipped, [(local[x], local[y]) for x, y in deps if x in local and y in local])
        segments = tuple(
            PathSegment(
                lane=self.lane_of[clipped[p.index].lane].label,
                kind=self.lane_of[clipped[p.index].lane].kind,
                name=clipped[p.index].name,
                category=clipped[p.index].category,
                start_s=(p.start - a) * 1e-6,
                end_s=(p.end - a) * 1e-6,
            )
            for p in path
        )
        return _summarise_path(segments)

    def _mean_path(self, steps: list[StepReport]) -> CriticalPath:
        """Mean over steps by lane and category; the segments of the median-length step."""
        n = len(steps)
        by_lane: dict[str, float] = defaultdict(float)
        by_cat: dict[str, float] = defaultdict(float)
        for s in steps:
            for k, v in s.critical_path.by_lane.items():
                by_lane[k] += v / n
            for k, v in s.critical_path.by_category.items():
                by_cat[k] += v / n
        ordered = sorted(steps, key=lambda s: s.duration_s)
        median = ordered[(n - 1) // 2].critical_path
        return CriticalPath(
            length_s=sum(s.critical_path.length_s for s in steps) / n,
            span_s=sum(s.critical_path.span_s for s in steps) / n,
            by_lane=dict(by_lane),
            by_category=dict(by_cat),
            segments=median.segments,
        )


def _summarise_path(segments: tuple[PathSegment, ...]) -> CriticalPath:
    by_lane: dict[str, float] = defaultdict(float)
    by_cat: dict[str, float] = defaultdict(float)
    for s in segments:
        by_lane[s.lane] += s.end_s - s.start_s
        by_cat[s.category] += s.end_s - s.start_s
    return CriticalPath(
        length_s=sum(s.end_s - s.start_s for s in segments),
        span_s=segments[-1].end_s - segments[0].start_s if segments else 0.0,
        by_lane=dict(by_lane),
        by_category=dict(by_cat),
        segments=segments,
    )


# What a device's idle time is attributed to, by what its host was doing at that instant.
_GPU_IDLE_CAUSE: dict[str, str] = {
    "data loading": "waiting for data (host in the data loader)",
    "sync": "synchronisation (host blocked on the device)",
    "communication": "waiting for communication (host in a collective)",
    "compute": "waiting on the host (CPU work, op dispatch, kernel launches)",
    "optimizer": "waiting on the host (CPU work, op dispatch, kernel launches)",
    "memcpy": "waiting on the host (CPU work, op dispatch, kernel launches)",
    "idle": "waiting on the host (untraced host time: Python, I/O, sleep)",
}
# What the step thread's non-compute time is.
_HOST_WAIT_CAUSE: dict[str, str] = {
    "data loading": "waiting for data (in the data loader)",
    "sync": "waiting on the device (synchronisation)",
    "communication": "waiting for communication (in collectives)",
    "idle": "untraced (Python between ops, I/O, sleep)",
}


def profiler_name(op: str) -> str:
    """A static record's op name as the profiler shows it: 'aten.addmm.default' -> 'aten::addmm'."""
    if "::" in op:
        return op
    parts = op.split(".")
    return f"{parts[0]}::{parts[1]}" if len(parts) >= 2 else op


# ---- entry point -----------------------------------------------------------------------------------------------
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
        from nnperf.machine.nominal import nominal_gpu

        (name,) = names
        card = nominal_gpu(name)
        if card and card["flops"].get(dtype) and card.get("memory_bandwidth"):
            label = f"nominal {dtype} and memory bandwidth of {name} (spec sheet, not measured)"
            return (float(card["flops"][dtype]), float(card["memory_bandwidth"]), label), [
                f"roofline classes use the {label}"
            ]
    return None, [
        "no roofs for the costed ops' roofline classes: give a machine profile (nnperf trace --machine FILE, "
        "analyze(ceilings=...)); their FLOPs, intensity and achieved FLOP/s are shown"
    ]


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
        analysis = _Rank(t, f"rank {r}" if known else Path(t.source).name)
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
