"""Measured roofline points: what a real run achieved, placed under the same roofs as the estimates.

A measured point's FLOPs and bytes are those the dispatch-level counter recorded in the run (minimum traffic,
as for estimated points: measured DRAM bytes need hardware counters, see ``nnperf bench --ncu``); its time is
measured: the median step for the whole pass, the profiler's per-iteration time for an op or a module (CPU
time on the CPU, device time on CUDA). Achieved FLOP/s = FLOPs / time, drawn at that height; efficiency =
achieved / attainable. A point below 10% of its roof is "below both roofs": overheads or latency bound it,
not the machine's ceilings.

Left out, and said so in the notes: rows without counted FLOPs (uncounted or unmatched ops, whose FLOPs are
unknown, not zero), rows with zero measured time (nothing to divide by: never drawn at infinity) and rows
moving no bytes.
"""

from __future__ import annotations

from typing import Any

from nnperf.analysis.roofline import Ceilings, place
from nnperf.analysis.roofline_points import (
    LEVELS,
    RooflinePoint,
    RooflinePoints,
    hint,
    roof_dtype,
    select_roofs,
)
from nnperf.errors import UsageError
from nnperf.static import aggregate

_SPECIAL_MODULES = ("(backward)", "(unmatched)")


def _measured_hint(bound: str, efficiency: float, kind: str, share: float, level: str) -> str:
    if bound == "below both roofs":
        return (
            f"{efficiency:.0%} of its roof: overhead- or latency-bound (small ops, dispatch, launches); fuse "
            "(torch.compile), bigger batch"
        )
    return f"{efficiency:.0%} of its roof; " + hint(bound, kind, share, level)


def _point(
    *,
    level: str,
    group: str,
    label: str,
    scope: str,
    phase: str,
    flops: float,
    nbytes: float,
    calls: int,
    time_s: float,
    total_time_s: float,
    peak: float,
    bandwidth: float,
) -> RooflinePoint:
    achieved = flops / time_s
    placed = place(flops, nbytes, peak, bandwidth, achieved)
    share = time_s / total_time_s if total_time_s > 0 else 0.0
    kind = "pass" if level == "model" else group.removesuffix(" (measured)")
    return RooflinePoint(
        level=level,
        group=group,
        label=label,
        scope=scope,
        phase=phase,
        kind=kind,
        flops=int(flops),
        bytes=int(nbytes),
        calls=calls,
        intensity_flops_per_byte=placed.intensity,
        attainable_flops_per_s=placed.attainable_flops_per_s,
        bound=placed.bound,
        time_s=time_s,
        time_share=share,
        hint=_measured_hint(placed.bound, placed.efficiency or 0.0, kind, share, level),
        plotted=flops > 0,
        source="measured",
        achieved_flops_per_s=achieved,
        efficiency=placed.efficiency,
    )


def measured_points(
    measurement: Any,
    ceilings: Ceilings,
    *,
    level: str = "model",
    depth: int = 1,
    dtype: str | None = None,
    memory_level: str = "dram",
) -> RooflinePoints:
    """Measured points of a :class:`~nnperf.records.measurement.Measurement` (or its dict) at ``level``.

    ``model`` needs only the counted FLOPs and the step times; ``op`` and ``module`` need the run's
    profiler breakdown (``nnperf bench --profile``).
    """
    data = measurement.to_dict() if hasattr(measurement, "to_dict") else measurement
    if level not in LEVELS:
        raise UsageError(f"unknown roofline level {level!r}: use one of {', '.join(LEVELS)}")
    if data.get("status") != "ok":
        raise UsageError(f"the run failed ({data.get('error')}): nothing measured to place on a roofline")
    spec = data["spec"]
    dtype = dtype or roof_dtype(
        spec["dtype"] + (f" (autocast {spec['autocast']})" if spec.get("autocast") else "")
    )
    compute, memory = select_roofs(ceilings, dtype, memory_level)
    peak, bw = compute.flops_per_s, memory.bytes_per_s
    scope = "training step" if spec["mode"] == "train" else "inference"
    notes: list[str] = []
    for roof in (compute, memory):
        if roof.source != "measured":
            notes.append(f"no measured roof: the {roof.source} one is used")
    notes.append("bytes are minimum traffic counted per op, not measured DRAM traffic")
    points: list[RooflinePoint] = []
    common = {"peak": peak, "bandwidth": bw}
    if level == "model":
        flops, nbytes = data["flops"].get("counted"), data["bytes"].get("counted")
        median = data["step_time_s"]["median"]
        if not flops or not nbytes or not median or median != median:
            raise UsageError("the run has no counted FLOPs, bytes or step time: measure it with counting on")
        points.append(
            _point(
                level="model",
                group="pass (measured)",
                label=scope,
                scope=scope,
                phase="all",
                flops=flops,
                nbytes=nbytes,
                calls=1,
                time_s=median,
                total_time_s=median,
                **common,
            )
        )
        if data["flops"].get("uncounted_ops"):
            notes.append(f"uncounted ops (not in the FLOPs): {data['flops']['uncounted_ops']}")
    else:
        ops = data.get("ops")
        if not ops:
            raise UsageError(
                f"--level {level} needs the run's per-op breakdown: measure with `nnperf bench --profile`"
            )
        rows = ops["ops"] if level == "op" else _rolled_modules(ops["modules"], depth)
        total = ops["step_time_s"]
        skipped = {"uncounted": 0, "no time": 0, "no bytes": 0}
        for row in rows:
            if row["flops"] is None:
                skipped["uncounted"] += 1
            elif row["time_s"] <= 0:
                skipped["no time"] += 1
            elif not row["bytes"]:
                skipped["no bytes"] += 1
            else:
                points.append(
                    _point(
                        level=level,
                        group="op (measured)" if level == "op" else "module (measured)",
                        label=row["name"] or "(model)",
                        scope=scope,
                        phase=row["phase"] or "all",
                        flops=row["flops"],
                        nbytes=row["bytes"],
                        calls=int(row["calls"]),
                        time_s=row["time_s"],
                        total_time_s=total,
                        **common,
                    )
                )
        for why, n in skipped.items():
            if n:
                notes.append(f"{n} row(s) with {why} not placed (never drawn at an invented position)")
        notes.append(f"times are the profiler's {ops['time_source']} time per iteration")
    points.sort(key=lambda p: -p.time_s)
    return RooflinePoints(
        model=spec["model"],
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


def _rolled_modules(rows: list[dict[str, Any]], depth: int) -> list[dict[str, Any]]:
    """Module rows rolled up to ``depth`` (as `nnperf summary` rolls them), per phase; time and costs summed."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        name = r["name"] if r["name"] in _SPECIAL_MODULES else aggregate.truncate_path(r["name"], depth)
        key = (name, r["phase"])
        acc = out.setdefault(
            key, {"name": name, "phase": r["phase"], "calls": 0, "time_s": 0.0, "flops": 0, "bytes": 0}
        )
        acc["calls"] += r["calls"]
        acc["time_s"] += r["time_s"]
        if r["flops"] is None or acc["flops"] is None:
            acc["flops"] = None  # one unknown part makes the sum unknown
        else:
            acc["flops"] += r["flops"]
        acc["bytes"] += r["bytes"] or 0
    return list(out.values())
