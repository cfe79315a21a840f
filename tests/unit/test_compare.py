"""Comparing two sets of step times: the exact U test against brute force, the normal approximation, the
bootstrap interval, and the verdicts."""

from __future__ import annotations

import itertools
import random

import pytest

from nnperf.analysis.compare import EXACT_MAX, bootstrap_ratio, compare_samples, mann_whitney


def _brute_force_p(a: list[float], b: list[float]) -> float:
    """Two-sided p by enumerating every way to split the pooled samples into sets of the two sizes."""
    pooled = sorted(a + b)
    m, n = len(a), len(b)

    def u_of(first: list[float]) -> float:
        rest = list(pooled)
        for x in first:
            rest.remove(x)
        return sum(1 for x in first for y in rest if x > y)

    observed = u_of(a)
    mean = m * n / 2
    splits = [u_of([pooled[i] for i in idx]) for idx in itertools.combinations(range(m + n), m)]
    return sum(1 for u in splits if abs(u - mean) >= abs(observed - mean)) / len(splits)


@pytest.mark.parametrize("seed", range(6))
def test_exact_p_equals_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    a = [rng.gauss(10, 1) for _ in range(rng.randint(2, 6))]
    b = [rng.gauss(10.8, 1) for _ in range(rng.randint(2, 6))]
    u, p, test = mann_whitney(a, b)
    assert test == "exact"
    assert u == sum(1 for x in a for y in b if x > y)  # U counts the pairs where a's sample is larger
    assert p == pytest.approx(_brute_force_p(a, b))


def test_normal_approximation_for_large_samples_and_ties() -> None:
    rng = random.Random(1)
    a = [rng.gauss(10, 1) for _ in range(30)]
    b = [rng.gauss(11, 1) for _ in range(30)]
    assert len(a) + len(b) > EXACT_MAX
    _, p, test = mann_whitney(a, b)
    assert test == "normal approximation" and p < 0.01
    _, p_tied, test = mann_whitney([1.0, 1.0, 2.0], [1.0, 2.0, 2.0])
    assert test == "normal approximation" and 0 < p_tied <= 1
    assert mann_whitney([5.0] * 4, [5.0] * 4)[1] == 1.0  # all equal: nothing differs


def test_a_real_speedup_is_significant() -> None:
    rng = random.Random(7)
    base = [rng.gauss(10e-3, 0.1e-3) for _ in range(12)]
    other = [rng.gauss(8e-3, 0.1e-3) for _ in range(12)]
    c = compare_samples(base, other)
    assert c.significant and c.p_value < 1e-4 and c.test == "exact"
    assert c.ratio == pytest.approx(1.25, rel=0.02)
    assert c.ci_low < c.ratio < c.ci_high and c.ci_low > 1.2
    assert c.verdict == f"{c.ratio:.3g}x faster"
    slower = compare_samples(other, base)
    assert slower.significant and slower.verdict == f"{1 / slower.ratio:.3g}x slower"


def test_the_same_samples_are_not_different() -> None:
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02]
    c = compare_samples(base, list(reversed(base)))
    assert c.p_value == 1.0 and not c.significant and c.verdict == "not significantly different"
    assert c.ci_low <= 1.0 <= c.ci_high


def test_three_samples_each_can_never_be_significant() -> None:
    c = compare_samples([10.0, 10.1, 10.2], [5.0, 5.1, 5.2])  # twice as fast, every sample
    assert c.p_value == pytest.approx(0.1)  # 2 / C(6, 3): the smallest two-sided p there is
    assert not c.significant and "p cannot go below 0.1: time more steps" in c.verdict


def test_the_interval_is_reproducible() -> None:
    a, b = [1.0, 1.2, 0.9, 1.1, 1.05], [0.8, 0.85, 0.9, 0.82, 0.81]
    assert bootstrap_ratio(a, b) == bootstrap_ratio(a, b)
    with pytest.raises(ValueError, match="alpha"):
        compare_samples(a, b, alpha=1.5)
