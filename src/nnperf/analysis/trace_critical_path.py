"""One rank's critical path: its spans and dependencies built from the trace, per step and over steps.

The path itself is computed by :func:`nnperf.analysis.critical_path.critical_path` (pure, no trace format);
this module turns a :class:`~nnperf.analysis.trace_rank.RankAnalysis` into its input: top-level CPU events
split around their synchronisation calls, GPU events, and the launch, synchronisation and forward -> backward
dependencies between them.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nnperf.analysis.critical_path import critical_path
from nnperf.analysis.trace_categories import PRIORITY
from nnperf.analysis.trace_model import EPS_US, LaneKey
from nnperf.analysis.trace_report import CriticalPath, PathSegment, StepReport

if TYPE_CHECKING:
    from nnperf.analysis.trace_rank import RankAnalysis


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


def path_nodes(rank: RankAnalysis) -> tuple[list[_Node], list[tuple[int, int]]]:
    """Spans (top-level CPU events split around their syncs, GPU events) and their explicit dependencies."""
    ev = rank.ev
    sync = PRIORITY.index("sync")
    nodes: list[_Node] = []
    node_of: dict[int, list[int]] = defaultdict(list)  # event -> its node(s)
    for lane, top in rank.top.items():
        for t in top:
            e = ev[t]
            cat = PRIORITY[rank.context[t]]
            if rank.cat[t] == sync:  # a top-level synchronisation call: it all waits
                waits = [t]
            else:
                waits = sorted(
                    (i for i in rank.descendants(t) if rank.cat[i] == sync and _outer_sync(rank, i, t)),
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
    for top in rank.top.values():
        for t in top:
            for i in (t, *rank.descendants(t)):
                top_of[i] = t

    def node_at(i: int, ts: float) -> int | None:
        """The node of event i's top-level event that holds the instant ts."""
        t = top_of.get(i)
        if t is None:
            return None
        for k in node_of[t] + node_of.get(i, []):
            if nodes[k].start - EPS_US <= ts <= nodes[k].end + EPS_US:
                return k
        return node_of[t][-1] if node_of[t] else None

    deps: list[tuple[int, int]] = []
    for g, c in rank.launch_of.items():
        src, dst = node_at(c, ev[c].ts), node_at(g, ev[g].ts)
        if src is not None and dst is not None:
            deps.append((src, dst))
    for a, b in rank.cross_deps:
        src, dst = node_at(a, ev[a].end), node_at(b, ev[b].ts)
        if src is not None and dst is not None:
            deps.append((src, dst))
    # A sync waited for the device work that ended last while it blocked.
    gpu_nodes = sorted(
        (k for k, n in enumerate(nodes) if n.lane in rank.lanes and _is_gpu(rank, n)),
        key=lambda k: nodes[k].end,
    )
    gpu_ends = [nodes[k].end for k in gpu_nodes]
    for k, n in enumerate(nodes):
        if n.waits:
            j = bisect.bisect_right(gpu_ends, n.end + EPS_US) - 1
            if j >= 0 and gpu_ends[j] >= n.start:
                deps.append((gpu_nodes[j], k))
    return nodes, deps


def _is_gpu(rank: RankAnalysis, node: _Node) -> bool:
    return rank.lane_of[node.lane].kind == "gpu"


def _outer_sync(rank: RankAnalysis, i: int, top: int) -> bool:
    """True when no ancestor of i below ``top`` is itself a sync (nested syncs count once)."""
    sync = PRIORITY.index("sync")
    for p in rank.ancestors(i):
        if p == top:
            return True
        if rank.cat.get(p) == sync:
            return False
    return True


def nodes_by_window(
    rank: RankAnalysis, nodes: list[_Node], deps: list[tuple[int, int]]
) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """For each step window, the nodes that overlap it and the dependencies whose target does."""
    nodes_in: list[list[int]] = [[] for _ in rank.windows]
    for k, node in enumerate(nodes):
        for w in rank.windows_of(node.start, node.end):
            a, b = rank.windows[w][0], rank.windows[w][1]
            if node.start < b and node.end > a:
                nodes_in[w].append(k)
    deps_in: list[list[tuple[int, int]]] = [[] for _ in rank.windows]
    for x, y in deps:
        for w in rank.windows_of(nodes[y].start, nodes[y].end):
            deps_in[w].append((x, y))
    return nodes_in, deps_in


def step_path(
    rank: RankAnalysis, nodes: list[_Node], inside: list[int], deps: list[tuple[int, int]], a: float, b: float
) -> CriticalPath:
    """The critical path of the step window [a, b): its nodes (``inside``) clipped to the window."""
    local = {k: j for j, k in enumerate(inside)}
    clipped = [
        _Node(n.lane, max(n.start, a), min(n.end, b), n.name, n.category, n.event, n.waits)
        for n in (nodes[k] for k in inside)
    ]
    path = critical_path(clipped, [(local[x], local[y]) for x, y in deps if x in local and y in local])
    segments = tuple(
        PathSegment(
            lane=rank.lane_of[clipped[p.index].lane].label,
            kind=rank.lane_of[clipped[p.index].lane].kind,
            name=clipped[p.index].name,
            category=clipped[p.index].category,
            start_s=(p.start - a) * 1e-6,
            end_s=(p.end - a) * 1e-6,
        )
        for p in path
    )
    return _summarise_path(segments)


def mean_path(steps: list[StepReport]) -> CriticalPath:
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
