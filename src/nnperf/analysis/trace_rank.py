"""The analysis of one trace (one rank): steps, event nesting, launches, categories and the rank's report.

:class:`RankAnalysis` indexes a :class:`~nnperf.analysis.trace_model.Trace` once: the step windows, the
parent and children of each event, the CPU call that launched each GPU event, each event's category and
each lane's busy cover. :meth:`RankAnalysis.report` builds the rank's
:class:`~nnperf.analysis.trace_report.RankReport`: the per-step lane breakdown and the idle attribution are
computed here; the findings and variation (:mod:`nnperf.analysis.trace_findings`), the top and costed ops
(:mod:`nnperf.analysis.trace_ops`) and the critical path (:mod:`nnperf.analysis.trace_critical_path`) are
module functions that read this state, one concern per file. The definitions are in
:mod:`nnperf.analysis.trace`'s module doc.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from nnperf.analysis.intervals import Cover, busy_cover
from nnperf.analysis.trace_categories import CATEGORIES, COMPUTE, PRIORITY, own_category
from nnperf.analysis.trace_critical_path import mean_path, nodes_by_window, path_nodes, step_path
from nnperf.analysis.trace_findings import rank_findings, step_variation
from nnperf.analysis.trace_model import EPS_US, GPU_CATS, IGNORED_CATS, LAUNCH_CATS, LaneKey, Trace
from nnperf.analysis.trace_ops import costed_ops, top_op_tables
from nnperf.analysis.trace_report import IdleCause, LaneBreakdown, RankReport, StepReport
from nnperf.records.static_profile import OpRecord

# The same name as nnperf.measure.op_breakdown.STEP_RANGE (not imported from there: that module imports torch).
STEP_RANGE = "nnperf.step"
_PROFILER_STEP = re.compile(r"^ProfilerStep#(\d+)$")

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


class RankAnalysis:
    """The analysis of one trace (one rank); the report is built by :meth:`report`.

    The state that the findings, ops and critical-path modules read (events by their index in ``ev``):
    ``lanes`` (work events per lane, in nesting order), ``lane_of``, ``windows`` (start, end, name and range
    duration of each step), ``parent``, ``children`` and ``top`` (nesting), ``launch_of`` (GPU event -> the
    CPU call that launched it), ``cross_deps``, ``cat`` and ``context`` (indices into PRIORITY), ``notes``.
    """

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
            if e.cat in IGNORED_CATS or e.index in self.marker_set:
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
            lane: Cover(busy_cover((ev[i].ts, ev[i].end, self.cat[i]) for i in members))
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
            work = [e for e in ev if e.cat not in IGNORED_CATS]
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

    def in_steps(self, ts: float) -> bool:
        """True when the instant ts falls inside a step window."""
        k = bisect.bisect_right(self._window_starts, ts) - 1
        return k >= 0 and ts < self.windows[k][1]

    def windows_of(self, start: float, end: float) -> range:
        """Indices of the step windows that the interval [start, end) overlaps."""
        first = max(bisect.bisect_right(self._window_starts, start) - 1, 0)
        last = bisect.bisect_left(self._window_starts, end) - 1
        return range(first, last + 1)

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
                while stack and not (e.ts >= ev[stack[-1]].ts and e.end <= ev[stack[-1]].end + EPS_US):
                    stack.pop()
                if stack:
                    self.parent[i] = stack[-1]
                    self.children[stack[-1]].append(i)
                elif top and e.ts < ev[top[-1]].end - EPS_US:
                    # overlaps the previous top-level event without nesting (malformed, or streams that
                    # share a tid): kept as work, left out of the critical path's lane order
                    self.parent[i] = -1
                else:
                    top.append(i)
                stack.append(i)
            self.top[lane] = top

    def ancestors(self, i: int) -> Iterable[int]:
        """The events that enclose event i on its lane, innermost first."""
        p = self.parent.get(i, -1)
        while p >= 0:
            yield p
            p = self.parent.get(p, -1)

    def descendants(self, i: int) -> Iterable[int]:
        """Every event nested in event i, at any depth."""
        stack = list(self.children.get(i, ()))
        while stack:
            c = stack.pop()
            yield c
            stack.extend(self.children.get(c, ()))

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
        k = bisect.bisect_right(starts, ts + EPS_US) - 1
        if k < 0 or self.ev[members[k]].end + EPS_US < ts:
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
    def _categories(self) -> None:
        """cat[i]: the category an event gives the instants it covers (CPU: its own; GPU: with its launch's)."""
        ev = self.ev
        own = {i: own_category(ev[i]) for members in self.lanes.values() for i in members}
        self.context: dict[int, int] = {}  # CPU: the first-priority category of the event and its ancestors
        for members in self.lanes.values():
            for i in members:  # parents come before their children in nesting order
                p = self.parent.get(i, -1)
                mine = own[i] if own[i] is not None else COMPUTE
                self.context[i] = min(mine, self.context[p]) if p >= 0 else mine
        sync = PRIORITY.index("sync")
        self.cat: dict[int, int] = {}
        for members in self.lanes.values():
            for i in members:
                k = own[i] if own[i] is not None else COMPUTE
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
        device_cover = {d: Cover.merge(self.covers[k] for k in ks) for d, ks in devices.items()}
        all_gpu = Cover.merge(self.covers[k] for k in gpu_lanes) if gpu_lanes else None
        # The host of a device: the step thread and every thread that launched work onto it.
        host_lanes: dict[Hashable, set[LaneKey]] = {d: {self.step_lane} for d in devices}
        for g, c in self.launch_of.items():
            host_lanes[lanes[ev[g].lane].device].add(ev[c].lane)
        host_cover = {d: Cover.merge(self.covers[k] for k in ks) for d, ks in host_lanes.items()}
        step_cover = self.covers.get(self.step_lane, Cover([]))
        data = PRIORITY.index("data loading")

        nodes, deps = path_nodes(self)
        in_window, deps_in_window = nodes_by_window(self, nodes, deps)
        steps: list[StepReport] = []
        origin = self.windows[0][0]
        for n, (a, b, name, marker) in enumerate(self.windows):
            per_lane = {lanes[k].label: self.covers[k].by_category(a, b) for k in self.lanes}
            idle_gaps = {d: c.gaps(a, b) for d, c in device_cover.items()}
            if all_gpu is not None:
                gaps = all_gpu.gaps(a, b)
                stall = sum(
                    hi - lo for s0, e0 in gaps for lo, hi, k in step_cover.within(s0, e0) if k == data
                )
                comm = all_gpu.by_category(a, b)["communication"]
            else:
                stall = sum(hi - lo for lo, hi, k in step_cover.within(a, b) if k == data)
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
                    critical_path=step_path(self, nodes, in_window[n], deps_in_window[n], a, b),
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
        variation = step_variation(steps)
        findings = rank_findings(
            self,
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
        costed, costed_of = costed_ops(self, records, roofs, count, bool(gpu_lanes))
        top_ops, top_kernels = top_op_tables(self, top, count, total, costed, costed_of)
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
            critical_path=mean_path(steps),
            variation=variation,
            notes=tuple(self.notes),
        )
