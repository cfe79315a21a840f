"""The hierarchical roofline: one arithmetic intensity per memory level, from bytes Nsight Compute measured.

A plain roofline divides FLOPs by one byte count (nnperf's minimum traffic, or DRAM bytes). Data reused in
the caches crosses each level a different number of times, so the hierarchical roofline (Yang et al.,
"Hierarchical Roofline Analysis", NERSC — the method of ncu's own hierarchical roofline sections) gives each
op one point per level: intensity_L = FLOPs / bytes through level L (L1/TEX ``l1tex__t_bytes``, L2
``lts__t_bytes``, HBM ``dram__bytes`` read + write), all at the same achieved FLOP/s. Each level's point is
held down by that level's bandwidth roof; the level whose roof allows the least is the one that binds.

The inputs, and what each number is:

- **FLOPs**: nnperf's static count of the op (the algorithm's FLOPs). ncu's sass counters miss tensor-core
  MMA work entirely (see :mod:`nnperf.measure.ncu`), so measured FLOPs would put a tensor-core GEMM at a
  fraction of its real intensity. For an op the static profile lacks or leaves uncounted, the sass FLOPs are
  used if the op ran no tensor-pipe instruction; otherwise the op is listed as skipped, with the reason.
- **time**: ``gpu__time_duration`` summed over the op's kernels. ncu replays each kernel alone with flushed
  caches, so this is a cold-cache time, at most what the kernel takes in a warm sequence.
- **roofs**: the compute roof of the dtype and one bandwidth roof per level, measured where the machine
  profile has it (``nnperf machine`` on the GPU measures HBM), else nominal (spec sheet) — stated per roof.
  GPUs publish no L1/L2 bandwidth, so without a measured one those points are drawn and listed with their
  intensity but no roof, and cannot bind.

Pure functions over the ``ncu_comparison.json`` record (:mod:`nnperf.measure.ncu_check`); no torch import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof, attainable, preferred_roof
from nnperf.errors import UsageError

LEVELS: tuple[str, ...] = ("l1", "l2", "hbm")  # innermost first (the names of nnperf.measure.ncu.LEVELS)
LEVEL_NAMES = {"l1": "L1/TEX", "l2": "L2", "hbm": "HBM"}
NCU_SCHEMA = "nnperf.ncu_comparison"


@dataclass(frozen=True)
class LevelPoint:
    level: str
    bytes: float
    intensity: float | None  # FLOPs per byte at this level; None when no byte crossed it
    roof: BandwidthRoof | None  # None: no bandwidth roof known for this level
    attainable_flops_per_s: float | None  # min(peak, intensity x bandwidth) under this level's roof

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "bytes": self.bytes,
            "intensity_flops_per_byte": self.intensity,
            "roof_bytes_per_s": self.roof.bytes_per_s if self.roof else None,
            "roof_source": self.roof.source if self.roof else None,
            "attainable_flops_per_s": self.attainable_flops_per_s,
        }


@dataclass(frozen=True)
class HierarchicalPoint:
    op: str
    flops: float
    flops_source: str  # "static estimate" or "ncu sass counters"
    time_s: float
    achieved_flops_per_s: float
    time_share: float  # of the profiled kernels' time of the points drawn
    levels: tuple[LevelPoint, ...]
    binding_level: str | None  # the level whose roof allows the least; None when no level has a roof
    efficiency: float | None  # achieved / attainable at the binding level

    def level(self, name: str) -> LevelPoint | None:
        return next((lp for lp in self.levels if lp.level == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "flops": self.flops,
            "flops_source": self.flops_source,
            "time_s": self.time_s,
            "achieved_flops_per_s": self.achieved_flops_per_s,
            "time_share": self.time_share,
            "levels": [lp.to_dict() for lp in self.levels],
            "binding_level": self.binding_level,
            "efficiency": self.efficiency,
        }


@dataclass(frozen=True)
class HierarchicalRoofline:
    device: str
    dtype: str
    compute: ComputeRoof
    bandwidth: tuple[BandwidthRoof, ...]  # at most one per level, measured preferred
    points: tuple[HierarchicalPoint, ...]
    skipped: tuple[tuple[str, str], ...]  # (op, why it has no point)
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "nnperf.hierarchical-roofline",
            "version": 1,
            "device": self.device,
            "dtype": self.dtype,
            "compute_roof": {"flops_per_s": self.compute.flops_per_s, "source": self.compute.source},
            "bandwidth_roofs": {
                b.level: {"bytes_per_s": b.bytes_per_s, "source": b.source, "kernel": b.kernel}
                for b in self.bandwidth
            },
            "points": [p.to_dict() for p in self.points],
            "skipped": [{"op": op, "reason": why} for op, why in self.skipped],
            "notes": list(self.notes),
        }


# ---- inputs ---------------------------------------------------------------------------------------------------
def load_ncu_comparison(path: str | Path) -> dict[str, Any]:
    """The record ``nnperf bench --ncu`` / ``scripts/ncu_check.py`` writes, with a clear error otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / "ncu_comparison.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"no ncu record at {str(path)!r}: give the ncu_comparison.json of `nnperf bench --ncu`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{str(path)!r} is not a readable JSON ncu record ({type(exc).__name__})") from exc
    if (
        not isinstance(data, dict)
        or data.get("schema") != NCU_SCHEMA
        or not isinstance(data.get("ops"), list)
    ):
        raise UsageError(
            f"{str(path)!r} is not an nnperf ncu record (schema {NCU_SCHEMA!r} with an 'ops' list): "
            "record one with `nnperf bench MODEL --device cuda --ncu`"
        )
    return data


# ---- the analysis ---------------------------------------------------------------------------------------------
def _flops_of(op: Mapping[str, Any]) -> tuple[float | None, str]:
    """(FLOPs, their source) of one ncu comparison row, or (None, why not)."""
    if op.get("in_static", True) and op.get("estimated_flops") is not None:
        return float(op["estimated_flops"]), "static estimate"
    if op.get("tensor_instructions"):
        return None, "uncounted by the static model and run on tensor cores, which the sass counters miss"
    if op.get("measured_flops") is not None:
        return float(op["measured_flops"]), "ncu sass counters"
    return None, "no FLOPs: uncounted by the static model and no sass FP metric recorded"


def hierarchical_roofline(
    record: Mapping[str, Any], ceilings: Ceilings, dtype: str | None = None
) -> HierarchicalRoofline:
    """Points per op and level from an ncu comparison record, under ``ceilings`` (see :func:`~nnperf.analysis.roofline.gpu_ceilings`)."""
    dtype = dtype or str(record.get("dtype") or "fp32")
    device = str(record.get("gpu") or "GPU")
    compute = preferred_roof(ceilings.compute, lambda r: r.dtype == dtype)
    if compute is None:
        have = sorted({r.dtype for r in ceilings.compute})
        raise UsageError(
            f"no compute roof for {dtype} on {device!r} (roofs for: {', '.join(have) or 'none'}): give a machine "
            "profile measured on this GPU (--machine), or pick a dtype that has one"
        )
    roofs = {level: preferred_roof(ceilings.bandwidth, lambda r, lv=level: r.level == lv) for level in LEVELS}
    notes = [
        f"compute roof: {compute.source} {dtype}",
        *(f"{LEVEL_NAMES[lv]} roof: {r.source} ({r.kernel})" for lv, r in roofs.items() if r is not None),
        *(
            f"no {LEVEL_NAMES[lv]} bandwidth roof (neither measured nor on the spec sheet): its points are "
            "listed without one and cannot bind"
            for lv, r in roofs.items()
            if r is None
        ),
        "time: ncu's gpu__time_duration per kernel, replayed alone with flushed caches (a cold-cache time)",
    ]
    skipped: list[tuple[str, str]] = []
    drawn: list[tuple[Mapping[str, Any], float, str, float]] = []
    for op in record.get("ops", []):
        name = str(op.get("op"))
        time_s = op.get("duration_s")
        levels = op.get("bytes_by_level") or {}
        if not op.get("kernels"):
            continue  # views and fused work: no kernel, nothing to place
        flops, source = _flops_of(op)
        if flops is None:
            skipped.append((name, source))
        elif not time_s or time_s <= 0:
            skipped.append((name, "no kernel time recorded"))
        elif flops <= 0 and source == "static estimate":
            skipped.append((name, "0 FLOPs in the static estimate (data movement): no intensity"))
        elif flops <= 0:
            skipped.append(
                (name, "no static estimate and 0 sass FLOPs (comparisons, moves and MUFU are not counted)")
            )
        elif not levels:
            skipped.append(
                (name, "no per-level bytes in the recording (l1tex__t_bytes / lts__t_bytes / dram)")
            )
        else:
            drawn.append((op, flops, source, float(time_s)))
    total_time = sum(t for _, _, _, t in drawn)
    points = []
    for op, flops, source, time_s in drawn:
        achieved = flops / time_s
        level_points = []
        for level in LEVELS:
            nbytes = (op.get("bytes_by_level") or {}).get(level)
            if nbytes is None:
                continue
            roof = roofs[level]
            i = flops / nbytes if nbytes > 0 else None
            reach = attainable(i, compute.flops_per_s, roof.bytes_per_s) if (roof and i is not None) else None
            level_points.append(LevelPoint(level, float(nbytes), i, roof, reach))
        bounded = [lp for lp in level_points if lp.attainable_flops_per_s is not None]
        binding = min(bounded, key=lambda lp: lp.attainable_flops_per_s or 0.0) if bounded else None
        points.append(
            HierarchicalPoint(
                op=str(op.get("op")),
                flops=flops,
                flops_source=source,
                time_s=time_s,
                achieved_flops_per_s=achieved,
                time_share=time_s / total_time if total_time > 0 else 0.0,
                levels=tuple(level_points),
                binding_level=binding.level if binding else None,
                efficiency=achieved / binding.attainable_flops_per_s
                if binding and binding.attainable_flops_per_s
                else None,
            )
        )
    points.sort(key=lambda p: -p.time_s)
    chosen = tuple(r for r in roofs.values() if r is not None)
    return HierarchicalRoofline(device, dtype, compute, chosen, tuple(points), tuple(skipped), tuple(notes))
