"""Is one set of timings faster than another, or is the difference noise? (pyperf's ``compare_to``, for steps.)

Two tests on the raw samples, because a ratio of two medians alone can be luck on a shared machine:

* the **Mann-Whitney U test** (two-sided): do the samples of one run tend to be smaller than the other's? It
  assumes nothing about the shape of the timing distribution (timings are skewed, with a long tail of
  interruptions). Exact (the distribution of U counted over every split of the pooled samples) for up to
  :data:`EXACT_MAX` samples in all without ties, else the normal approximation with tie and continuity
  corrections;
* a **bootstrap confidence interval** of the ratio of medians (percentile method, ``resamples`` resamples of
  each set, seeded: the same samples give the same interval).

A difference is *significant* when the test's p-value is below ``alpha``. With 3 samples each the smallest
possible two-sided p is 0.1: such a comparison can never be significant at 0.05, and says so.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from nnperf.analysis.stats import quantile

#: Up to this many samples in all (and no ties) the U test's p-value is exact.
EXACT_MAX = 40


@dataclass(frozen=True)
class SampleComparison:
    """``other`` against ``base``: ``ratio`` = base median / other median (above 1: ``other`` is faster)."""

    n_base: int
    n_other: int
    base_median: float
    other_median: float
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    u_statistic: float
    p_value: float
    test: str  # "exact" or "normal approximation"
    alpha: float
    significant: bool
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) splits give each U = 0 .. m*n (no ties): the exact null distribution."""
    if m == 0 or n == 0:
        return (1,)
    # The largest pooled value belongs to the first set (adds n to U) or to the second (adds nothing).
    with_first, with_second = _u_counts(m - 1, n), _u_counts(m, n - 1)
    out = [0] * (m * n + 1)
    for u, ways in enumerate(with_first):
        out[u + n] += ways
    for u, ways in enumerate(with_second):
        out[u] += ways
    return tuple(out)


def _ranks(pooled: list[float]) -> tuple[list[float], list[int]]:
    """Mid-ranks (1-based) of ``pooled`` and the sizes of its groups of ties."""
    order = sorted(range(len(pooled)), key=lambda i: pooled[i])
    ranks = [0.0] * len(pooled)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and pooled[order[j + 1]] == pooled[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, str]:
    """(U of ``a``, two-sided p-value, "exact" or "normal approximation")."""
    m, n = len(a), len(b)
    if m == 0 or n == 0:
        raise ValueError("the U test needs samples on both sides")
    ranks, ties = _ranks([*a, *b])
    u = sum(ranks[:m]) - m * (m + 1) / 2
    mean = m * n / 2
    if not ties and m + n <= EXACT_MAX:
        counts = _u_counts(m, n)
        total = sum(counts)
        # Two-sided: every split at least as far from the mean as the observed U (the distribution is symmetric).
        extreme = sum(c for k, c in enumerate(counts) if abs(k - mean) >= abs(u - mean) - 1e-9)
        return u, min(1.0, extreme / total), "exact"
    big = m + n
    tie_term = sum(t**3 - t for t in ties) / (big * (big - 1))
    var = m * n / 12 * ((big + 1) - tie_term)
    if var <= 0:
        return u, 1.0, "normal approximation"  # every sample equal: nothing differs
    z = (abs(u - mean) - 0.5) / math.sqrt(var)
    return u, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2))), "normal approximation"


def bootstrap_ratio(
    base: Sequence[float],
    other: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(base) / median(other)."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(resamples):
        mb = statistics.median(rng.choices(base, k=len(base)))
        mo = statistics.median(rng.choices(other, k=len(other)))
        ratios.append(mb / mo if mo > 0 else math.inf)
    tail = (1 - confidence) / 2
    return quantile(ratios, tail), quantile(ratios, 1 - tail)


def compare_samples(
    base: Sequence[float],
    other: Sequence[float],
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> SampleComparison:
    """Compare two sets of step times (seconds): the speedup of ``other`` over ``base`` and whether it is real."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha {alpha!r} must be between 0 and 1, e.g. 0.05")
    base, other = [float(x) for x in base], [float(x) for x in other]
    if not base or not other:
        raise ValueError("each side needs at least one sample")
    bm, om = statistics.median(base), statistics.median(other)
    ratio = bm / om if om > 0 else math.inf
    lo, hi = bootstrap_ratio(base, other, confidence=confidence, resamples=resamples, seed=seed)
    u, p, test = mann_whitney(base, other)
    significant = p < alpha
    if significant:
        verdict = f"{ratio:.3g}x faster" if ratio >= 1 else f"{1 / ratio:.3g}x slower"
    else:
        verdict = "not significantly different"
        smallest = _smallest_p(len(base), len(other))
        if smallest >= alpha:
            verdict += f" (with {len(base)} and {len(other)} samples p cannot go below {smallest:.2g}: time more steps)"
    return SampleComparison(
        n_base=len(base),
        n_other=len(other),
        base_median=bm,
        other_median=om,
        ratio=ratio,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        u_statistic=u,
        p_value=p,
        test=test,
        alpha=alpha,
        significant=significant,
        verdict=verdict,
    )


def _smallest_p(m: int, n: int) -> float:
    """The smallest two-sided p the exact U test can give for sizes m and n: 2 / C(m+n, m)."""
    return min(1.0, 2 / math.comb(m + n, m))
