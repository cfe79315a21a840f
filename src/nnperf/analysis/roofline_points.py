"""Estimated roofline points of a static analysis: the whole model, its modules at a depth, its ops.

Pure functions from a :class:`~nnperf.static.summary.StaticSummary` and :class:`~nnperf.analysis.roofline.Ceilings`
to plain :class:`RooflinePoint` records. An *estimated* point has the FLOPs and minimum bytes the static
profile counted; its intensity places it under one compute roof (the chosen dtype's) and one bandwidth roof
(the chosen memory level's), and its estimated time is the time at the roof,
``max(flops / peak, bytes / bandwidth)``: what the work would take if it ran exactly at the roofline.
The share of that time is what sizes a point on the chart.

What is left out, and said so in :attr:`RooflinePoints.notes`:

* ops without a cost formula (``flops is None``): *uncounted*, never treated as free, so their bytes are
  not mixed into a group whose FLOPs they lack;
* ops that move no bytes (views, allocations of uninitialised memory): no intensity exists.

A point with bytes but zero FLOPs (a copy) keeps its time and share but has intensity 0, which a log axis
cannot show: it is listed with ``plotted=False``, never drawn at an invented position.

Shares sum to 1 within a *scope* (one pass: the inference forward or the training step) and a *group*
(at the op level the same ops are grouped twice, by kind and by op name).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof, intensity, place, preferred_roof
from nnperf.errors import UsageError
from nnperf.static import aggregate

if TYPE_CHECKING:
    from nnperf.records.static_profile import OpRecord
    from nnperf.static.summary import StaticSummary

LEVELS: tuple[str, ...] = ("model", "module", "op")
MEMORY_LEVELS: tuple[str, ...] = ("dram", "hbm", "l3", "l2", "l1")
# Below this share of the estimated time a point is not worth optimising on its own.
TINY_SHARE = 0.01
# Below this estimated time per call, fixed per-op costs (eager dispatch ~ a few us on a CPU, a GPU kernel
# launch ~5 us) are as large as the work itself: the roof does not bound such an op, overhead does.
OVERHEAD_S = 10e-6
# Op kinds whose work is elementwise or a single pass over the data: never reuse-bound, only fusion or
# fewer bytes per element move them.
_STREAMING_KINDS = frozenset(
    {"pointwise", "norm", "pool", "reduction", "softmax", "memory", "loss", "embedding"}
)
_REUSE_KINDS = frozenset({"conv", "matmul", "attention"})


@dataclass(slots=True)
class RooflinePoint:
    """One estimated point: a model pass, a module, an op kind or an op, under the chosen roofs."""

    level: str  # "model", "module" or "op"
    group: str  # what the points of one chart series have in common: "pass", "module", "op kind", "op"
    label: str  # what it is: "inference", "layer1", "conv", "aten.convolution.default"
    scope: str  # "inference" or "training step": the pass whose time the share divides
    phase: str  # forward, loss, backward, optimizer, or "all"
    kind: str  # the op kind (for modules and passes: the kind that takes most of the estimated time)
    flops: int
    bytes: int
    calls: int
    intensity_flops_per_byte: float
    attainable_flops_per_s: float
    bound: str  # "memory" or "compute" (left or right of the ridge)
    time_s: float  # estimated: the time at the roof, max(flops / peak, bytes / bandwidth)
    time_share: float  # of the estimated time of its scope and group
    hint: str
    plotted: bool  # False when a log axis cannot show it (0 FLOPs, or a measured point with no time)
    source: str = "estimated"  # "estimated" (sits on the roof) or "measured" (at its achieved FLOP/s)
    achieved_flops_per_s: float | None = None  # measured points: counted FLOPs / measured time
    efficiency: float | None = None  # measured points: achieved / attainable

    @property
    def y_flops_per_s(self) -> float:
        """Where the point is drawn: its achieved rate if measured, else the roof above its intensity."""
        if self.source == "measured" and self.achieved_flops_per_s is not None:
            return self.achieved_flops_per_s
        return self.attainable_flops_per_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class RooflinePoints:
    """Points of one level with the roofs they were placed under, and what was left out (``notes``)."""

    model: str
    level: str
    dtype: str
    memory_level: str
    compute_roof: ComputeRoof
    bandwidth_roof: BandwidthRoof
    ceilings: Ceilings
    points: list[RooflinePoint]
    depth: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ridge_flops_per_byte(self) -> float:
        return self.compute_roof.flops_per_s / self.bandwidth_roof.bytes_per_s

    @property
    def kind(self) -> str:
        """ "measured" when the points come from a run, else "estimated"."""
        return "measured" if any(p.source == "measured" for p in self.points) else "estimated"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "level": self.level,
            "depth": self.depth,
            "dtype": self.dtype,
            "memory_level": self.memory_level,
            "compute_roof": asdict(self.compute_roof),
            "bandwidth_roof": asdict(self.bandwidth_roof),
            "ridge_flops_per_byte": self.ridge_flops_per_byte,
            "ceilings": {
                "compute": [asdict(r) for r in self.ceilings.compute],
                "bandwidth": [asdict(r) for r in self.ceilings.bandwidth],
            },
            "points": [p.to_dict() for p in self.points],
            "notes": list(self.notes),
        }


# ---- roofs --------------------------------------------------------------------------------------------------
def roof_dtype(summary_dtype: str) -> str:
    """The dtype whose compute roof applies: the autocast dtype when there is one ("fp32 (autocast bf16)")."""
    if "autocast" in summary_dtype:
        return summary_dtype.split("autocast", 1)[1].strip(" )")
    return summary_dtype.split()[0]


def select_roofs(
    ceilings: Ceilings, dtype: str, memory_level: str = "dram"
) -> tuple[ComputeRoof, BandwidthRoof]:
    """The measured compute roof of ``dtype`` and bandwidth roof of ``memory_level``, else the nominal ones.

    Raises UsageError naming what the profile has when neither exists.
    """
    if memory_level not in MEMORY_LEVELS:
        raise UsageError(f"unknown memory level {memory_level!r}: use one of {', '.join(MEMORY_LEVELS)}")
    compute = preferred_roof(ceilings.compute, lambda r: r.dtype == dtype)
    if compute is None:
        have = sorted({r.dtype for r in ceilings.compute}) or ["none"]
        raise UsageError(
            f"the machine profile has no compute roof for {dtype!r} (it has: {', '.join(have)}); "
            "pick one of those with --dtype or measure this dtype with `nnperf machine --refresh`"
        )
    memory = preferred_roof(ceilings.bandwidth, lambda r: r.level == memory_level)
    if memory is None:
        have = sorted({r.level for r in ceilings.bandwidth}) or ["none"]
        raise UsageError(
            f"the machine profile has no bandwidth roof for {memory_level!r} (it has: {', '.join(have)}); "
            "pick one of those with --memory-level"
        )
    return compute, memory


# ---- hints --------------------------------------------------------------------------------------------------
def hint(bound: str, kind: str, share: float, level: str = "op", time_per_call_s: float | None = None) -> str:
    """One line on what would move a point: by its bound, its (dominant) op kind, its share of the time and,
    for ops, its time per call at the roof (below ~10 us per call, fixed per-op costs rival the roof)."""
    if level == "op" and time_per_call_s is not None and time_per_call_s < OVERHEAD_S:
        return (
            f"{time_per_call_s * 1e6:.1f} us per call at the roof: per-op overhead (dispatch, launch) likely "
            "dominates; fuse, or a bigger batch"
        )
    if share < TINY_SHARE:
        return f"{bound}-bound, under {TINY_SHARE:.0%} of the estimated time: little to gain here"
    if bound == "compute":
        return "compute-bound: lower precision on tensor cores / AMX (bf16, fp16), or fewer FLOPs"
    if kind == "norm":
        return (
            "memory-bound: fold into the previous conv (inference) or fuse (torch.compile); bf16 halves bytes"
        )
    if kind in _STREAMING_KINDS:
        return "memory-bound: fuse with neighbours (torch.compile), lower precision (bf16 halves the bytes)"
    if kind == "conv":
        return "memory-bound: little reuse; bigger batch, channels_last, lower precision"
    if kind in _REUSE_KINDS:  # matmul, attention: each weight (or cached key) read serves one row per sample
        return "memory-bound: little reuse; bigger batch (more rows per weight read), lower precision"
    if level != "op":
        return "memory-bound: fuse its pointwise ops, lower precision, bigger batch"
    return "memory-bound: fewer bytes per FLOP (fusion, lower precision)"


# ---- points -------------------------------------------------------------------------------------------------
class _Group:
    """Totals of one point plus estimated time per op kind (to name the kind that dominates)."""

    __slots__ = ("bytes", "calls", "flops", "kind_time")

    def __init__(self) -> None:
        self.flops = 0
        self.bytes = 0
        self.calls = 0
        self.kind_time: dict[str, float] = {}

    def add(self, r: OpRecord, peak: float, bandwidth: float) -> None:
        flops, nbytes = r.count * (r.flops or 0), r.count * r.bytes
        self.flops += flops
        self.bytes += nbytes
        self.calls += r.count
        kind = r.kind or "other"
        self.kind_time[kind] = self.kind_time.get(kind, 0.0) + max(flops / peak, nbytes / bandwidth)

    @property
    def kind(self) -> str:
        return max(self.kind_time, key=lambda k: self.kind_time[k]) if self.kind_time else "other"


def _costed(records: Iterable[OpRecord], notes: list[str], scope: str) -> list[OpRecord]:
    """Records with a cost formula and bytes; what is dropped is counted in ``notes``."""
    kept: list[OpRecord] = []
    uncounted: dict[str, int] = {}
    no_bytes = 0
    for r in records:
        if r.flops is None:
            uncounted[r.op] = uncounted.get(r.op, 0) + r.count
        elif r.bytes == 0:
            no_bytes += r.count
        else:
            kept.append(r)
    if uncounted:
        listed = ", ".join(f"{op} x{n}" for op, n in sorted(uncounted.items(), key=lambda kv: -kv[1])[:5])
        notes.append(
            f"{scope}: {sum(uncounted.values())} uncounted op call(s) excluded (no cost formula; "
            f"not free): {listed}"
        )
    if no_bytes:
        notes.append(f"{scope}: {no_bytes} op call(s) moving no bytes (views, empty allocations) skipped")
    return kept


def _points(
    groups: dict[tuple[str, str], _Group],
    *,
    level: str,
    group: str,
    scope: str,
    compute: ComputeRoof,
    memory: BandwidthRoof,
) -> list[RooflinePoint]:
    peak, bw = compute.flops_per_s, memory.bytes_per_s
    times = {key: max(g.flops / peak, g.bytes / bw) for key, g in groups.items()}
    total = sum(times.values())
    out: list[RooflinePoint] = []
    for (label, phase), g in groups.items():
        if g.bytes <= 0:
            continue  # cannot happen for costed records; guard the division
        if g.flops > 0:
            placed = place(g.flops, g.bytes, peak, bw)
            i, roof, bound = placed.intensity, placed.attainable_flops_per_s, placed.bound
        else:
            i, roof, bound = intensity(0, g.bytes), 0.0, "memory"
        share = times[(label, phase)] / total if total > 0 else 0.0
        kind = g.kind
        out.append(
            RooflinePoint(
                level=level,
                group=group,
                label=label,
                scope=scope,
                phase=phase,
                kind=kind,
                flops=g.flops,
                bytes=g.bytes,
                calls=g.calls,
                intensity_flops_per_byte=i,
                attainable_flops_per_s=roof,
                bound=bound,
                time_s=times[(label, phase)],
                time_share=share,
                hint=hint(bound, kind, share, level, times[(label, phase)] / g.calls),
                plotted=g.flops > 0,
            )
        )
    out.sort(key=lambda p: -p.time_s)
    return out


def _grouped(
    records: Iterable[OpRecord], key: Any, compute: ComputeRoof, memory: BandwidthRoof
) -> dict[tuple[str, str], _Group]:
    groups: dict[tuple[str, str], _Group] = {}
    for r in records:
        groups.setdefault(key(r), _Group()).add(r, compute.flops_per_s, memory.bytes_per_s)
    return groups


def _inference_scope(p: Any) -> str:
    return p.inference_pass


def _scope_records(summary: StaticSummary) -> tuple[str, list[OpRecord]]:
    p = summary.profile
    return (_inference_scope(p), p.infer_ops) if p.mode == "infer" else ("training step", p.train_ops)


def roofline_points(
    summary: StaticSummary,
    ceilings: Ceilings,
    *,
    level: str = "op",
    depth: int = 1,
    dtype: str | None = None,
    memory_level: str = "dram",
) -> RooflinePoints:
    """Estimated roofline points of ``summary`` at ``level``.

    * ``model``: the inference forward and the whole training step, one point each (each its own scope);
    * ``module``: modules rolled up to ``depth`` (0 is the model), of the summary's mode (inference forward,
      or every phase of the training step, one point per module and phase);
    * ``op``: the same ops grouped by kind (conv, norm, pointwise, ...) and by aten op name, two groups.

    ``dtype`` picks the compute roof (default: the summary's dtype, its autocast dtype if any);
    ``memory_level`` the bandwidth roof (default DRAM). Measured roofs are preferred, nominal used otherwise.
    """
    if level not in LEVELS:
        raise UsageError(f"unknown roofline level {level!r}: use one of {', '.join(LEVELS)}")
    if not isinstance(depth, int) or depth < 0:
        raise UsageError(f"module depth must be a non-negative integer, got {depth!r}")
    p = summary.profile
    dtype = dtype or roof_dtype(p.dtype)
    compute, memory = select_roofs(ceilings, dtype, memory_level)
    notes: list[str] = []
    for roof in (compute, memory):
        if roof.source != "measured":
            notes.append(f"no measured roof: the {roof.source} one is used ({_roof_name(roof)})")
    kw = {"compute": compute, "memory": memory}
    points: list[RooflinePoint] = []
    if level == "model":
        scopes = [(_inference_scope(p), p.infer_ops)]
        if p.training_analysed:
            scopes.append(("training step", p.train_ops))
        for scope, records in scopes:
            kept = _costed(records, notes, scope)
            groups = _grouped(kept, lambda r, s=scope: (s, "all"), **kw)
            points += _points(groups, level=level, group="pass", scope=scope, **kw)
    elif level == "module":
        scope, records = _scope_records(summary)
        kept = _costed(records, notes, scope)
        # aggregate.by_module's rollup (truncate_path), so module rows match `nnperf summary`'s table.
        groups = _grouped(kept, lambda r: (aggregate.truncate_path(r.module, depth), r.phase), **kw)
        for key in list(groups):
            if key[0] == "":
                groups[("(model)", key[1])] = groups.pop(key)
        points = _points(groups, level=level, group="module", scope=scope, **kw)
    else:
        scope, records = _scope_records(summary)
        kept = _costed(records, notes, scope)
        by_kind = _grouped(kept, lambda r: (r.kind or "other", r.phase), **kw)
        by_name = _grouped(kept, lambda r: (r.op, r.phase), **kw)
        points = _points(by_kind, level=level, group="op kind", scope=scope, **kw)
        points += _points(by_name, level=level, group="op", scope=scope, **kw)
    hidden = [pt for pt in points if not pt.plotted]
    if hidden:
        notes.append(
            f"{len(hidden)} point(s) with bytes but 0 FLOPs (copies) have intensity 0 and are listed but "
            "not drawn on the log axis: " + ", ".join(f"{pt.label} [{pt.phase}]" for pt in hidden[:5])
        )
    return RooflinePoints(
        model=p.model,
        level=level,
        dtype=dtype,
        memory_level=memory_level,
        compute_roof=compute,
        bandwidth_roof=memory,
        ceilings=ceilings,
        points=points,
        depth=depth if level == "module" else None,
        notes=notes,
    )


def _roof_name(roof: ComputeRoof | BandwidthRoof) -> str:
    if isinstance(roof, ComputeRoof):
        return f"{roof.dtype} {roof.flops_per_s / 1e9:.1f} GFLOP/s"
    return f"{roof.level} {roof.kernel} {roof.bytes_per_s / 1e9:.1f} GB/s"
