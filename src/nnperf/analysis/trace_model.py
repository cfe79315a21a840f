"""The trace as loaded: the events, flows and lanes of a Chrome / Perfetto JSON trace, and its loaders.

:func:`load_trace` reads a file (``.json`` or ``.json.gz``, closing a trace that was cut short) and
:func:`trace_from_dict` builds a :class:`Trace` from parsed JSON; both raise a :class:`UsageError` with a
one-line reason when the input is not a trace. Kept apart from the analysis (:mod:`nnperf.analysis.trace`):
this module knows the file format and nothing of steps, categories or findings.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnperf.errors import UsageError

GPU_CATS = frozenset({"kernel", "gpu_memcpy", "gpu_memset"})
LAUNCH_CATS = frozenset({"cuda_runtime", "cuda_driver"})
# Not work on a lane: the profiler's own span, Python frames (the outer ones cover every instant), the
# GPU-side copies of record_function ranges, profiler overhead and instant markers.
IGNORED_CATS = frozenset(
    {
        "Trace",
        "python_function",
        "gpu_user_annotation",
        "overhead",
        "cpu_instant_event",
        "cuda_profiler_range",
    }
)
EPS_US = 0.01  # timestamps are printed to 3 decimals (ns): a child may end 1 ns after its parent

LaneKey = tuple[Hashable, Hashable]


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
        if e.cat not in IGNORED_CATS:
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
