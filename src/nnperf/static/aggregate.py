"""Totals derived from op records: per phase, per module (at a depth), per op kind, and what was uncounted.

Pure functions over :class:`~nnperf.records.static_profile.OpRecord` lists, so that module rows always sum to
the totals (every op is attributed to exactly one module path; rolling up to a depth only merges paths).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from nnperf.records.static_profile import OpRecord


@dataclass(slots=True)
class Totals:
    """Sums over a set of ops. ``uncounted`` is the number of op calls without a formula."""

    flops: int = 0
    macs: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    calls: int = 0
    uncounted: int = 0
    uncounted_ops: Counter = field(default_factory=Counter)

    def add(self, r: OpRecord) -> None:
        n = r.count
        self.calls += n
        self.macs += n * r.macs
        self.bytes_read += n * r.bytes_read
        self.bytes_written += n * r.bytes_written
        if r.flops is None:
            self.uncounted += n
            self.uncounted_ops[r.op] += n
        else:
            self.flops += n * r.flops

    @property
    def bytes(self) -> int:
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float | None:
        """Arithmetic intensity, FLOPs per byte of minimum traffic."""
        return self.flops / self.bytes if self.bytes else None

    def to_dict(self) -> dict:
        return {
            "flops": self.flops,
            "macs": self.macs,
            # Reconciliation with counters that only cost multiply-adds (FlopCounterMode, fvcore x2):
            "flops_from_macs": 2 * self.macs,
            "flops_other": self.flops - 2 * self.macs,
            "bytes": self.bytes,
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "intensity_flops_per_byte": self.intensity,
            "op_calls": self.calls,
            "uncounted_calls": self.uncounted,
        }


def totals(records: Iterable[OpRecord]) -> Totals:
    t = Totals()
    for r in records:
        t.add(r)
    return t


def by_phase(records: Iterable[OpRecord]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for r in records:
        out.setdefault(r.phase, Totals()).add(r)
    return out


def truncate_path(path: str, depth: int) -> str:
    """The ancestor of ``path`` at ``depth`` (0 is the model itself, "")."""
    if depth <= 0 or path == "":
        return ""
    return ".".join(path.split(".")[:depth])


def by_module(records: Iterable[OpRecord], depth: int | None = None) -> dict[tuple[str, str], Totals]:
    """Totals keyed by (module path, phase); ``depth`` rolls deeper paths up into their ancestor."""
    out: dict[tuple[str, str], Totals] = {}
    for r in records:
        path = r.module if depth is None else truncate_path(r.module, depth)
        out.setdefault((path, r.phase), Totals()).add(r)
    return out


def by_kind(records: Iterable[OpRecord]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for r in records:
        out.setdefault(r.kind or "uncounted", Totals()).add(r)
    return out


def by_op(records: Iterable[OpRecord]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for r in records:
        out.setdefault(r.op, Totals()).add(r)
    return out


def uncounted(records: Iterable[OpRecord]) -> dict[str, int]:
    """Ops without a formula and how many times each was called."""
    c: Counter = Counter()
    for r in records:
        if r.flops is None:
            c[r.op] += r.count
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))
