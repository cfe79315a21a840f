"""Working-set sweep: read bandwidth from L1-sized to DRAM-sized buffers, and the cache levels it shows.

**Kernel ("read_sum").** A torch op costs microseconds per call, while reading 16 KiB from L1 takes ~100 ns:
calling an op once per pass over a small buffer would time the call, not the cache. So the work is repeated
*inside one op call*: ``buf.expand(R, n).sum()`` is a single reduction over a stride-0 view that re-reads the
same ``n``-element float64 buffer ``R`` times (R chosen so one call reads ``target_bytes``), vectorised by
torch's reduction kernel. Bytes counted: ``R x n x 8`` per call (reads only; the scalar result is nothing).
The reduction over a strided view (rather than ``sum(dim=0)``, whose loop order keeps a slice of the output
in registers and re-reads nothing) walks the buffer in order, pass after pass. :func:`measure_sweep` also
times the same op on a tiny buffer (the per-call overhead) and reports, per point, the fraction of the call
that overhead is, so small-size figures can be checked to be cache bandwidth (fraction ~ 0).

**Convention for threads.** torch parallelises a full reduction by splitting its linear index range, i.e.
the ``R`` passes: *each thread reads the whole buffer*. The working set of a point is the buffer size, and it
is the working set *per thread* as well as in total (threads share one copy). So the breakpoints compare
directly with the per-core L1/L2 sizes and the shared L3 size, whatever the thread count, and the plateau
figures are aggregate bandwidth of all threads used.

**Levels.** :func:`find_levels` is pure: it fits a piecewise-constant curve (one segment per cache
level plus one for memory to log(bandwidth) over log(size) (optimal segmentation by dynamic programming,
least squares), names the segments l1, l2, ... dram in order, takes each plateau as the median of its
segment, and puts each breakpoint where the curve crosses the geometric mean of the two plateaus beside it
(interpolated in log size), the crossing nearest to the fitted boundary. The cache sizes only name the
levels and give each breakpoint's ratio to its cache; they do not steer the fit.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nnperf.machine.protocol import Timing, time_fn, torch_threads

KERNEL = "read_sum"
ELEMENT_BYTES = 8
LINE_BYTES = 64
MIN_LOG_DROP = math.log(1.03)  # a fitted boundary with less than a 3% drop is not a cache edge


def sweep_sizes(start: int, stop: int, per_octave: int) -> list[int]:
    """Log-spaced working-set sizes from ``start`` to ``stop`` bytes (both included), ``per_octave`` per
    doubling, each rounded to a whole cache line; duplicates removed."""
    if start <= 0 or stop < start or per_octave < 1:
        raise ValueError(f"bad sweep range {start}..{stop} at {per_octave} per octave")
    steps = round(math.log2(stop / start) * per_octave)
    out: list[int] = []
    for i in range(steps + 1):
        size = start * 2 ** (i / per_octave)
        size = max(LINE_BYTES, round(size / LINE_BYTES) * LINE_BYTES)
        if not out or size != out[-1]:
            out.append(size)
    return out


def read_kernel(ws_bytes: int, target_bytes: int) -> tuple[Callable[[], object], int]:
    """The read_sum kernel over a ``ws_bytes`` buffer; returns (call, bytes read per call)."""
    import torch

    n = max(ws_bytes // ELEMENT_BYTES, 1)
    reps = max(1, math.ceil(target_bytes / (n * ELEMENT_BYTES)))
    buf = torch.ones(n, dtype=torch.float64)
    view = buf.expand(reps, n)
    return (lambda: view.sum()), reps * n * ELEMENT_BYTES


def measure_sweep(
    sizes: Sequence[int],
    *,
    threads: int | None = None,
    target_bytes: int = 256 * 2**20,
    passes: int = 2,
    protocol: dict[str, Any] | None = None,
    timer: Callable[..., Timing] = time_fn,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Bandwidth of the read_sum kernel at each working-set size (bytes/s from the best sample).

    The sizes are swept ``passes`` times, alternately upwards and downwards, and each point keeps its samples
    from every pass: a neighbour that takes the CPUs for a few milliseconds spoils one pass at a point, not
    all of them.
    """
    protocol = dict(protocol or {})
    samples: dict[int, list[float]] = {int(ws): [] for ws in sizes}
    moved: dict[int, int] = {}
    shares: dict[int, list[float]] = {int(ws): [] for ws in sizes}
    warnings: list[str] = []
    order = [int(ws) for ws in sizes]
    total = max(len(order) * passes, 1)
    done = 0
    with torch_threads(threads) as used:
        # Per-call overhead: the same op on a one-line buffer, read once (~no work).
        tiny, _ = read_kernel(LINE_BYTES, LINE_BYTES)
        overhead = time_fn(tiny, min_repeats=5, min_time_s=0.005, budget_s=1.0, threads=used).median_s
        for p in range(passes):
            for ws in order if p % 2 == 0 else order[::-1]:
                call, moved[ws] = read_kernel(ws, target_bytes)
                timing = timer(call, threads=used, inner=1, **protocol)
                samples[ws].extend(timing.times_s)
                if timing.cpu_share is not None:
                    shares[ws].append(timing.cpu_share)
                warnings.extend(f"sweep {ws} B pass {p + 1}: {w}" for w in timing.warnings)
                del call
                done += 1
                if progress is not None:
                    progress(done / total)
    points: list[dict[str, Any]] = []
    for ws in order:
        t = Timing(times_s=samples[ws], threads=used)
        points.append(
            {
                "bytes": ws,
                "bytes_per_s": moved[ws] / t.min_s,
                "median_bytes_per_s": moved[ws] / t.median_s,
                "bytes_per_call": moved[ws],
                "overhead_fraction": overhead / t.min_s,
                "spread": t.spread,
                "cpu_share": min(shares[ws]) if shares[ws] else None,
                "samples": samples[ws],
            }
        )
    worst = max((p["overhead_fraction"] for p in points), default=0.0)
    if worst > 0.05:
        warnings.append(
            f"sweep: call overhead is up to {worst:.0%} of a call; small-size figures understate the cache"
        )
    return {
        "kernel": KERNEL,
        "threads": used,
        "passes": passes,
        "convention": "bytes = buffer size = working set per thread (each thread re-reads the whole buffer)",
        "call_overhead_s": overhead,
        "points": points,
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------- analysis
def segment(ys: Sequence[float], k: int, min_len: int = 1) -> list[tuple[int, int]]:
    """Optimal split of ``ys`` into ``k`` contiguous segments minimising the within-segment sum of squares.

    Returns ``[(start, end_exclusive), ...]``. ``k`` is reduced when there are too few points.
    """
    n = len(ys)
    if n == 0:
        return []
    k = max(1, min(k, n // max(min_len, 1)))
    pre = [0.0]
    pre2 = [0.0]
    for y in ys:
        pre.append(pre[-1] + y)
        pre2.append(pre2[-1] + y * y)

    def cost(i: int, j: int) -> float:  # sum of squares of ys[i:j] about their mean
        m = j - i
        s = pre[j] - pre[i]
        return (pre2[j] - pre2[i]) - s * s / m

    inf = math.inf
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for s in range(1, k + 1):
        for j in range(s * min_len, n + 1):
            for i in range((s - 1) * min_len, j - min_len + 1):
                if best[s - 1][i] == inf:
                    continue
                c = best[s - 1][i] + cost(i, j)
                if c < best[s][j]:
                    best[s][j] = c
                    back[s][j] = i
    bounds: list[tuple[int, int]] = []
    j = n
    for s in range(k, 0, -1):
        i = back[s][j]
        bounds.append((i, j))
        j = i
    return bounds[::-1]


def _as_points(curve: Sequence[Any]) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for p in curve:
        if isinstance(p, Mapping):
            pts.append((float(p["bytes"]), float(p["bytes_per_s"])))
        else:
            pts.append((float(p[0]), float(p[1])))
    return sorted(pts)


def _crossing(lx: list[float], ly: list[float], seg_a: tuple[int, int], seg_b: tuple[int, int]) -> float:
    """Log size where the curve leaves the upper of two adjacent fitted segments for the lower one.

    The threshold is the mean of the two segments' medians (log bandwidth); the split is the one that puts
    most points on their side of it (above before, below after), so one noisy dip inside a plateau does not
    move the breakpoint; ties go to the split nearest the fitted boundary. Between the two points of the
    split the crossing is interpolated in log size.
    """
    hi = statistics.median(ly[seg_a[0] : seg_a[1]])
    lo = statistics.median(ly[seg_b[0] : seg_b[1]])
    thr = (hi + lo) / 2
    first, last = seg_a[0], seg_b[1] - 1
    boundary = seg_b[0]

    def score(c: int) -> tuple[int, int]:  # split between points c and c + 1
        good = sum(ly[k] >= thr for k in range(first, c + 1)) + sum(
            ly[k] < thr for k in range(c + 1, last + 1)
        )
        return good, -abs(c + 1 - boundary)

    c = max(range(first, last), key=score) if last > first else first
    if c + 1 > last:
        return lx[c]
    dy = ly[c] - ly[c + 1]
    frac = (ly[c] - thr) / dy if dy > 0 else 0.5
    return lx[c] + min(max(frac, 0.0), 1.0) * (lx[c + 1] - lx[c])


def find_levels(curve: Sequence[Any], caches: Mapping[str, int], extra_segments: int = 2) -> dict[str, Any]:
    """Plateaus and breakpoints of a bandwidth-vs-working-set curve.

    ``curve``: points as ``{"bytes", "bytes_per_s"}`` dicts or ``(bytes, bytes_per_s)`` pairs.
    ``caches``: cache sizes in bytes by level name (``{"l1": 32768, "l2": ..., "l3": ...}``).

    The fit does not use the cache sizes: :func:`segment` splits log(bandwidth) into
    ``len(caches) + 1 + extra_segments`` plateaus (the extra ones absorb a gradual ramp, e.g. a shared L3
    fading into memory), and each boundary is placed where the curve crosses the geometric mean of the
    plateaus beside it. Only then are the caches, smallest first, matched in order to the boundaries that
    minimise the total |log(boundary / cache size)|; a cache's plateau is the median bandwidth between the
    previous matched breakpoint and its own (its longest fitted segment there), ``dram`` what lies beyond
    the last.

    Returns ``{"levels": {name: {"bytes_per_s", "from_bytes", "to_bytes", "points"}},
    "breakpoints": {name: {"bytes", "cache_bytes", "ratio", "drop"}}}``: ``ratio`` = detected / cache size,
    ``drop`` = plateau before / plateau after (near 1: no visible drop, the breakpoint is not resolved).
    """
    import itertools

    pts = [(x, y) for x, y in _as_points(curve) if x > 0 and y > 0]
    names = [name for name, size in sorted(caches.items(), key=lambda kv: kv[1]) if size]
    if not pts:
        return {"levels": {}, "breakpoints": {}}
    lx = [math.log(x) for x, _ in pts]
    ly = [math.log(y) for _, y in pts]
    k = len(names) + 1 + extra_segments
    min_len = 2 if len(pts) >= 2 * k else 1
    segs = segment(ly, k, min_len)
    # Boundaries between segments of (nearly) one level are splits of a plateau, not drops: left out.
    bounds = [
        _crossing(lx, ly, segs[s], segs[s + 1])
        for s in range(len(segs) - 1)
        if statistics.median(ly[slice(*segs[s])]) - statistics.median(ly[slice(*segs[s + 1])]) > MIN_LOG_DROP
    ]
    m = min(len(names), len(bounds))
    best: tuple[float, tuple[int, ...]] = (math.inf, ())
    for combo in itertools.combinations(range(len(bounds)), m):
        cost = sum(abs(bounds[b] - math.log(caches[names[j]])) for j, b in enumerate(combo))
        best = min(best, (cost, combo))
    chosen = [bounds[b] for b in best[1]]
    edges = [-math.inf, *chosen, math.inf]
    levels: dict[str, Any] = {}
    plateaus: list[float] = []
    for name, lo, hi in zip([*names[:m], "dram"], edges[:-1], edges[1:], strict=True):
        idx = [i for i in range(len(pts)) if lo < lx[i] <= hi]
        if not idx:
            plateaus.append(math.nan)
            continue
        # The plateau is the longest fitted segment inside the interval (ramps fitted as short segments
        # beside it stay out of the figure); all points of the interval when no segment fits inside.
        inside = [(j - i, i, j) for i, j in segs if lo < lx[i] and lx[j - 1] <= hi]
        _, i0, j0 = max(inside) if inside else (0, idx[0], idx[-1] + 1)
        med = statistics.median(ly[i0:j0])
        plateaus.append(med)
        levels[name] = {
            "bytes_per_s": math.exp(med),
            "from_bytes": pts[idx[0]][0],
            "to_bytes": pts[idx[-1]][0],
            "points": len(idx),
        }
    breakpoints: dict[str, Any] = {}
    for j, name in enumerate(names[:m]):
        at = math.exp(chosen[j])
        breakpoints[name] = {
            "bytes": at,
            "cache_bytes": caches[name],
            "ratio": at / caches[name],
            "drop": math.exp(plateaus[j] - plateaus[j + 1]),
        }
    return {"levels": levels, "breakpoints": breakpoints}
