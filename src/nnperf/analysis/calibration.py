"""Calibration microkernels: kernels of known arithmetic intensity, measured here, placed under the roofs.

A roofline is only as good as its roofs. These kernels check them: each has an intensity fixed by its loop
(the classic examples of the roofline lecture, double precision unless said), so measuring it on this machine
and placing it on the chart shows how close real code gets to each roof.

=================  ========================================  ==========================  ===================
kernel             loop, and how torch runs it                FLOPs / bytes per element   intensity (FLOP/B)
=================  ========================================  ==========================  ===================
axpy (fp64)        z = x + a*y: ``torch.add(x, y, alpha=a,    2 / 24 (read x, y;          0.083
                   out=z)``, one fused pass                   write z)
stencil7 (fp64)    out = w*(u + 6 neighbours) on a 3D grid:   7 / 64 (7 reads + 1 write)  0.109
                   whole-grid torch ops
stencil7 tiled     the same ops slab by slab (cache-sized)    7 / 16 (neighbours cached)  0.4375
gemm (``dtype``)   C = A @ B, n x n: ``torch.mm(out=C)``      2n^3 / 3n^2 x element size  n/6 for fp32
triad (fp64)       STREAM's a = b + s*c (axpy at STREAM's     2 / 24                      0.083
                   size, each array >= 4 x the LLC)
=================  ========================================  ==========================  ===================

FLOPs and bytes are each kernel's *ideal* count (the classic definition: each array element read once and
written once), not the traffic torch really causes; where the two differ, the notes say so:

* **axpy** runs at a size whose three arrays fill half the last-level cache, so it can sit *above* the DRAM
  roof, under the cache's (the same loop at DRAM size is the triad point).
* **stencil7** is written as torch ops on slices of a fp64 grid: one ``out=`` add, five in-place adds and an
  in-place multiply, 6 adds + 1 multiply = 7 FLOPs per interior point. On the whole grid torch runs them as
  7 passes (read two operands, write one: ~160 B per point named), more than the classic 64 B; it is placed
  at the classic 7/64. **stencil7 tiled** runs the same ops on slabs of a few planes sized so that a slab
  (its input planes, neighbours and partial sums) stays in the last-level cache: memory then sees about one
  read of ``u`` and one write of ``out`` per point, the classic cached count, and it is placed at 7/16.
  Each hint says where the achieved rate lands between the two classic bounds.
* **triad** uses the same torch kernel and array size (:mod:`nnperf.machine.stream`) that measured the DRAM
  roof: its efficiency says whether the roof reproduces.
* **gemm** uses the GEMM sweep that measured the compute roof (:func:`nnperf.machine.gemm.gemm_sweep`).

Every kernel is timed by :func:`nnperf.machine.protocol.time_fn`; the achieved rate is from the fastest
sample, the statistic the roofs themselves are measured with (as STREAM does), and the median is given in
the hint. CPU only: these are CPU kernels, compared with CPU roofs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nnperf.analysis.roofline import (
    AXPY,
    STENCIL_7PT,
    STENCIL_7PT_CACHED,
    BandwidthRoof,
    Ceilings,
    ComputeRoof,
    attainable,
    place,
)
from nnperf.analysis.roofline_points import RooflinePoint, RooflinePoints, select_roofs
from nnperf.errors import UsageError

DEFAULT_GEMM_SIZES: tuple[int, ...] = (256, 512, 1024, 2048)
QUICK_GEMM_SIZES: tuple[int, ...] = (128, 256, 512)
STENCIL_EDGE = 256  # 256^3 fp64 = 128 MiB per grid: far beyond the caches of a CPU
QUICK_STENCIL_EDGE = 128
FP64_BYTES = 8
AXPY_SCALAR = 3.0
STENCIL_WEIGHT = 1.0 / 7.0  # a Jacobi average: out = (u + its 6 neighbours) / 7
AXPY_FALLBACK_N = 2**19  # when the LLC size is unknown: 3 x 4 MiB
# Calls of ~0.1 ms: one warm-up call does not wake the thread pool (see nnperf.machine.measure); 50 do.
IN_CACHE_WARMUP = 50
MODEL = "calibration kernels"
LEVEL = "kernel"
Progress = Callable[[str], None]


def _protocols(mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(compute protocol, streaming protocol): the machine measurement's own settings for ``mode``."""
    from nnperf.machine.measure import SETTINGS

    cfg = SETTINGS[mode]
    return dict(cfg["protocol"]), dict(cfg["stream_protocol"])


def axpy_elements(llc_bytes: int | None) -> int:
    """The largest power of 2, N, whose three fp64 arrays (24 N bytes) fill at most half the LLC (N >= 2^10:
    smaller calls would time the call overhead, not the cache); 2^19 when the LLC is unknown."""
    if not llc_bytes:
        return AXPY_FALLBACK_N
    budget = llc_bytes // 2 // (3 * FP64_BYTES)
    return 2 ** max(int(math.log2(max(budget, 1))), 10)


def _pow2(n: int) -> str:
    e = int(math.log2(n))
    return f"2^{e}" if 2**e == n else str(n)


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def _gflops(x: float) -> str:
    return f"{x / 1e9:.3g} GFLOP/s"


# ---- kernels -----------------------------------------------------------------------------------------------
def make_axpy(n: int) -> Callable[[], object]:
    """z = x + a*y on fp64 arrays of ``n`` elements, as one fused torch kernel (no temporary for a*y)."""
    import torch

    x = torch.full((n,), 1.0, dtype=torch.float64)
    y = torch.full((n,), 2.0, dtype=torch.float64)
    z = torch.zeros(n, dtype=torch.float64)
    return lambda: torch.add(x, y, alpha=AXPY_SCALAR, out=z)


def stencil_fn(u: Any, out: Any) -> Callable[[], object]:
    """The 7-point stencil from grid ``u`` into ``out``: out = w * (u + its 6 neighbours) on the interior.

    6 adds + 1 multiply = 7 FLOPs per interior point, written with ``out=`` and in-place ops so that no
    temporary grid is allocated per call (the allocator would be timed, and page faults with it).
    """
    import torch

    c = (slice(1, -1),) * 3
    o = out[c]
    lo, hi = slice(None, -2), slice(2, None)
    first, second, *rest = (
        u[lo, c[1], c[2]],
        u[hi, c[1], c[2]],
        u[c[0], lo, c[2]],
        u[c[0], hi, c[2]],
        u[c[0], c[1], lo],
        u[c[0], c[1], hi],
        u[c],  # the centre
    )

    def stencil() -> object:
        torch.add(first, second, out=o)
        for s in rest:
            o.add_(s)
        return o.mul_(STENCIL_WEIGHT)

    return stencil


def slab_planes(edge: int, llc_bytes: int | None) -> int:
    """Planes per slab of the blocked stencil: the largest power of 2, k, whose slab (k + 2 input planes
    and k output planes of ``edge``^2 fp64) takes at most half the LLC; 8 when the LLC is unknown."""
    if not llc_bytes:
        return 8
    plane = edge * edge * FP64_BYTES
    k = max((llc_bytes // 2 // plane - 2) // 2, 1)
    return min(2 ** int(math.log2(k)), max(edge - 2, 1))


def blocked_stencil_fn(u: Any, out: Any, planes: int) -> Callable[[], object]:
    """:func:`stencil_fn` slab by slab along the first axis, ``planes`` interior planes at a time: the
    same FLOPs and result, but each slab's operands are reused from the cache by the seven ops."""
    edge = u.shape[0]
    slabs = [
        stencil_fn(u[z - 1 : min(z + planes, edge - 1) + 1], out[z - 1 : min(z + planes, edge - 1) + 1])
        for z in range(1, edge - 1, planes)
    ]

    def blocked() -> None:
        for slab in slabs:
            slab()

    return blocked


def make_stencil(edge: int, planes: int | None = None) -> Callable[[], object]:
    """The stencil on a fresh random ``edge``^3 fp64 grid (filled, so its pages are touched): on the whole
    grid, or blocked in slabs of ``planes`` planes."""
    import torch

    gen = torch.Generator().manual_seed(edge)
    u = torch.rand(edge, edge, edge, generator=gen, dtype=torch.float64)
    out = torch.zeros_like(u)
    return stencil_fn(u, out) if planes is None else blocked_stencil_fn(u, out, planes)


def stencil_points(edge: int) -> int:
    """Interior points of an ``edge``^3 grid: the points the stencil updates."""
    return (edge - 2) ** 3


def gemm_intensity(n: int, element_bytes: int) -> float:
    """2 n^3 FLOPs over the minimum traffic 3 n^2 elements (read A and B, write C): n / (1.5 x bytes)."""
    return 2 * n**3 / (3 * n**2 * element_bytes)


# ---- points ------------------------------------------------------------------------------------------------
def _point(
    *,
    label: str,
    kind: str,
    flops: float,
    nbytes: float,
    time_s: float,
    compute: ComputeRoof,
    memory: BandwidthRoof,
    hint: str,
) -> RooflinePoint:
    peak, bandwidth = compute.flops_per_s, memory.bytes_per_s
    achieved = flops / time_s
    placed = place(flops, nbytes, peak, bandwidth, achieved)
    under = (
        f"{memory.level.upper()} roof"
        if placed.intensity * bandwidth < peak
        else f"{compute.dtype} compute roof"
    )
    return RooflinePoint(
        level=LEVEL,
        group="kernel",
        label=label,
        scope="calibration",
        phase="all",
        kind=kind,
        flops=int(flops),
        bytes=int(nbytes),
        calls=1,
        intensity_flops_per_byte=placed.intensity,
        attainable_flops_per_s=placed.attainable_flops_per_s,
        bound=placed.bound,
        time_s=time_s,
        time_share=0.0,  # set once all points exist
        hint=f"{placed.efficiency:.0%} of the {under}; {hint}",
        plotted=True,
        source="measured",
        achieved_flops_per_s=achieved,
        efficiency=placed.efficiency,
    )


def _level_roof(ceilings: Ceilings, level: str) -> BandwidthRoof | None:
    for source in ("measured", "nominal"):
        for roof in ceilings.bandwidth:
            if roof.level == level and roof.source == source:
                return roof
    return None


@dataclass
class _Run:
    """What every kernel needs: the roofs, the protocols, the thread count, and where results go."""

    ceilings: Ceilings
    compute: ComputeRoof
    memory: BandwidthRoof
    threads: int
    proto: dict[str, Any]
    stream_proto: dict[str, Any]
    quick: bool
    points: list[RooflinePoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def point(self, **kw: Any) -> None:
        self.points.append(_point(compute=self.compute, memory=self.memory, **kw))

    def warn(self, label: str, timing_warnings: Sequence[str]) -> None:
        self.warnings += [f"{label}: {w}" for w in timing_warnings]


def _axpy(run: _Run, caches: dict[str, int], llc: int | None) -> None:
    """axpy at half the LLC: the classic 2/24 FLOP/B loop, placed beside the cache roof that holds it."""
    from nnperf.machine.protocol import time_fn

    n = axpy_elements(llc)
    label = f"axpy fp64 N={_pow2(n)}"
    t = time_fn(make_axpy(n), threads=run.threads, **{**run.stream_proto, "warmup": IN_CACHE_WARMUP})
    run.warn(label, t.warnings)
    flops, nbytes = AXPY["flops"] * n, AXPY["bytes"] * n
    held_by = next((lv for lv in ("l1", "l2", "l3") if caches.get(lv, 0) >= 2 * nbytes), None)
    where = f"its {_mib(nbytes)} stay in {held_by.upper()}" if held_by else f"{_mib(nbytes)} of arrays"
    level_roof = _level_roof(run.ceilings, held_by) if held_by else None
    if level_roof is not None and level_roof != run.memory:
        roof = attainable(flops / nbytes, run.compute.flops_per_s, level_roof.bytes_per_s)
        where += (
            f", {flops / t.min_s / roof:.0%} of the {level_roof.level.upper()} roof "
            f"({level_roof.kernel} {level_roof.bytes_per_s / 1e9:.3g} GB/s)"
        )
    run.point(
        label=label,
        kind="axpy",
        flops=flops,
        nbytes=nbytes,
        time_s=t.min_s,
        hint=f"{where}; median {_gflops(flops / t.median_s)}",
    )
    run.notes.append(
        f"axpy z = x + a*y is one fused torch.add(x, y, alpha=a, out=z): read x and y, write z, 24 B per "
        f"element; N={_pow2(n)} ({_mib(nbytes)} in all) is sized to half the last-level cache"
        + (f" ({_mib(llc)})" if llc else " (unknown: a fixed size)")
        + ", so it may sit above the DRAM roof"
    )


def _stencil(run: _Run, llc: int | None) -> None:
    """The 7-point stencil twice: on the whole grid (at 7/64) and tiled in cache-sized slabs (at 7/16)."""
    from nnperf.machine.protocol import time_fn

    edge = QUICK_STENCIL_EDGE if run.quick else STENCIL_EDGE
    npts = stencil_points(edge)
    flops = STENCIL_7PT["flops"] * npts
    peak, bw = run.compute.flops_per_s, run.memory.bytes_per_s
    far = attainable(STENCIL_7PT["flops"] / STENCIL_7PT["bytes"], peak, bw)
    near = attainable(STENCIL_7PT_CACHED["flops"] / STENCIL_7PT_CACHED["bytes"], peak, bw)
    planes = slab_planes(edge, llc)
    base = f"stencil7 fp64 {edge}^3"
    for label, cost, blocking in (
        (base, STENCIL_7PT, None),
        # A short label: on the chart it sits left of its point, in line with the triad's when both run at
        # DRAM speed, and a longer one would run into it.
        ("stencil7 tiled", STENCIL_7PT_CACHED, planes),
    ):
        t = time_fn(make_stencil(edge, blocking), threads=run.threads, **run.proto)
        run.warn(label, t.warnings)
        achieved = flops / t.min_s
        if achieved < far:
            where = "below both"
        elif achieved <= near:
            where = "between the two"
        else:
            where = "above both (the grid stays in a cache)"
        run.point(
            label=label,
            kind="stencil",
            flops=flops,
            nbytes=cost["bytes"] * npts,
            time_s=t.min_s,
            hint=f"7/64 bound {_gflops(far)} ({achieved / far:.0%}), 7/16 bound {_gflops(near)} "
            f"({achieved / near:.0%}): {where}; median {_gflops(flops / t.median_s)}",
        )
    run.notes.append(
        f"stencil7: out = (u + 6 neighbours)/7 on the {npts} interior points of a {edge}^3 fp64 grid "
        f"({_mib(edge**3 * FP64_BYTES)} per grid) as 7 torch ops (1 add into out, 5 in-place adds, 1 in-place "
        "multiply); on the whole grid they are 7 passes naming ~160 B per point, more than the classic 64 B "
        f"(7 reads + 1 write); tiled, the same grid {planes} planes at a time, a slab stays in the "
        "last-level cache and memory sees about the classic cached 16 B (1 read + 1 write)"
    )


def _gemm(run: _Run, sizes: Sequence[int]) -> None:
    """GEMM at each size, by the same sweep that measures the compute roof."""
    from nnperf.machine import gemm as gemm_mod

    dtype = run.compute.dtype
    sweep = gemm_mod.gemm_sweep(
        dtype,
        list(sizes),
        threads=run.threads,
        max_call_s=1.0 if run.quick else 5.0,
        budget_s=20.0 if run.quick else 120.0,
        protocol=run.proto,
    )
    run.warnings += sweep["warnings"]
    esize = _element_bytes(dtype)
    rows = zip(sweep["sizes"], sweep["flops_per_s"], sweep["median_flops_per_s"], strict=True)
    for n, rate, median in rows:
        fl = gemm_mod.gemm_flops(n)
        run.point(
            label=f"gemm {dtype} n={n}",
            kind="gemm",
            flops=fl,
            nbytes=3 * n * n * esize,
            time_s=fl / rate,
            hint=f"median {_gflops(median)}"
            + ("; best size" if n == sweep["best_size"] else "")
            + ("; emulated: the CPU has no native arithmetic for this dtype" if sweep["emulated"] else ""),
        )
    for skip in sweep["skipped"]:
        run.notes.append(f"gemm {dtype} n={skip['size']} not measured: {skip['reason']}")
    run.notes.append(
        f"gemm: torch.mm into a preallocated C, 2 n^3 FLOPs over 3 n^2 x {esize} B (read A and B, write C)"
    )


def _triad(run: _Run, llc: int | None) -> None:
    """STREAM's triad at STREAM's size: the kernel that measures the DRAM roof, measured again."""
    from nnperf.machine import stream as stream_mod

    array_bytes = stream_mod.array_bytes_for(llc)
    n = array_bytes // stream_mod.ELEMENT_BYTES
    label = f"triad fp64 {_mib(array_bytes)}"
    res = stream_mod.measure_stream(
        array_bytes=array_bytes, threads=run.threads, kernels=("triad",), protocol=run.stream_proto
    )["triad"]
    run.warnings += res["warnings"]
    nbytes = res["bytes_per_call"]  # 3 x 8 B per element, as STREAM counts
    run.point(
        label=label,
        kind="triad",
        flops=2 * n,
        nbytes=nbytes,
        time_s=nbytes / res["best"],
        hint=f"achieved {res['best'] / 1e9:.3g} GB/s (roof {run.memory.bytes_per_s / 1e9:.3g} GB/s); "
        f"median {res['median'] / 1e9:.3g} GB/s",
    )
    run.notes.append(
        f"triad a = b + s*c is axpy at STREAM's size (3 arrays of {_mib(array_bytes)}, each >= 4 x the "
        "last-level cache), the kernel and size that measure the DRAM roof: its efficiency says whether "
        "the roof reproduces"
    )


def calibration_points(
    ceilings: Ceilings,
    *,
    dtype: str = "fp32",
    memory_level: str = "dram",
    sizes: Sequence[int] | None = None,
    threads: int | None = None,
    quick: bool = False,
    protocol: str | None = None,
    caches: dict[str, int] | None = None,
    progress: Progress | None = None,
) -> RooflinePoints:
    """Measure the calibration kernels on this machine and place them under ``ceilings``.

    ``dtype`` picks the compute roof and the GEMM's dtype (axpy, stencil and triad are fp64, as in the
    lecture); ``memory_level`` the bandwidth roof every efficiency is taken against. ``sizes`` are the GEMM
    sizes (default 256, 512, 1024, 2048; quick: 128, 256, 512); ``threads`` the torch thread count (default:
    torch's current one); ``quick`` the smaller sizes, a 128^3 stencil grid and the quick protocol.
    ``protocol`` ("quick" or "full", default by ``quick``) is the timing protocol, the machine measurement's
    settings of that name: time the kernels as the roofs were timed, since rates come from the fastest
    sample and more samples find a faster one (a full-protocol GEMM can sit ~15% above a quick-protocol roof).
    ``caches`` (``{"l1", "l2", "l3"}`` bytes) size the axpy and triad arrays; default: this machine's.
    ``progress(label)`` is called before each kernel. Returns measured points: axpy, the stencil (whole grid
    and tiled), one GEMM per size, triad; the chart draws the compute roofs of ``dtype`` only (the other
    dtypes' would crowd it) and every bandwidth roof.
    """
    from nnperf.machine.gemm import CPU_DTYPES
    from nnperf.machine.protocol import torch_threads

    if dtype not in CPU_DTYPES:
        raise UsageError(
            f"calibration GEMM dtype {dtype!r} is not a CPU dtype: use one of {', '.join(CPU_DTYPES)}"
        )
    gemm_sizes = tuple(sizes) if sizes is not None else (QUICK_GEMM_SIZES if quick else DEFAULT_GEMM_SIZES)
    if not gemm_sizes or any(not isinstance(n, int) or n < 2 for n in gemm_sizes):
        raise UsageError(f"GEMM sizes must be integers of at least 2, got {list(gemm_sizes)!r}")
    if threads is not None and threads < 1:
        raise UsageError(f"thread count must be at least 1, got {threads!r}")
    mode = protocol or ("quick" if quick else "full")
    if mode not in ("quick", "full"):
        raise UsageError(f"unknown timing protocol {protocol!r}: use 'quick' or 'full'")
    compute, memory = select_roofs(ceilings, dtype, memory_level)
    if caches is None:
        from nnperf.machine.probes import data_caches

        caches = data_caches()
    llc = max(caches.values()) if caches else None
    proto, stream_proto = _protocols(mode)
    say = progress or (lambda _label: None)
    with torch_threads(threads) as used:
        run = _Run(ceilings, compute, memory, used, proto, stream_proto, quick)
        for roof in (compute, memory):
            if roof.source != "measured":
                run.notes.append(f"no measured roof: the {roof.source} one is used ({_roof_name(roof)})")
        say("axpy")
        _axpy(run, caches, llc)
        say("7-point stencil")
        _stencil(run, llc)
        say(f"gemm {dtype}")
        _gemm(run, gemm_sizes)
        say("STREAM triad")
        _triad(run, llc)
    for p in run.points:
        # The kernels are separate programs, not parts of one pass: each weighs the same on the chart.
        p.time_share = 1.0 / len(run.points)
    run.notes.append(
        f"measured on this machine at {used} thread(s), by nnperf.machine.protocol "
        f"({mode} settings); achieved FLOP/s from the fastest sample (the statistic "
        "the roofs are measured with), the median in each hint; FLOPs and bytes are each kernel's ideal "
        "count, not measured traffic; share: every kernel weighs the same"
    )
    return RooflinePoints(
        model=MODEL,
        level=LEVEL,
        dtype=dtype,
        memory_level=memory_level,
        compute_roof=compute,
        bandwidth_roof=memory,
        ceilings=Ceilings(tuple(c for c in ceilings.compute if c.dtype == dtype), ceilings.bandwidth),
        points=run.points,
        notes=run.notes + run.warnings,
    )


def _element_bytes(dtype: str) -> int:
    from nnperf.machine.gemm import torch_dtype

    return torch_dtype(dtype).itemsize


def _roof_name(roof: ComputeRoof | BandwidthRoof) -> str:
    if isinstance(roof, ComputeRoof):
        return f"{roof.dtype} {roof.flops_per_s / 1e9:.1f} GFLOP/s"
    return f"{roof.level} {roof.kernel} {roof.bytes_per_s / 1e9:.1f} GB/s"


def find_point(points: RooflinePoints, kind: str, *, best: bool = False) -> RooflinePoint:
    """The point of ``kind`` (the first; with ``best``, the highest achieved FLOP/s): e.g. the best GEMM."""
    of_kind = [p for p in points.points if p.kind == kind]
    if not of_kind:
        raise KeyError(f"no {kind} point")
    return max(of_kind, key=lambda p: p.achieved_flops_per_s or 0.0) if best else of_kind[0]
