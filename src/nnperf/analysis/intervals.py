"""Interval arithmetic on a lane's busy time: the prioritised cover of nested or overlapping events.

A lane's events become sorted, disjoint segments (:data:`Segment`), each with the first-priority category
that covers it (:func:`busy_cover`); :class:`Cover` answers queries on a window of them (time per category,
idle gaps). Microseconds in, seconds out. Pure arithmetic, kept apart from the trace so that it reads (and
can be tested) on its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from nnperf.analysis.trace_categories import CATEGORIES, PRIORITY

Segment = tuple[float, float, int]  # start, end, category (index into PRIORITY)


def busy_cover(items: Iterable[Segment]) -> list[Segment]:
    """The busy cover of intervals: at each instant the first-priority category covering it; gaps left out."""
    points: list[tuple[float, int, int]] = []
    for s, e, k in items:
        if e > s:
            points.append((s, 1, k))
            points.append((e, -1, k))
    points.sort(key=lambda p: (p[0], p[1]))  # at one instant, ends before starts
    counts = [0] * len(PRIORITY)
    out: list[Segment] = []
    prev: float | None = None
    for t, delta, k in points:
        if prev is not None and t > prev:
            cur = next((i for i, c in enumerate(counts) if c > 0), None)
            if cur is not None:
                if out and out[-1][2] == cur and out[-1][1] == prev:
                    out[-1] = (out[-1][0], t, cur)
                else:
                    out.append((prev, t, cur))
        counts[k] += delta
        prev = t
    return out


class Cover:
    """Sorted, disjoint busy segments of a lane (or of several merged) with window queries."""

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self.starts = [s for s, _, _ in segments]

    @classmethod
    def merge(cls, covers: Iterable[Cover]) -> Cover:
        return cls(busy_cover(seg for c in covers for seg in c.segments))

    def within(self, a: float, b: float) -> Iterable[Segment]:
        i = max(bisect.bisect_right(self.starts, a) - 1, 0)
        while i < len(self.segments) and self.segments[i][0] < b:
            s, e, k = self.segments[i]
            lo, hi = max(s, a), min(e, b)
            if hi > lo:
                yield lo, hi, k
            i += 1

    def by_category(self, a: float, b: float) -> dict[str, float]:
        """Seconds per category (idle included) in [a, b), from microseconds."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        busy = 0.0
        for lo, hi, k in self.within(a, b):
            out[PRIORITY[k]] += (hi - lo) * 1e-6
            busy += hi - lo
        out["idle"] = max(b - a - busy, 0.0) * 1e-6
        return out

    def gaps(self, a: float, b: float) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        t = a
        for lo, hi, _ in self.within(a, b):
            if lo > t:
                out.append((t, lo))
            t = max(t, hi)
        if b > t:
            out.append((t, b))
        return out

    def in_intervals(self, intervals: Iterable[tuple[float, float]]) -> dict[str, float]:
        """Seconds per category (idle = none of this cover) within the given disjoint intervals."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        for a, b in intervals:
            for k, v in self.by_category(a, b).items():
                out[k] += v
        return out
