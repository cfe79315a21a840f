"""The critical path of a step: the chain of dependent work that covers the most busy time.

Definitions (pure: no trace format here; :mod:`nnperf.analysis.trace` builds the spans and dependencies).

* A *span* is a piece of work on one *lane* (a CPU thread or a GPU stream): a start, an end (any one time
  unit) and whether it *waits*. Spans of one lane must not overlap: give the top-level events of a thread
  (nested events are inside them, not after them); a GPU stream runs one kernel at a time.
* A *dependency* ``a -> b`` says that ``b`` cannot finish its work before ``a`` has finished. Two kinds:

  - implicit, on one lane: each span depends on the previous span of its lane, the last one that ended at or
    before its start (a thread or a stream does one thing after another);
  - explicit, given in ``deps`` as index pairs: a CPU-side launch and the kernel it launched, the device
    work a synchronisation waited for, a forward op and the backward op autograd ran for it on another
    thread.

* A *waiting* span (a synchronisation: the host blocked until the device is done) does no work of its own
  before its explicit dependencies have finished: its *ready* time is the latest end among them (those that
  end after the span itself ends cannot have been waited for and are left out).

A *chain* is a sequence of spans ``s1 -> s2 -> ... -> sk`` along dependencies, each ending no earlier than
its predecessor. The time a chain covers is the sum of its spans' *contributions*, the part of each span
after its predecessor in the chain ended (and, for a waiting span, after it became ready)::

    c(s1) = end(s1) - max(start(s1), ready(s1))
    c(si) = end(si) - max(start(si), end(s(i-1)), ready(si))

The contributions are disjoint intervals of time (each begins at or after the previous one ends), so a
chain's length is the busy time along it: at most the time from its first start to its last end, the
difference being time the chain spent waiting (a kernel queued but not yet running, a gap on a thread).
The *critical path* is the chain of greatest length: the longest path of a DAG whose edge weights are
those contributions, found by dynamic programming over the spans in order of end time, O(spans +
dependencies) after sorting. A dependency that would make a span's contribution negative (a tiny kernel
that finished before its launch call returned) cannot extend a chain and is ignored; so is one that runs
backwards in that order (two spans ending at the same instant: the later one would contribute nothing).
Ties are broken deterministically: a span keeps the first predecessor that reaches its best length, and of
chains of equal length the one ending last is returned.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["PathStep", "SpanLike", "critical_path", "path_length"]


class SpanLike(Protocol):
    """What :func:`critical_path` reads from a span (``waits`` is optional and defaults to False)."""

    @property
    def lane(self) -> Hashable: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


@dataclass(frozen=True, slots=True)
class PathStep:
    """One span of the critical path and the part of it that the path covers (its contribution)."""

    index: int  # into the spans given to critical_path
    start: float  # where its contribution starts (at or after the span's start)
    end: float  # the span's end

    @property
    def length(self) -> float:
        return self.end - self.start


def _waits(span: SpanLike) -> bool:
    return bool(getattr(span, "waits", False))


def critical_path(spans: Sequence[SpanLike], deps: Iterable[tuple[int, int]] = ()) -> list[PathStep]:
    """The chain of ``spans`` covering the most busy time (see the module doc), in time order.

    ``deps``: explicit dependencies as ``(a, b)`` index pairs into ``spans`` (``b`` needs ``a``); the
    dependencies between consecutive spans of one lane are added here. Raises ValueError for a span that
    ends before it starts, spans of one lane that overlap, or a dependency index out of range.
    """
    n = len(spans)
    if n == 0:
        return []
    start = [float(s.start) for s in spans]
    end = [float(s.end) for s in spans]
    waits = [_waits(s) for s in spans]
    for i in range(n):
        if not end[i] >= start[i]:  # also catches NaN
            raise ValueError(f"span {i} ends ({end[i]}) before it starts ({start[i]})")

    preds: list[list[int]] = [[] for _ in range(n)]
    ready = [-math.inf] * n
    for a, b in deps:
        if not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"dependency ({a}, {b}) refers to a span that does not exist (there are {n})")
        if a == b:
            continue
        preds[b].append(a)
        if waits[b] and end[a] <= end[b]:
            ready[b] = max(ready[b], end[a])

    # Implicit dependencies: each span on the span of its lane that ended last at or before its start.
    lanes: dict[Hashable, list[int]] = defaultdict(list)
    for i, s in enumerate(spans):
        lanes[s.lane].append(i)
    for lane, members in lanes.items():
        members.sort(key=lambda i: (start[i], end[i], i))
        for prev, cur in itertools.pairwise(members):
            if start[cur] < end[prev]:
                raise ValueError(
                    f"spans {prev} and {cur} overlap on lane {lane!r}: give the top-level events of a lane"
                )
            preds[cur].append(prev)

    order = sorted(range(n), key=lambda i: (end[i], start[i], i))
    pos = [0] * n
    for p, i in enumerate(order):
        pos[i] = p
    best = [0.0] * n
    came_from = [-1] * n
    for b in order:
        own = max(start[b], ready[b])
        best[b] = end[b] - own
        for a in preds[b]:
            if pos[a] >= pos[b]:
                continue  # ends at the same instant but sorts later: it could add nothing
            gain = end[b] - max(own, end[a])
            if gain < 0:
                continue
            if best[a] + gain > best[b]:
                best[b] = best[a] + gain
                came_from[b] = a
    last = max(order, key=lambda i: (best[i], pos[i]))
    chain: list[int] = []
    i = last
    while i != -1:
        chain.append(i)
        i = came_from[i]
    chain.reverse()
    out: list[PathStep] = []
    prev_end = -math.inf
    for i in chain:
        begin = max(start[i], ready[i], prev_end)
        out.append(PathStep(i, begin, end[i]))
        prev_end = end[i]
    return out


def path_length(path: Sequence[PathStep]) -> float:
    """The busy time a path covers: the sum of its contributions."""
    return sum(step.length for step in path)
