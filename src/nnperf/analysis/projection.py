"""Projection of a model's static costs onto other machines: how long a step would take at each one's roofs.

The course question "which environment serves this model best?" asked before anything runs: the static
profile's ops (FLOPs and minimum bytes per call) are timed at the roofs of each target machine, a measured
machine profile or a spec-sheet card, with one method for all of them, so the figures compare.

Method, per target (written down because every printed number comes from it):

* every costed op call that moves bytes is one kernel; its time at the roofs is
  ``max(flops / peak, bytes / bandwidth)`` with the compute roof of the pass's dtype (the GEMM roof,
  ``gemm_dtype``, for convolutions, matmuls and attention: TF32 on a GPU with ``tf32``) and the bandwidth roof
  of the target's main memory
  (DRAM for a CPU, HBM for a GPU). Their sum is the **roofline time**: the step if every op ran alone at the
  roofline, a lower bound for eager execution;
* the **pass bound** is the whole pass as one roofline point, ``max(total FLOPs / peak, total bytes /
  bandwidth)``: what perfect overlap of all ops (full fusion) could reach; below the roofline time;
* where the target has a *measured* per-call floor (a tiny torch op on a CPU, a back-to-back kernel launch on
  a GPU) or the user assumes one (labelled so), each call takes at least that: the **estimate** is
  ``sum(max(time at the roofs, floor))``. Without a floor the estimate is the roofline time, and the notes say
  that small ops will be slower;
* the memory the pass needs (the static peak of live tensors) against the target's memory capacity; with a
  price per hour, the cost of a million samples (or tokens) at the estimated rate.

What is *not* modelled, and said so: uncounted ops (excluded, listed: the estimate misses them), caches that
hold a small model's activations (the bandwidth roof is main memory's), host-device copies and data loading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof, preferred_roof
from nnperf.analysis.roofline_points import roof_dtype
from nnperf.errors import UsageError
from nnperf.static import aggregate

if TYPE_CHECKING:
    from nnperf.records.static_profile import OpRecord
    from nnperf.static.summary import StaticSummary

SCHEMA = "nnperf.projection"
SCHEMA_VERSION = 1
# Op kinds that run as GEMMs (cuBLAS / oneDNN): the only ones a tensor-core dtype such as TF32 speeds up.
GEMM_KINDS = frozenset({"conv", "matmul", "attention"})
# Above this share of its capacity a pass is "tight": allocator caching, fragmentation and (on a GPU) the
# CUDA context, a few hundred MB, take the rest.
TIGHT_SHARE = 0.9
_TOKENS = re.compile(r"^(\d+)x(\d+) tokens")


@dataclass(frozen=True)
class Target:
    """A machine to project onto: its roofs, its memory and, where measured, the floor of one op call."""

    name: str  # as the user named it: "cpu", "h100-sxm", "lab.json:gpu"
    device: str  # what it is: "AMD EPYC, 2 cores", "H100 SXM5 80GB"
    kind: str  # "cpu" or "gpu"
    ceilings: Ceilings
    memory_level: str  # the level whose bandwidth bounds the ops: "dram" (CPU) or "hbm" (GPU)
    memory_bytes: int | None
    memory_source: str
    call_overhead_s: float | None = None
    overhead_source: str = ""


@dataclass(slots=True)
class TargetProjection:
    """One target's figures for the pass."""

    target: str
    device: str
    kind: str
    compute_roof: ComputeRoof
    gemm_roof: ComputeRoof
    bandwidth_roof: BandwidthRoof
    roofline_s: float
    pass_bound_s: float
    estimate_s: float
    calls: int
    memory_bound_share: float  # of the roofline time, spent in ops left of this target's ridge
    by_kind_s: dict[str, float]  # roofline time per op kind
    required_bytes: int
    memory_bytes: int | None
    fits: str  # "yes", "tight", "no" or "unknown"
    call_overhead_s: float | None
    samples_per_s: float
    tokens_per_s: float | None
    call_overhead_source: str = ""
    speedup: float = 1.0  # first target's estimate / this one's
    price_per_hour: float | None = None  # what the user pays for the target, when said (--price)
    notes: list[str] = field(default_factory=list)

    @property
    def cost_per_million(self) -> float | None:
        """Price of a million tokens (token workloads) or samples at the estimated rate: price / 3600 / rate."""
        rate = self.tokens_per_s or self.samples_per_s
        if self.price_per_hour is None or not rate:
            return None
        return self.price_per_hour / 3600 / rate * 1e6

    @property
    def ridge_flops_per_byte(self) -> float:
        return self.compute_roof.flops_per_s / self.bandwidth_roof.bytes_per_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "device": self.device,
            "kind": self.kind,
            "compute_roof": asdict(self.compute_roof),
            "gemm_roof": asdict(self.gemm_roof),
            "bandwidth_roof": asdict(self.bandwidth_roof),
            "ridge_flops_per_byte": self.ridge_flops_per_byte,
            "time_s": {
                "estimate": self.estimate_s,
                "roofline": self.roofline_s,
                "pass_bound": self.pass_bound_s,
            },
            "calls": self.calls,
            "call_overhead_s": self.call_overhead_s,
            "call_overhead_source": self.call_overhead_source,
            "memory_bound_share": self.memory_bound_share,
            "by_kind_s": dict(self.by_kind_s),
            "memory": {
                "required_bytes": self.required_bytes,
                "capacity_bytes": self.memory_bytes,
                "fits": self.fits,
            },
            "throughput": {"samples_per_s": self.samples_per_s, "tokens_per_s": self.tokens_per_s},
            "speedup": self.speedup,
            "price_per_hour": self.price_per_hour,
            "cost_per_million": self.cost_per_million,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class Projection:
    """A pass projected onto several targets, in the order given; ``best`` is the fastest that fits."""

    model: str
    input: str
    batch: int
    dtype: str
    scope: str  # "inference", "decode step" or "training step"
    targets: list[TargetProjection]
    best: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input": self.input,
            "batch": self.batch,
            "dtype": self.dtype,
            "scope": self.scope,
            "method": (
                "per op call: max(FLOPs / peak, bytes / bandwidth) at the target's roofs (GEMM kinds at the GEMM "
                "roof), at least the target's measured per-call floor where it has one; summed over the pass"
            ),
            "best": self.best,
            "targets": [t.to_dict() for t in self.targets],
            "notes": list(self.notes),
        }


def tokens_per_step(input_description: str) -> int | None:
    """Tokens a step processes, from a token workload's description ("4x128 tokens ..."); None otherwise."""
    m = _TOKENS.match(input_description)
    return int(m.group(1)) * int(m.group(2)) if m else None


def _roof(ceilings: Ceilings, dtype: str, target: Target) -> ComputeRoof:
    roof = preferred_roof(ceilings.compute, lambda r: r.dtype == dtype)
    if roof is None:
        have = sorted({r.dtype for r in ceilings.compute}) or ["none"]
        raise UsageError(
            f"target {target.name!r} ({target.device}) has no {dtype} compute roof (it has: {', '.join(have)}): "
            "pick another --dtype or drop that target"
        )
    return roof


def memory_fit(required: int, capacity: int | None) -> str:
    """Whether ``required`` bytes fit a device of ``capacity``: "yes", "tight" (over TIGHT_SHARE), "no" or
    "unknown" (no capacity known)."""
    if not capacity:
        return "unknown"
    if required > capacity:
        return "no"
    return "tight" if required > TIGHT_SHARE * capacity else "yes"


def _scope(summary: StaticSummary) -> tuple[str, list[OpRecord], int]:
    p = summary.profile
    if p.mode == "train":
        return "training step", p.train_ops, p.memory.peak_train
    return p.inference_pass, p.infer_ops, p.memory.peak_infer


class Costed(Protocol):
    """What timing an op needs: an :class:`OpRecord` or a :class:`CostClass`."""

    kind: str | None
    flops: int | None
    count: int

    @property
    def bytes(self) -> int: ...


class CostClass(NamedTuple):
    """Identical op calls as the timing sees them: same kind, FLOPs and bytes per call (``count`` calls)."""

    kind: str | None
    flops: int
    bytes: int
    count: int


def costed_calls(records: Iterable[OpRecord]) -> list[OpRecord]:
    """The records :func:`time_at_roofs` times: a cost formula (FLOPs known) and bytes moved (a kernel runs)."""
    return [r for r in records if r.flops is not None and r.bytes > 0]


def uncounted_note(uncounted: dict[str, int]) -> str | None:
    """The note that ops without a cost formula (op -> calls) are missing from every estimate; None if none."""
    if not uncounted:
        return None
    listed = ", ".join(f"{op} x{n}" for op, n in sorted(uncounted.items(), key=lambda kv: -kv[1])[:5])
    return (
        f"{sum(uncounted.values())} uncounted op call(s) are missing from every estimate (no cost formula, "
        f"not free): {listed}"
    )


def rank_targets(
    projections: Sequence[Any], seconds: Callable[[Any], float], fits: Callable[[Any], str]
) -> str | None:
    """Set each projection's ``speedup`` (the first one's time over its own) and return the ``target`` of the
    fastest that fits its device (None when none fits)."""
    for t in projections:
        t.speedup = seconds(projections[0]) / seconds(t) if seconds(t) > 0 else 0.0
    fitting = [t for t in projections if fits(t) != "no" and seconds(t) > 0]
    return min(fitting, key=seconds).target if fitting else None


def cost_classes(records: Iterable[OpRecord]) -> list[list[Any]]:
    """The costed calls of a pass (FLOPs known, bytes moved) as JSON rows ``[kind, flops, bytes, calls]``:
    what :func:`time_at_roofs` needs, a few hundred rows where the op records are thousands (stored beside
    a study's static analysis so a report can time the pass at any machine's roofs)."""
    grouped: dict[tuple[str | None, int, int], int] = {}
    for r in costed_calls(records):
        key = (r.kind, r.flops, r.bytes)
        grouped[key] = grouped.get(key, 0) + r.count
    return [
        [k, f, b, n] for (k, f, b), n in sorted(grouped.items(), key=lambda kv: (str(kv[0][0]), kv[0][1:]))
    ]


def classes_from_rows(rows: Iterable[Sequence[Any]]) -> list[CostClass]:
    """:func:`cost_classes` rows back as :class:`CostClass` records; ValueError on a malformed row."""
    out: list[CostClass] = []
    for row in rows:
        if not isinstance(row, list | tuple) or len(row) != 4:
            raise ValueError(f"a cost class is [kind, flops, bytes, calls], got {row!r}")
        kind, flops, nbytes, count = row
        if not all(isinstance(x, int) and x >= 0 for x in (flops, nbytes, count)):
            raise ValueError(f"a cost class needs non-negative integers, got {row!r}")
        out.append(CostClass(kind if isinstance(kind, str) else None, flops, nbytes, count))
    return out


@dataclass(frozen=True)
class RoofTiming:
    """A pass timed at one compute roof (and a GEMM roof), one bandwidth roof and a per-call floor."""

    estimate_s: float  # sum over calls of max(time at the roofs, floor)
    roofline_s: float  # sum over calls of the time at the roofs
    pass_bound_s: float  # the whole pass as one point
    calls: int
    memory_bound_share: float  # of roofline_s
    by_kind_s: dict[str, float]  # roofline time per op kind, largest first


def time_at_roofs(
    records: Iterable[Costed], *, peak: float, gemm_peak: float, bandwidth: float, floor: float = 0.0
) -> RoofTiming:
    """Time costed calls (flops known, bytes > 0) at the roofs: the method of the module docstring."""
    roofline = estimate = memory_bound = 0.0
    total_flops = total_bytes = gemm_flops = calls = 0
    by_kind: dict[str, float] = {}
    for r in records:
        flops, nbytes = r.flops or 0, r.bytes
        is_gemm = r.kind in GEMM_KINDS
        compute_s, memory_s = flops / (gemm_peak if is_gemm else peak), nbytes / bandwidth
        at_roofs = max(compute_s, memory_s)
        roofline += r.count * at_roofs
        estimate += r.count * max(at_roofs, floor)
        if memory_s >= compute_s:
            memory_bound += r.count * at_roofs
        kind = r.kind or "other"
        by_kind[kind] = by_kind.get(kind, 0.0) + r.count * at_roofs
        total_flops += r.count * flops
        gemm_flops += r.count * flops if is_gemm else 0
        total_bytes += r.count * nbytes
        calls += r.count
    # The pass as one point: GEMM FLOPs at the GEMM roof, the rest at the plain one.
    pass_compute = gemm_flops / gemm_peak + (total_flops - gemm_flops) / peak
    return RoofTiming(
        estimate_s=estimate,
        roofline_s=roofline,
        pass_bound_s=max(pass_compute, total_bytes / bandwidth),
        calls=calls,
        memory_bound_share=memory_bound / roofline if roofline > 0 else 0.0,
        by_kind_s=dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
    )


def project_target(
    records: Iterable[Costed],
    target: Target,
    *,
    dtype: str,
    gemm_dtype: str,
    required_bytes: int,
    samples: int,
    tokens: int | None,
) -> TargetProjection:
    """The pass of costed ``records`` (flops not None, bytes > 0) timed at ``target``'s roofs."""
    compute = _roof(target.ceilings, dtype, target)
    gemm = compute if gemm_dtype == dtype else _roof(target.ceilings, gemm_dtype, target)
    memory = preferred_roof(target.ceilings.bandwidth, lambda r: r.level == target.memory_level)
    if memory is None:
        raise UsageError(
            f"target {target.name!r} ({target.device}) has no {target.memory_level} bandwidth roof: "
            "measure it with `nnperf machine --refresh` or drop that target"
        )
    t = time_at_roofs(
        records,
        peak=compute.flops_per_s,
        gemm_peak=gemm.flops_per_s,
        bandwidth=memory.bytes_per_s,
        floor=target.call_overhead_s or 0.0,
    )
    roofline, estimate = t.roofline_s, t.estimate_s
    notes: list[str] = []
    nominal = [_roof_text(r) for r in dict.fromkeys((compute, gemm, memory)) if r.source != "measured"]
    if nominal:
        notes.append(f"not measured, spec-sheet roofs: {', '.join(nominal)}")
    if target.call_overhead_s is None:
        notes.append("no measured per-call floor: small ops will take longer than their time at the roofs")
    fits = memory_fit(required_bytes, target.memory_bytes)
    if fits == "no" and target.memory_bytes:
        devices = -(-required_bytes // target.memory_bytes)
        notes.append(
            f"the pass needs {required_bytes / 1e9:.4g} GB, more than its {target.memory_bytes / 1e9:.4g} GB: "
            f"at least {devices} such devices (tensor or pipeline parallel), a smaller dtype or a smaller batch"
        )
    return TargetProjection(
        target=target.name,
        device=target.device,
        kind=target.kind,
        compute_roof=compute,
        gemm_roof=gemm,
        bandwidth_roof=memory,
        roofline_s=roofline,
        pass_bound_s=t.pass_bound_s,
        estimate_s=estimate,
        calls=t.calls,
        memory_bound_share=t.memory_bound_share,
        by_kind_s=t.by_kind_s,
        required_bytes=required_bytes,
        memory_bytes=target.memory_bytes,
        fits=fits,
        call_overhead_s=target.call_overhead_s,
        call_overhead_source=target.overhead_source,
        samples_per_s=samples / estimate if estimate > 0 else 0.0,
        tokens_per_s=tokens / estimate if tokens and estimate > 0 else None,
        notes=notes,
    )


def _roof_text(roof: ComputeRoof | BandwidthRoof) -> str:
    if isinstance(roof, ComputeRoof):
        return f"{roof.dtype} {roof.flops_per_s / 1e12:.3g} TFLOP/s"
    return f"{roof.level} {roof.bytes_per_s / 1e9:.4g} GB/s"


def check_targets(targets: Sequence[Target], dtype: str, *, tf32: bool = False) -> None:
    """Raise the UsageError :func:`project` would, before any analysis: a roof a target lacks, --tf32 misused."""
    if not targets:
        raise UsageError("no target to project onto: name at least one, e.g. --on cpu,h100-sxm5-80gb")
    if tf32 and dtype != "fp32":
        raise UsageError(f"--tf32 applies to fp32 passes only, this one is {dtype}: drop --tf32")
    for target in targets:
        _roof(target.ceilings, dtype, target)
        if tf32 and target.kind == "gpu":
            _roof(target.ceilings, "tf32", target)


def project(
    summary: StaticSummary, targets: Sequence[Target], *, dtype: str | None = None, tf32: bool = False
) -> Projection:
    """Project the summary's pass (inference, decode step or training step) onto each target.

    ``dtype`` picks the compute roof (default: the summary's, its autocast dtype if any); ``tf32`` puts the GEMM
    kinds of an fp32 pass under the TF32 roof on GPU targets (as ``torch.backends.cuda.matmul.allow_tf32``).
    """
    p = summary.profile
    dtype = dtype or roof_dtype(p.dtype)
    check_targets(targets, dtype, tf32=tf32)
    scope, records, required = _scope(summary)
    notes = [n for n in (uncounted_note(aggregate.uncounted(records)),) if n]
    costed = costed_calls(records)
    tokens = tokens_per_step(p.input)
    out: list[TargetProjection] = []
    for target in targets:
        gemm_dtype = "tf32" if tf32 and target.kind == "gpu" else dtype
        out.append(
            project_target(
                costed,
                target,
                dtype=dtype,
                gemm_dtype=gemm_dtype,
                required_bytes=required,
                samples=p.batch,
                tokens=tokens,
            )
        )
    best = rank_targets(out, lambda t: t.estimate_s, lambda t: t.fits)
    if best is None:
        notes.append("the pass fits none of the targets' memory: no best target")
    if tf32 and not any(t.kind == "gpu" for t in targets):
        notes.append("--tf32 changes GPU targets only; there is none")
    notes.append(
        "not modelled: caches holding small activations (main memory's bandwidth is the roof), host-device "
        "copies, data loading, framework overhead beyond the measured per-call floor"
    )
    return Projection(
        model=p.model,
        input=p.input,
        batch=p.batch,
        dtype=(p.dtype if "autocast" in p.dtype else dtype) + (" (GEMMs in tf32 on GPUs)" if tf32 else ""),
        scope=scope,
        targets=out,
        best=best,
        notes=notes,
    )
