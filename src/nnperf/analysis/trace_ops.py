"""One rank's ops: the top ops and kernels per step, and the ops joined with their static costs.

Static records (:class:`~nnperf.records.static_profile.OpRecord`) are matched to trace events by op name
(:func:`profiler_name`) and placed under the roofs; each top op or kernel takes the roofline class of the
costed op it runs under. Reads the state of a :class:`~nnperf.analysis.trace_rank.RankAnalysis`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nnperf.analysis.roofline import place
from nnperf.analysis.trace_model import GPU_CATS
from nnperf.analysis.trace_report import CostedOp, OpTime
from nnperf.records.static_profile import OpRecord

if TYPE_CHECKING:
    from nnperf.analysis.trace_rank import RankAnalysis


def profiler_name(op: str) -> str:
    """A static record's op name as the profiler shows it: 'aten.addmm.default' -> 'aten::addmm'."""
    if "::" in op:
        return op
    parts = op.split(".")
    return f"{parts[0]}::{parts[1]}" if len(parts) >= 2 else op


def _costed_ancestor(rank: RankAnalysis, i: int, names: set[str]) -> int | None:
    """The outermost event among i and its ancestors whose name has static records."""
    found = i if rank.ev[i].name in names else None
    for p in rank.ancestors(i):
        if rank.ev[p].name in names:
            found = p
    return found


def costed_ops(
    rank: RankAnalysis,
    records: Sequence[OpRecord] | None,
    roofs: tuple[float, float, str] | None,
    steps: int,
    gpu: bool,
) -> tuple[dict[str, CostedOp], dict[int, str]]:
    """Costed ops by name, and for each event the costed op it runs under (outermost costed ancestor)."""
    if not records:
        return {}, {}
    ev = rank.ev
    by_name: dict[str, list[OpRecord]] = defaultdict(list)
    for r in records:
        by_name[profiler_name(r.op)].append(r)
    names = set(by_name)
    costed_of: dict[int, str] = {}
    calls: Counter[str] = Counter()
    cpu_us: dict[str, float] = defaultdict(float)
    dev_us: dict[str, float] = defaultdict(float)
    for members in rank.lanes.values():
        for i in members:
            if not rank.in_steps(ev[i].ts):
                continue
            if ev[i].cat in GPU_CATS:
                launch = rank.launch_of.get(i)
                owner = _costed_ancestor(rank, launch, names) if launch is not None else None
                if owner is not None:
                    costed_of[i] = ev[owner].name
                    dev_us[ev[owner].name] += ev[i].dur
                continue
            owner = _costed_ancestor(rank, i, names)
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
        rank.notes.append(
            f"static records of {len(missing)} ops the trace does not show ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''}): their costs are not in the costed-op table"
        )
    return out, costed_of


def top_op_tables(
    rank: RankAnalysis,
    top: int,
    steps: int,
    total: float,
    costed: dict[str, CostedOp],
    costed_of: dict[int, str],
) -> tuple[tuple[OpTime, ...], tuple[OpTime, ...]]:
    """The top ``top`` ops (CPU lanes, by self time) and kernels (GPU lanes, by time) per step."""
    ev = rank.ev
    self_us: dict[tuple[str, str], float] = defaultdict(float)
    calls: Counter[tuple[str, str]] = Counter()
    under: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    launcher: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for lane, members in rank.lanes.items():
        kind = rank.lane_of[lane].kind
        for i in members:
            e = ev[i]
            if e.cat == "user_annotation" or not rank.in_steps(e.ts):
                continue  # ranges are not ops (their own time is Python around the ops)
            own = e.dur - sum(ev[c].dur for c in rank.children.get(i, ()))
            key = (kind, e.name)
            self_us[key] += max(own, 0.0)
            calls[key] += 1
            if i in costed_of:
                under[key][costed_of[i]] += 1
            if kind == "gpu" and i in rank.launch_of:
                op = rank.launch_of[i]
                caller = next(
                    (ev[p].name for p in (op, *rank.ancestors(op)) if ev[p].cat == "cpu_op"), ev[op].name
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
