"""Per-op and per-module breakdown of a measured step: torch.profiler times joined with the static costs.

``profile_step`` runs a step under ``torch.profiler`` and keeps, for each *top-level op call* (an operator
event with no operator among its ancestors, so that times do not nest and add up), its inclusive CPU time,
its device time (CUDA kernels launched under it), its module and whether autograd's engine ran it.
``join_costs`` then puts the FLOPs and bytes that :class:`nnperf.static.counter.CostCounter` recorded for
the same step next to those times, giving achieved FLOP/s and arithmetic intensity per op and per module.

Module attribution:

* forward: while profiling, forward pre/post hooks on every submodule open and close a
  ``record_function("nnperf.module::<path>")`` range; an op belongs to the innermost range around it (the
  same rule as :class:`nnperf.static.scope.ModuleScope`; "" is the model itself or code outside it);
* backward: autograd runs backward nodes outside any module range (on CUDA, on another thread). Each node
  is wrapped in an ``autograd::engine::evaluate_function: XBackward0`` event whose ``sequence_nr`` is the
  sequence number of the forward op that created the node (``fwd_thread`` names the forward thread). A
  forward op event records the sequence number current when it starts; the op that creates node *n* is the
  last one to start while the number is still *n* (creating the node moves it to *n + 1*; later starters
  with *n* are nested inside the creator). So a backward op is given the module of the last forward op of
  its node's sequence number. Nodes without one (``AccumulateGrad``) go to the ``(backward)`` row.

Joining static costs to profiled ops. The counter sees ops *below* autograd (``aten.convolution.default``
once ``aten::conv2d`` has been decomposed), while the profiler's top-level events are the ops as called
(``aten::conv2d``, composites included). The rule:

1. a record's op "aten.convolution.default" is named "aten::convolution" (overload dropped);
2. inside each top-level op's event subtree, the outermost events whose names are record op names are its
   *parts* (conv2d -> convolution; the kernels below convolution are not looked at);
3. records and parts are matched by (op name, shapes of the non-scalar tensor arguments). With ``k`` parts
   of a key per iteration and ``r`` record calls of that key, ``min(k, r)`` record calls' worth of costs is
   spread evenly over the parts (so extra parts are not given costs twice, and missing ones leave costs);
4. what is left is matched by op name alone (the profiler shows a tensor list as ``[]``; ``aten::cat``
   matches this way), in the same way;
5. costs still left go to an ``(unmatched)`` op row: the op rows' FLOPs always sum to the records'
   counted FLOPs. A row whose ops matched no record has ``flops is None`` (nothing known), not 0.

The module table joins at the module level: the FLOPs of a module row are those of the records the counter
attributed to that module (forward, loss and optimizer records to the module's forward row, backward
records to its backward row), next to the measured time of the ops attributed to it above. Its rows also sum
to the records' total; a module with records but no profiled ops keeps its row, with zero time.

Times are per iteration (sum over the profiled iterations divided by their number) and include the
profiler's own overhead per op; they are a breakdown, not a replacement for the timing protocol.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nnperf.errors import UsageError
from nnperf.records.static_profile import OpRecord
from nnperf.units import fmt_bytes, fmt_flops

__all__ = [
    "BACKWARD",
    "UNMATCHED",
    "Breakdown",
    "ProfiledOp",
    "ProfiledRun",
    "Row",
    "breakdown_text",
    "join_costs",
    "op_name",
    "profile_step",
]

MODULE_RANGE = "nnperf.module::"  # prefix of the record_function range around each module call
STEP_RANGE = "nnperf.step"  # record_function range around each profiled iteration
BACKWARD = "(backward)"  # module row of backward ops whose forward module is unknown
UNMATCHED = "(unmatched)"  # op row of static costs that no profiled op matched
_ENGINE_PREFIX = "autograd::engine::evaluate_function:"

ShapeKey = tuple[tuple[int, ...], ...]


# -- what the profiler saw ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProfiledOp:
    """One top-level op call in one profiled iteration."""

    name: str  # "aten::conv2d"
    phase: str  # "backward" when autograd's engine ran it, else "forward" (forward, loss, optimizer)
    module: str | None  # innermost module path; None: a backward op whose forward module is unknown
    cpu_time_s: float  # inclusive
    device_time_s: float  # kernels launched under it (0 on CPU)
    # (name, depth, shapes) of the operator events in its subtree, itself first, in pre-order
    tree: tuple[tuple[str, int, ShapeKey], ...]


@dataclass(frozen=True, slots=True)
class ProfiledRun:
    device: str  # "cpu", "cuda", ...
    iterations: int
    step_time_s: float  # per iteration: the step range's CPU wall time (CUDA: synchronized at its end)
    ops: tuple[ProfiledOp, ...]  # every top-level op call of all iterations
    trace_path: Path | None = None

    @property
    def time_source(self) -> str:
        """Which time the tables use: the kernels' time on CUDA (the only device profiled), else the CPU's."""
        return "device" if self.device == "cuda" else "cpu"


# -- the joined result ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Row:
    """One op (by name) or one module (by path), in one phase; every quantity per iteration."""

    name: str  # op name, module path ("" = the model itself / outside it), BACKWARD or UNMATCHED
    phase: str  # "forward" or "backward" ("" for the (unmatched) row)
    calls: float  # top-level op calls (UNMATCHED: unmatched record calls)
    time_s: float  # the time the table is about (see Breakdown.time_source)
    cpu_time_s: float
    device_time_s: float
    share: float  # time_s / step time
    flops: float | None  # None: no static record was matched to these ops (unknown, not zero)
    bytes: float | None  # read + written
    uncounted: float  # matched record calls that no formula could cost: flops is a lower bound if > 0

    @property
    def achieved_flops_per_s(self) -> float | None:
        return self.flops / self.time_s if self.flops is not None and self.time_s > 0 else None

    @property
    def intensity(self) -> float | None:
        """FLOPs per byte of minimum traffic."""
        return self.flops / self.bytes if self.flops is not None and self.bytes else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "calls": self.calls,
            "time_s": self.time_s,
            "cpu_time_s": self.cpu_time_s,
            "device_time_s": self.device_time_s,
            "share": self.share,
            "flops": self.flops,
            "bytes": self.bytes,
            "uncounted": self.uncounted,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "intensity": self.intensity,
        }


@dataclass(frozen=True, slots=True)
class Breakdown:
    device: str
    iterations: int
    time_source: str  # "cpu" or "device"
    step_time_s: float  # per iteration
    total_flops: int  # counted FLOPs of the records (one iteration)
    matched_flops: float  # of which matched to a profiled op (the rest is the (unmatched) op row)
    total_bytes: int
    uncounted_calls: int  # record calls no formula could cost
    ops: tuple[Row, ...]
    modules: tuple[Row, ...]
    trace_path: str | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "iterations": self.iterations,
            "time_source": self.time_source,
            "step_time_s": self.step_time_s,
            "total_flops": self.total_flops,
            "matched_flops": self.matched_flops,
            "total_bytes": self.total_bytes,
            "uncounted_calls": self.uncounted_calls,
            "trace_path": self.trace_path,
            "notes": list(self.notes),
            "ops": [r.to_dict() for r in self.ops],
            "modules": [r.to_dict() for r in self.modules],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Breakdown:
        """Rebuild from :meth:`to_dict` (a Measurement record's ``ops``); derived row fields are recomputed."""
        derived = ("achieved_flops_per_s", "intensity")

        def rows(items: list[dict[str, Any]]) -> tuple[Row, ...]:
            return tuple(Row(**{k: v for k, v in r.items() if k not in derived}) for r in items)

        return cls(
            device=data["device"],
            iterations=data["iterations"],
            time_source=data["time_source"],
            step_time_s=data["step_time_s"],
            total_flops=data["total_flops"],
            matched_flops=data["matched_flops"],
            total_bytes=data["total_bytes"],
            uncounted_calls=data["uncounted_calls"],
            ops=rows(data["ops"]),
            modules=rows(data["modules"]),
            trace_path=data.get("trace_path"),
            notes=tuple(data.get("notes", ())),
        )


# -- profiling -----------------------------------------------------------------------------------------------
class _ModuleRanges:
    """Hooks that wrap each module call in a record_function range; removed on exit."""

    def __init__(self, model: torch.nn.Module) -> None:
        # The same names as ModuleScope: a module reachable under several paths keeps its first one.
        self.names: dict[int, str] = {}
        for name, module in model.named_modules(remove_duplicate=False):
            self.names.setdefault(id(module), name)
        self.model = model
        self._open: list[Any] = []
        self._handles: list[Any] = []

    def _pre(self, module: torch.nn.Module, args: Any) -> None:
        rf = torch.profiler.record_function(MODULE_RANGE + self.names.get(id(module), type(module).__name__))
        rf.__enter__()
        self._open.append(rf)

    def _post(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        if self._open:
            self._open.pop().__exit__(None, None, None)

    def __enter__(self) -> _ModuleRanges:
        try:
            for module in self.model.modules():
                self._handles.append(module.register_forward_pre_hook(self._pre))
                # always_call: the range closes even when the forward raises
                self._handles.append(module.register_forward_hook(self._post, always_call=True))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        while self._open:
            self._open.pop().__exit__(None, None, None)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_step(
    step: Callable[[], None],
    *,
    iterations: int = 3,
    warmup: int = 1,
    model: torch.nn.Module | None = None,
    device: torch.device,
    trace_path: Path | None = None,
) -> ProfiledRun:
    """Run ``step`` ``warmup`` times, then ``iterations`` times under torch.profiler; see the module doc.

    Each profiled iteration is a ``nnperf.step`` range (on CUDA the device is synchronized inside it, so it
    spans the kernels too). ``model``: its modules get ranges while profiling only (hooks removed on return,
    error or not); without it every forward op is in the "" module row. ``trace_path``: where to write the
    Chrome / Perfetto trace (open it at https://ui.perfetto.dev or chrome://tracing).
    """
    if iterations < 1:
        raise UsageError(f"iterations must be at least 1, got {iterations}")
    if warmup < 0:
        raise UsageError(f"warmup must be 0 or more, got {warmup}")
    device = torch.device(device)
    from torch.profiler import ProfilerActivity, profile, record_function

    for _ in range(warmup):
        step()
    _sync(device)
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    ranges = _ModuleRanges(model) if model is not None else contextlib.nullcontext()
    with profile(activities=activities, record_shapes=True) as prof, ranges:
        for _ in range(iterations):
            with record_function(STEP_RANGE):
                step()
                _sync(device)  # the range then covers the device work it launched
    if trace_path is not None:
        _export_trace(prof, Path(trace_path))
    events = list(prof.events())
    return _collect(events, device, iterations, Path(trace_path) if trace_path is not None else None)


def _export_trace(prof: Any, path: Path) -> None:
    """Write the trace to a temporary file, then rename: a crash never leaves half a trace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        prof.export_chrome_trace(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _operator_names() -> set[str]:
    """Registered operator names without overload ("aten::conv2d"): tells ops from record_function ranges."""
    return {name.split(".", 1)[0] for name in torch._C._dispatch_get_all_op_names()}


def _shape_key(shapes: Iterable[Any]) -> ShapeKey:
    """Shapes of the non-scalar tensor arguments: what both the profiler and the counter can report.

    The profiler writes ``[]`` for scalars, 0-d tensors and tensor lists alike, so all three are dropped.
    """
    key: list[tuple[int, ...]] = []
    for s in shapes:
        if isinstance(s, (list, tuple)) and s and all(isinstance(d, int) for d in s):
            key.append(tuple(int(d) for d in s))
    return tuple(key)


def _ancestors(e: Any) -> Iterator[Any]:
    p = e.cpu_parent
    while p is not None:
        yield p
        p = p.cpu_parent


def _tree(e: Any, ops: set[str], depth: int, out: list[tuple[str, int, ShapeKey]]) -> None:
    if e.name in ops:
        out.append((e.name, depth, _shape_key(e.input_shapes or ())))
    for c in e.cpu_children:
        _tree(c, ops, depth + 1, out)


def _collect(events: list[Any], device: torch.device, iterations: int, trace: Path | None) -> ProfiledRun:
    ops = _operator_names()
    step_us = 0.0
    top: list[tuple[Any, str, str | None, tuple[int, int] | None]] = []  # event, phase, module, node key
    # (forward thread, sequence number) -> (start time, module) of the last forward op that saw it
    creators: dict[tuple[int, int], tuple[float, str]] = {}
    for e in events:
        if e.name == STEP_RANGE:
            step_us += e.cpu_time_total
            continue
        if e.name not in ops:
            continue
        module: str | None = None
        engine = None
        nested = False
        for a in _ancestors(e):
            if a.name in ops:
                nested = True
            elif engine is None and a.name.startswith(_ENGINE_PREFIX):
                engine = a
            elif module is None and a.name.startswith(MODULE_RANGE):
                module = a.name[len(MODULE_RANGE) :]
        if engine is None:
            module = module or ""
            seq = getattr(e, "sequence_nr", -1)
            if seq is not None and seq >= 0:
                start = float(e.time_range.start)
                key = (int(e.thread), int(seq))
                if key not in creators or creators[key][0] <= start:
                    creators[key] = (start, module)
        if nested:
            continue
        node = None
        if engine is not None:
            seq = getattr(engine, "sequence_nr", -1)
            fwd = getattr(engine, "fwd_thread", None)
            if seq is not None and seq >= 0 and fwd is not None:
                node = (int(fwd), int(seq))
        top.append((e, "forward" if engine is None else "backward", module, node))
    profiled = []
    for e, phase, module, node in top:
        if phase == "backward":
            module = creators[node][1] if node in creators else None
        tree: list[tuple[str, int, ShapeKey]] = []
        _tree(e, ops, 0, tree)
        device_us = float(e.device_time_total) if device.type == "cuda" else 0.0
        profiled.append(
            ProfiledOp(e.name, phase, module, e.cpu_time_total * 1e-6, device_us * 1e-6, tuple(tree))
        )
    return ProfiledRun(device.type, iterations, step_us * 1e-6 / iterations, tuple(profiled), trace)


# -- the join ------------------------------------------------------------------------------------------------
def op_name(record_op: str) -> str:
    """'aten.convolution.default' -> 'aten::convolution' (the profiler's spelling, overload dropped)."""
    parts = record_op.split(".")
    return f"{parts[0]}::{parts[1]}" if len(parts) >= 2 else record_op


@dataclass(slots=True)
class _Mass:
    """Static costs per iteration: record calls, counted FLOPs, bytes, uncounted calls."""

    calls: float = 0.0
    flops: float = 0.0
    bytes: float = 0.0
    uncounted: float = 0.0

    def add(self, other: _Mass, scale: float = 1.0) -> None:
        self.calls += other.calls * scale
        self.flops += other.flops * scale
        self.bytes += other.bytes * scale
        self.uncounted += other.uncounted * scale

    @staticmethod
    def of(r: OpRecord) -> _Mass:
        return _Mass(
            float(r.count),
            float(r.flops * r.count) if r.flops is not None else 0.0,
            float(r.bytes * r.count),
            float(r.count) if r.flops is None else 0.0,
        )


def _parts(op: ProfiledOp, names: set[str]) -> list[tuple[str, ShapeKey]]:
    """The outermost events of the op's subtree that the counter could have recorded (rule 2)."""
    out = []
    below = None  # depth of the part we are inside of
    for name, depth, shapes in op.tree:
        if below is not None and depth > below:
            continue
        below = None
        if name in names:
            out.append((name, shapes))
            below = depth
    return out


def _match(
    wanted: dict[Any, _Mass], capacity: dict[Any, list[list[float]]], gained: list[_Mass], iterations: int
) -> dict[Any, _Mass]:
    """Match record costs to parts of one key; return what is left of the costs.

    ``capacity[key]`` lists ``[op index, capacity]`` cells, a capacity being the record calls per iteration
    a part can still take (1 / iterations to begin with); taken capacity is subtracted in place.
    """
    left: dict[Any, _Mass] = {}
    for key, mass in wanted.items():
        if mass.calls <= 0:  # a record standing for no call carries no cost
            continue
        cells = capacity.get(key, [])
        free = sum(c[1] for c in cells)
        take = min(free, mass.calls)
        if take > 0:
            per_call = 1.0 / mass.calls
            for cell in cells:
                share = take * cell[1] / free  # spread in proportion to what each part can take
                gained[int(cell[0])].add(mass, share * per_call)
                cell[1] -= share
        rest = mass.calls - take
        if rest > 1e-12 * max(1.0, mass.calls):
            m = _Mass()
            m.add(mass, rest / mass.calls)
            left[key] = m
    return left


def join_costs(profiled: ProfiledRun, records: list[OpRecord]) -> Breakdown:
    """Join the static costs of one iteration (``records``) with a profiled run; see the module doc."""
    it = profiled.iterations
    time_of = (lambda o: o.device_time_s) if profiled.time_source == "device" else (lambda o: o.cpu_time_s)
    step = profiled.step_time_s

    # Record costs by (op name, shapes): stage 1 of the match.
    by_key: dict[tuple[str, ShapeKey], _Mass] = defaultdict(_Mass)
    total = _Mass()
    for r in records:
        m = _Mass.of(r)
        by_key[(op_name(r.op), _shape_key(r.shapes))].add(m)
        total.add(m)
    names = {k[0] for k in by_key}

    cap_key: dict[Any, list[list[float]]] = defaultdict(list)
    for i, op in enumerate(profiled.ops):
        for part in _parts(op, names):
            cap_key[part].append([i, 1.0 / it])
    gained = [_Mass() for _ in profiled.ops]
    left = _match(dict(by_key), cap_key, gained, it)
    # Stage 2: what is left, by op name alone, against the parts' remaining capacity.
    by_name: dict[Any, _Mass] = defaultdict(_Mass)
    for (name, _), m in left.items():
        by_name[name].add(m)
    cap_name: dict[Any, list[list[float]]] = defaultdict(list)
    for (name, _), cells in cap_key.items():
        cap_name[name].extend(c for c in cells if c[1] > 1e-15)
    unmatched = _Mass()
    for m in _match(dict(by_name), cap_name, gained, it).values():
        unmatched.add(m)

    op_rows = _rows(
        ((op.name, op.phase) for op in profiled.ops), profiled.ops, gained, time_of, it, step, matched=True
    )
    if unmatched.calls > 0:
        op_rows.append(
            Row(
                UNMATCHED,
                "",
                unmatched.calls,
                0.0,
                0.0,
                0.0,
                0.0,
                unmatched.flops,
                unmatched.bytes,
                unmatched.uncounted,
            )
        )

    # Module table: times from the profiled ops, costs from the records' own module attribution.
    mod_cost: dict[tuple[str, str], _Mass] = defaultdict(_Mass)
    for r in records:
        mod_cost[(r.module, "backward" if r.phase == "backward" else "forward")].add(_Mass.of(r))
    mod_keys = [(BACKWARD if op.module is None else op.module, op.phase) for op in profiled.ops]
    mod_rows = _rows(mod_keys, profiled.ops, None, time_of, it, step, matched=False, costs=mod_cost)

    notes = []
    if unmatched.calls > 0:
        notes.append(
            f"{unmatched.calls:g} record calls per iteration matched no profiled op; their costs are in the "
            f"{UNMATCHED} row"
        )
    return Breakdown(
        device=profiled.device,
        iterations=it,
        time_source=profiled.time_source,
        step_time_s=step,
        total_flops=int(total.flops),
        matched_flops=total.flops - unmatched.flops,
        total_bytes=int(total.bytes),
        uncounted_calls=int(total.uncounted),
        ops=tuple(_by_time(op_rows)),
        modules=tuple(_by_time(mod_rows)),
        trace_path=str(profiled.trace_path) if profiled.trace_path is not None else None,
        notes=tuple(notes),
    )


def _rows(
    keys: Iterable[tuple[str, str]],
    ops: tuple[ProfiledOp, ...],
    gained: list[_Mass] | None,
    time_of: Callable[[ProfiledOp], float],
    it: int,
    step: float,
    *,
    matched: bool,
    costs: dict[tuple[str, str], _Mass] | None = None,
) -> list[Row]:
    """Sum ops into rows by key; costs from ``gained`` (per op) or ``costs`` (per key)."""
    calls: dict[tuple[str, str], int] = defaultdict(int)
    times: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    mass: dict[tuple[str, str], _Mass] = defaultdict(_Mass)
    for i, key in enumerate(keys):
        op = ops[i]
        calls[key] += 1
        t = times[key]
        t[0] += time_of(op)
        t[1] += op.cpu_time_s
        t[2] += op.device_time_s
        if gained is not None:
            mass[key].add(gained[i])
    if costs is not None:
        for key, m in costs.items():
            mass[key].add(m)
            calls.setdefault(key, 0)
    rows = []
    for key in calls:
        t = times.get(key, [0.0, 0.0, 0.0])
        m = mass.get(key, _Mass())
        known = m.calls > 0
        rows.append(
            Row(
                name=key[0],
                phase=key[1],
                calls=calls[key] / it,
                time_s=t[0] / it,
                cpu_time_s=t[1] / it,
                device_time_s=t[2] / it,
                share=t[0] / it / step if step > 0 else 0.0,
                flops=m.flops if known else None,
                bytes=m.bytes if known else None,
                uncounted=m.uncounted,
            )
        )
    return rows


def _by_time(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (-r.time_s, -(r.flops or 0.0), r.name, r.phase))


# -- view ----------------------------------------------------------------------------------------------------
def _label(row: Row, module: bool) -> str:
    name = row.name
    if module and name == "":
        name = "(top level)"
    return f"{name} [bw]" if row.phase == "backward" and name != BACKWARD else name


def _table(title: str, rows: tuple[Row, ...], top: int, module: bool) -> list[str]:
    head = ("calls", "time ms", "share", "FLOPs", "bytes", "FLOP/s", "FLOP/B")
    cells = []
    for r in rows[:top]:
        flops = "-" if r.flops is None else fmt_flops(r.flops) + ("+" if r.uncounted else "")
        achieved = r.achieved_flops_per_s
        intensity = r.intensity
        cells.append(
            (
                _label(r, module),
                f"{r.calls:g}",
                f"{r.time_s * 1e3:.3f}",
                f"{r.share * 100:.1f}%",
                flops,
                "-" if r.bytes is None else fmt_bytes(r.bytes),
                "-" if achieved is None else fmt_flops(achieved),
                "-" if intensity is None else f"{intensity:.2f}",
            )
        )
    width = max([len(title), *(len(c[0]) for c in cells)])
    widths = [max(len(h), *(len(c[i + 1]) for c in cells)) if cells else len(h) for i, h in enumerate(head)]
    lines = [title.ljust(width) + "  " + "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    for c in cells:
        lines.append(
            c[0].ljust(width) + "  " + "  ".join(v.rjust(w) for v, w in zip(c[1:], widths, strict=True))
        )
    if len(rows) > top:
        lines.append(f"... {len(rows) - top} more")
    return lines


def breakdown_text(b: Breakdown, top: int = 15) -> str:
    """Plain-text tables, ops then modules, each sorted by time (largest first), ``top`` rows each."""
    lines = [
        f"step {b.step_time_s * 1e3:.3f} ms per iteration ({b.iterations} profiled, {b.time_source} time); "
        f"{fmt_flops(b.total_flops)}FLOP counted ({fmt_flops(b.matched_flops)}FLOP matched to ops), "
        f"{fmt_bytes(b.total_bytes)} moved"
        + (f", {b.uncounted_calls} uncounted op calls" if b.uncounted_calls else ""),
        "",
        *_table("op", b.ops, top, module=False),
        "",
        *_table("module", b.modules, top, module=True),
    ]
    lines += [f"note: {n}" for n in b.notes]
    if b.trace_path:
        lines.append(f"trace: {b.trace_path} (open in https://ui.perfetto.dev)")
    return "\n".join(lines)
