"""The roofline model as pure functions: ceilings, ridge points, attainable FLOP/s, classification.

attainable(I) = min(peak FLOP/s, I x bandwidth), with I the arithmetic intensity in FLOPs per byte. The
ridge point (machine balance) is peak / bandwidth: a point left of it is memory-bound, right of it
compute-bound. A point far below the roof under which it lies is bound by neither: overheads, latency,
launch costs (a time-based view is needed there). Ceilings come from a MachineProfile, measured and nominal
kept apart and labelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Below this share of the attainable rate a point is called "below both roofs" (overhead- or latency-bound).
BELOW_ROOFS = 0.10


@dataclass(frozen=True)
class ComputeRoof:
    dtype: str
    flops_per_s: float
    source: str  # "measured" or "nominal"


@dataclass(frozen=True)
class BandwidthRoof:
    level: str  # l1, l2, l3, dram, hbm
    bytes_per_s: float
    kernel: str
    source: str


@dataclass(frozen=True)
class Ceilings:
    compute: tuple[ComputeRoof, ...]
    bandwidth: tuple[BandwidthRoof, ...]

    def peak(self, dtype: str, source: str = "measured") -> ComputeRoof:
        for roof in self.compute:
            if roof.dtype == dtype and roof.source == source:
                return roof
        raise KeyError(f"no {source} compute roof for {dtype}")

    def memory(self, level: str = "dram", source: str = "measured") -> BandwidthRoof:
        for roof in self.bandwidth:
            if roof.level == level and roof.source == source:
                return roof
        raise KeyError(f"no {source} bandwidth roof for {level}")


def intensity(flops: float, bytes_moved: float) -> float:
    """Arithmetic intensity in FLOPs per byte."""
    if bytes_moved <= 0:
        raise ValueError(f"bytes moved must be positive, got {bytes_moved!r}")
    return flops / bytes_moved


def ridge(peak_flops_per_s: float, bytes_per_s: float) -> float:
    """Machine balance: the intensity (FLOPs/byte) where the bandwidth roof meets the compute roof."""
    return peak_flops_per_s / bytes_per_s


def attainable(intensity_flops_per_byte: float, peak_flops_per_s: float, bytes_per_s: float) -> float:
    return min(peak_flops_per_s, intensity_flops_per_byte * bytes_per_s)


@dataclass(frozen=True)
class Placement:
    intensity: float
    attainable_flops_per_s: float
    bound: str  # "memory", "compute", or "below both roofs" (when a measured rate is given and far below)
    efficiency: float | None  # achieved / attainable, when a measured rate is given
    headroom: float | None  # attainable / achieved


def place(
    flops: float, bytes_moved: float, peak: float, bandwidth: float, achieved_flops_per_s: float | None = None
) -> Placement:
    """Where a workload sits under one compute roof and one bandwidth roof."""
    i = intensity(flops, bytes_moved)
    roof = attainable(i, peak, bandwidth)
    bound = "memory" if i < ridge(peak, bandwidth) else "compute"
    efficiency = headroom = None
    if achieved_flops_per_s is not None:
        efficiency = achieved_flops_per_s / roof
        headroom = roof / achieved_flops_per_s if achieved_flops_per_s > 0 else None
        if efficiency < BELOW_ROOFS:
            bound = "below both roofs"
    return Placement(i, roof, bound, efficiency, headroom)


def preferred_roof(roofs: Iterable[Any], match: Callable[[Any], bool]) -> Any:
    """The measured roof that ``match``es (the rate this machine reaches), else the nominal one, else None."""
    candidates = [r for r in roofs if match(r)]
    for source in ("measured", "nominal"):
        for r in candidates:
            if r.source == source:
                return r
    return None


def _section_roofs(
    section: Mapping[str, Any], source: str, compute: list[ComputeRoof], bandwidth: list[BandwidthRoof]
) -> None:
    """Append the roofs of one profile section (``{"flops": {dtype: FLOP/s}, "bandwidth": {level: {kernel:
    bytes/s}}}``, as the CPU and the GPU measurements write it) to ``compute`` and ``bandwidth``."""
    for dtype, value in (section.get("flops") or {}).items():
        if value:
            compute.append(ComputeRoof(dtype, float(value), source))
    for level, kernels in (section.get("bandwidth") or {}).items():
        if not isinstance(kernels, dict) or not kernels:
            continue
        # STREAM's triad where measured (the conventional roof), else the best kernel of that level.
        kernel = "triad" if kernels.get("triad") else max(kernels, key=lambda k: kernels[k] or 0)
        if kernels.get(kernel):
            bandwidth.append(BandwidthRoof(level, float(kernels[kernel]), kernel, source))


def ceilings_from_profile(profile: Any) -> Ceilings:
    """Compute and bandwidth roofs of a MachineProfile (or its dict), measured and nominal."""
    data = profile.to_dict() if hasattr(profile, "to_dict") else profile
    compute: list[ComputeRoof] = []
    bandwidth: list[BandwidthRoof] = []
    for source in ("measured", "nominal"):
        _section_roofs(data.get(source, {}), source, compute, bandwidth)
    return Ceilings(tuple(compute), tuple(bandwidth))


def gpu_ceilings(device: str, profile: Any = None) -> Ceilings:
    """Roofs of a GPU: measured from a machine profile's ``measured.gpu`` section (when it is of this card),
    nominal from nnperf's spec-sheet table. HBM is the only level either source has."""
    from nnperf.machine.nominal import nominal_gpu

    compute: list[ComputeRoof] = []
    bandwidth: list[BandwidthRoof] = []
    data = profile.to_dict() if hasattr(profile, "to_dict") else (profile or {})
    gpu = (data.get("measured") or {}).get("gpu") or {}
    if isinstance(gpu, dict) and gpu.get("available", True):
        _section_roofs(gpu, "measured", compute, bandwidth)
    nominal = card_ceilings(nominal_gpu(device) or {})
    return Ceilings(tuple(compute) + nominal.compute, tuple(bandwidth) + nominal.bandwidth)


def card_ceilings(card: Mapping[str, Any]) -> Ceilings:
    """Nominal roofs of one row of nnperf's spec-sheet GPU table (:func:`nnperf.machine.nominal.nominal_gpu`)."""
    compute = tuple(
        ComputeRoof(dtype, float(value), "nominal")
        for dtype, value in (card.get("flops") or {}).items()
        if value
    )
    bandwidth: tuple[BandwidthRoof, ...] = ()
    if card.get("memory_bandwidth"):
        bandwidth = (BandwidthRoof("hbm", float(card["memory_bandwidth"]), "spec sheet", "nominal"),)
    return Ceilings(compute, bandwidth)


# The classic examples (lecture 7): bytes as the loops move them, double precision.
AXPY = {"flops": 2, "bytes": 24, "note": "z[i] = x[i] + a*y[i]: 2 FLOPs, read x and y, write z (3 x 8 B)"}
STENCIL_7PT = {"flops": 7, "bytes": 8 * 8, "note": "7-point stencil: 7 reads + 1 write of 8 B per point"}
STENCIL_7PT_CACHED = {"flops": 7, "bytes": 8 + 8, "note": "neighbours in cache: 1 read + 1 write per point"}
