"""Statistics derived from raw samples (pure Python: records and views use them without torch).

Quantiles interpolate linearly between order statistics, numpy.percentile's default ("linear"), so a figure
here can be checked with numpy on the stored samples.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Above this relative spread (IQR / median) a set of timings is called noisy, by every nnperf measurement.
NOISY_THRESHOLD = 0.10


def quantile(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 <= q <= 1) of ``xs``; NaN for no samples."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile {q!r} is outside [0, 1]")
    ordered = sorted(xs)
    if not ordered:
        return math.nan
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def describe(xs: Sequence[float]) -> dict[str, float | int]:
    """n, mean, median, min, max, q1, q3, IQR, p90, p99 and the relative spread IQR/median of ``xs``."""
    n = len(xs)
    if n == 0:
        nan = math.nan
        return {"n": 0, "mean": nan, "median": nan, "min": nan, "max": nan, "q1": nan, "q3": nan,
                "iqr": nan, "p90": nan, "p99": nan, "spread": nan}  # fmt: skip
    med = statistics.median(xs)
    q1, q3 = quantile(xs, 0.25), quantile(xs, 0.75)
    return {
        "n": n,
        "mean": statistics.fmean(xs),
        "median": med,
        "min": min(xs),
        "max": max(xs),
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "p90": quantile(xs, 0.90),
        "p99": quantile(xs, 0.99),
        "spread": (q3 - q1) / med if med > 0 else math.nan,
    }


def noisy_warning(spread: float, n: int, advice: str, threshold: float = NOISY_THRESHOLD) -> str | None:
    """The "noisy" warning for ``n`` samples of relative spread ``spread``; None when they are steady.

    Fewer than three samples have no meaningful IQR, so they are never called noisy (too few samples get
    their own warning from the caller)."""
    if n >= 3 and spread > threshold:
        return f"noisy: IQR/median = {spread:.0%} (over {threshold:.0%}): {advice}"
    return None
