"""Scaling fits and the scaling record: Amdahl, Gustafson, parallel efficiency, batch saturation.

Pure functions over plain numbers (numpy only), and :class:`ScalingResult`, the record of a sweep (raw
step-time samples per point; every speedup, efficiency and fit derived from them in ``to_dict``).

Formulas, with ``n`` the parallel resource (threads, processes) and ``T(n)`` the time of one step:

* **Amdahl** (strong scaling: the same work on more workers). A share ``s`` of the one-worker time ``T1`` is
  serial, the rest divides perfectly::

      T(n) = T1 * (s + (1 - s) / n)          speedup S(n) = T1 / T(n) = 1 / (s + (1 - s) / n)
      maximum speedup (n -> infinity) = 1 / s

  ``T(n) = a + b * (1/n)`` with ``a = T1*s`` and ``b = T1*(1-s)`` is linear in ``1/n``: ordinary least
  squares gives ``a`` and ``b`` in closed form, then ``T1 = a + b`` and ``s = a / (a + b)``.
* **Gustafson** (weak scaling: the work grows with ``n``, each worker keeps its share). With the serial
  share ``s`` of the time on ``n`` workers, the scaled speedup is::

      S(n) = n - s * (n - 1)                  (from weak-scaling step times: S(n) = n * T(1) / T(n))

  ``n - S(n) = s * (n - 1)`` is a line through the origin: ``s = sum((n - S)(n - 1)) / sum((n - 1)^2)``.
* **Parallel efficiency** ``E(n) = S(n) / n``, generalised to throughput so that it also holds for weak
  scaling: ``E(n) = X(n) / ((n / n0) * X(n0))`` with ``X`` samples per second and ``n0`` the smallest
  measured ``n`` (with ``n0 = 1`` and a fixed batch this is exactly ``T(1) / (n * T(n))``).
* **Karp-Flatt** experimentally determined serial fraction of one point:
  ``e = (1/S - 1/n) / (1 - 1/n)`` (constant in ``n`` when Amdahl's model holds).
* **Batch saturation**: the smallest batch whose throughput is within ``tolerance`` (default 5%) of the
  best throughput measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnperf.analysis.stats import describe
from nnperf.errors import UsageError

SCHEMA = "nnperf.scaling"
SCHEMA_VERSION = 1
KINDS = ("threads", "batch", "ddp", "function")
SCALINGS = ("strong", "weak")


# -- validation -------------------------------------------------------------------------------------------
def parse_counts(value: str | Sequence[Any], what: str = "threads") -> list[int]:
    """``"1,2,4"`` or ``[1, 2, 4]`` -> ``[1, 2, 4]``: positive integers, no duplicates, at least one.

    Raises :class:`UsageError` naming the bad item (``what`` says which option it came from).
    """
    items: list[Any]
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")] if value.strip() else []
    else:
        items = list(value)
    if not items:
        raise UsageError(f"empty {what} list: give comma-separated positive integers, e.g. 1,2,4")
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise UsageError(f"{what} {item!r} is not an integer: give positive integers, e.g. 1,2,4")
        if isinstance(item, str):
            if not item:
                raise UsageError(f"empty item in the {what} list {value!r}: give e.g. 1,2,4")
            if not item.isdigit():
                raise UsageError(f"{what} {item!r} is not a positive integer: give e.g. 1,2,4")
            item = int(item)
        if not isinstance(item, int | np.integer):
            raise UsageError(f"{what} {item!r} is not an integer: give positive integers, e.g. 1,2,4")
        if item < 1:
            raise UsageError(f"{what} {item} must be at least 1: give positive integers, e.g. 1,2,4")
        if int(item) in out:
            raise UsageError(f"{what} {item} is listed twice: give each value once")
        out.append(int(item))
    return out


def _arrays(ns: Sequence[float], ys: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(ns, dtype=float)
    y = np.asarray(ys, dtype=float)
    if n.shape != y.shape or n.ndim != 1:
        raise UsageError(f"{len(ns)} counts but {len(ys)} {what}: give one {what[:-1]} per count")
    if n.size == 0:
        raise UsageError(f"no points to fit: give at least two counts with their {what}")
    if not np.all(np.isfinite(n)) or np.any(n < 1):
        raise UsageError(f"counts must be finite and at least 1, got {list(ns)}")
    if not np.all(np.isfinite(y)) or np.any(y <= 0):
        raise UsageError(f"{what} must be finite and positive, got {list(ys)}")
    return n, y


def _r2(y: np.ndarray, fitted: np.ndarray) -> float | None:
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else None
    return 1.0 - ss_res / ss_tot


# -- Amdahl -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AmdahlFit:
    """``T(n) = t1 * (s + (1 - s) / n)`` fitted by least squares on the step times (see module docstring)."""

    serial_fraction: float  # s, in [0, 1]
    t1: float  # fitted one-worker time (seconds)
    max_speedup: float  # 1 / s; math.inf when s == 0
    r2: float | None  # coefficient of determination of the fitted times; None when all times are equal
    residuals: tuple[float, ...]  # measured - fitted time per point (seconds), in input order
    clipped: bool = False  # the unconstrained fit fell outside s in [0, 1] and was refitted at the bound
    notes: tuple[str, ...] = ()

    def time(self, n: float) -> float:
        return amdahl_time(n, self.serial_fraction, self.t1)

    def speedup(self, n: float) -> float:
        return amdahl_speedup(n, self.serial_fraction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "amdahl: T(n) = T1 * (s + (1 - s) / n)",
            "serial_fraction": self.serial_fraction,
            "t1_s": self.t1,
            "max_speedup": None if math.isinf(self.max_speedup) else self.max_speedup,
            "r2": self.r2,
            "residuals_s": list(self.residuals),
            "clipped": self.clipped,
            "notes": list(self.notes),
        }


def amdahl_time(n: float, serial_fraction: float, t1: float) -> float:
    """``T(n) = t1 * (s + (1 - s) / n)``."""
    return t1 * (serial_fraction + (1.0 - serial_fraction) / n)


def amdahl_speedup(n: float, serial_fraction: float) -> float:
    """``S(n) = 1 / (s + (1 - s) / n)``."""
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / n)


def fit_amdahl(ns: Sequence[float], times: Sequence[float]) -> AmdahlFit:
    """Least-squares Amdahl fit of step ``times`` measured at worker counts ``ns`` (repeats allowed).

    Closed form: with ``x = 1/n``, ``T = a + b x`` by ordinary least squares, ``T1 = a + b``,
    ``s = a / T1``. The serial fraction is constrained to [0, 1]: when the unconstrained fit gives ``a < 0``
    (super-linear speedup, e.g. a working set that fits the caches once split) it is refitted with
    ``a = 0`` (``s = 0``, ``b = sum(x T) / sum(x^2)``); when it gives ``b < 0`` (more workers made it
    slower) with ``b = 0`` (``s = 1``, ``T1 = mean(T)``). Either is said in ``notes`` and ``clipped``.
    """
    n, t = _arrays(ns, times, "times")
    x = 1.0 / n
    if np.unique(n).size < 2:
        raise UsageError(f"an Amdahl fit needs at least two different counts, got {sorted(set(ns))}")
    notes: list[str] = []
    xm, tm = x.mean(), t.mean()
    b = float(np.sum((x - xm) * (t - tm)) / np.sum((x - xm) ** 2))
    a = float(tm - b * xm)
    clipped = False
    if a < 0:
        clipped = True
        a, b = 0.0, float(np.sum(x * t) / np.sum(x * x))
        notes.append(
            "super-linear speedup: the unconstrained fit gave a negative serial part; refitted with s = 0"
        )
    elif b < 0:
        clipped = True
        a, b = float(tm), 0.0
        notes.append("no speedup: more workers made the step slower; refitted with s = 1 (all serial)")
    t1 = a + b
    s = a / t1
    if np.unique(n).size == 2:
        notes.append(
            "two counts only: the fit passes through both points and cannot test Amdahl's model; "
            "measure more counts for a check (r2, residuals)"
        )
    fitted = a + b * x
    return AmdahlFit(
        serial_fraction=s,
        t1=t1,
        max_speedup=math.inf if s == 0 else 1.0 / s,
        r2=_r2(t, fitted),
        residuals=tuple(float(r) for r in t - fitted),
        clipped=clipped,
        notes=tuple(notes),
    )


# -- Gustafson --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GustafsonFit:
    """``S(n) = n - s * (n - 1)`` fitted on scaled speedups (see module docstring)."""

    serial_fraction: float  # s, in [0, 1]
    scaled_speedups: tuple[float, ...]  # the measured S(n), in input order
    r2: float | None
    residuals: tuple[float, ...]  # measured - fitted scaled speedup, in input order
    clipped: bool = False
    notes: tuple[str, ...] = ()

    def speedup(self, n: float) -> float:
        return gustafson_speedup(n, self.serial_fraction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": "gustafson: S(n) = n - s * (n - 1)",
            "serial_fraction": self.serial_fraction,
            "scaled_speedups": list(self.scaled_speedups),
            "r2": self.r2,
            "residuals": list(self.residuals),
            "clipped": self.clipped,
            "notes": list(self.notes),
        }


def gustafson_speedup(n: float, serial_fraction: float) -> float:
    """Scaled speedup ``S(n) = n - s * (n - 1)``."""
    return n - serial_fraction * (n - 1.0)


def fit_gustafson(
    ns: Sequence[float], times: Sequence[float] | None = None, *, speedups: Sequence[float] | None = None
) -> GustafsonFit:
    """Least-squares Gustafson fit, from weak-scaling step ``times`` or from scaled ``speedups``.

    Weak-scaling times (each of the ``n`` workers keeps the same work, so ``n`` times the work is done per
    step) become scaled speedups ``S(n) = n * T(1) / T(n)``, with ``T(1)`` the median time at ``n = 1``
    (which must be measured). Then ``s = sum((n - S)(n - 1)) / sum((n - 1)^2)``, clipped to [0, 1].
    """
    if (times is None) == (speedups is None):
        raise UsageError("give either weak-scaling times or scaled speedups to fit_gustafson, not both")
    if times is not None:
        n, t = _arrays(ns, times, "times")
        if not np.any(n == 1):
            raise UsageError(
                f"scaled speedups from weak-scaling times need a run at n = 1, got counts {sorted(set(ns))}"
            )
        t_one = float(np.median(t[n == 1]))
        sp = n * t_one / t
    else:
        assert speedups is not None
        n, sp = _arrays(ns, speedups, "speedups")
    if not np.any(n > 1):
        raise UsageError(f"a Gustafson fit needs a count above 1, got {sorted(set(ns))}")
    d = n - 1.0
    s = float(np.sum((n - sp) * d) / np.sum(d * d))
    notes: list[str] = []
    clipped = False
    if s < 0:
        clipped, s = True, 0.0
        notes.append("scaled speedup above n (super-linear): refitted with s = 0")
    elif s > 1:
        clipped, s = True, 1.0
        notes.append("scaled speedup below 1: adding workers lost throughput; refitted with s = 1")
    if np.unique(n[n > 1]).size == 1:
        notes.append(
            "one count above 1: the fit passes through its point and cannot test Gustafson's model; "
            "measure more counts for a check (r2, residuals)"
        )
    fitted = n - s * d
    return GustafsonFit(
        serial_fraction=s,
        scaled_speedups=tuple(float(v) for v in sp),
        r2=_r2(sp, fitted),
        residuals=tuple(float(r) for r in sp - fitted),
        clipped=clipped,
        notes=tuple(notes),
    )


# -- speedup, efficiency ----------------------------------------------------------------------------------
def speedups(ns: Sequence[float], times: Sequence[float]) -> list[float]:
    """Speedup of each point over the point with the smallest ``n``: ``T(n0) / T(n)``."""
    n, t = _arrays(ns, times, "times")
    t0 = float(t[int(np.argmin(n))])
    return [t0 / float(v) for v in t]


def parallel_efficiency(ns: Sequence[float], throughputs: Sequence[float]) -> list[float]:
    """``E(n) = X(n) / ((n / n0) * X(n0))`` with ``X`` the throughput and ``n0`` the smallest count.

    For strong scaling (fixed work per step) this is ``speedup / (n / n0)``; for weak scaling (work grows with
    ``n``) it is ``T(n0) / T(n)``. 1 is perfect scaling.
    """
    n, x = _arrays(ns, throughputs, "throughputs")
    i0 = int(np.argmin(n))
    n0, x0 = float(n[i0]), float(x[i0])
    return [float(xi) / ((float(ni) / n0) * x0) for ni, xi in zip(n, x, strict=True)]


def karp_flatt(n: float, speedup: float) -> float | None:
    """Experimentally determined serial fraction ``e = (1/S - 1/n) / (1 - 1/n)``; None at ``n = 1``."""
    if n <= 1 or speedup <= 0:
        return None
    return (1.0 / speedup - 1.0 / n) / (1.0 - 1.0 / n)


# -- batch saturation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchSaturation:
    """The smallest batch within ``tolerance`` of the best throughput measured."""

    batch: int
    throughput: float
    best_batch: int
    best_throughput: float
    tolerance: float
    saturated: bool  # False when only the largest batch reaches the band: throughput may still be rising

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "throughput": self.throughput,
            "share_of_best": self.throughput / self.best_throughput,
            "best_batch": self.best_batch,
            "best_throughput": self.best_throughput,
            "tolerance": self.tolerance,
            "saturated": self.saturated,
        }


def batch_saturation(
    batches: Sequence[int], throughputs: Sequence[float], tolerance: float = 0.05
) -> BatchSaturation:
    """The smallest batch whose throughput is at least ``(1 - tolerance) * best``.

    ``saturated`` is False when that batch is the largest one measured (nothing shows the curve flattening:
    measure larger batches).
    """
    if not 0 <= tolerance < 1:
        raise UsageError(f"saturation tolerance {tolerance!r} must be in [0, 1), e.g. 0.05 for 5%")
    b, x = _arrays(batches, throughputs, "throughputs")
    order = np.argsort(b, kind="stable")
    b, x = b[order], x[order]
    best = int(np.argmax(x))
    i = int(np.argmax(x >= (1.0 - tolerance) * x[best]))  # first True in increasing batch order
    return BatchSaturation(
        batch=int(b[i]),
        throughput=float(x[i]),
        best_batch=int(b[best]),
        best_throughput=float(x[best]),
        tolerance=tolerance,
        saturated=bool(i < b.size - 1),
    )


# -- the record -------------------------------------------------------------------------------------------
@dataclass
class ScalingPoint:
    """One point of a sweep: ``n`` threads, batch size or processes, with its raw step-time samples."""

    n: int
    status: str = "ok"  # "ok", "failed" or "skipped"
    error: str | None = None
    step_time_s: list[float] = field(default_factory=list)  # raw samples (the world's step for DDP)
    samples_per_step: int = 0  # samples of all workers together per step
    threads: int | None = None  # intra-op threads (per rank for DDP)
    #: DDP only: raw per-step samples of the compute-only step (no_sync) and of the all-reduce in flight.
    compute_time_s: list[float] = field(default_factory=list)
    allreduce_time_s: list[float] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # Measurement.to_dict() or the DDP run record

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.step_time_s)

    @property
    def median_step_s(self) -> float:
        return float(describe(self.step_time_s)["median"])

    @property
    def throughput(self) -> float | None:
        med = self.median_step_s
        return self.samples_per_step / med if self.ok and med > 0 else None

    def communication(self) -> dict[str, float | None]:
        """DDP: medians of step, compute, all-reduce; exposed communication and the overlap share.

        exposed = step - compute (the all-reduce time the backward pass did not hide), floored at 0;
        overlap share = 1 - exposed / all-reduce, clipped to [0, 1] (1: all communication hidden).
        """
        if not self.compute_time_s or not self.allreduce_time_s:
            return {}
        step = self.median_step_s
        compute = float(describe(self.compute_time_s)["median"])
        comm = float(describe(self.allreduce_time_s)["median"])
        exposed = max(step - compute, 0.0)
        overlap = None if comm <= 0 else min(max(1.0 - exposed / comm, 0.0), 1.0)
        return {
            "step_s": step,
            "compute_s": compute,
            "allreduce_s": comm,
            "exposed_comm_s": exposed,
            "overlap_share": overlap,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "status": self.status,
            "error": self.error,
            "threads": self.threads,
            "samples_per_step": self.samples_per_step,
            "step_time_s": {**describe(self.step_time_s), "samples": list(self.step_time_s)},
            "compute_time_s": list(self.compute_time_s),
            "allreduce_time_s": list(self.allreduce_time_s),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScalingPoint:
        return cls(
            n=int(data["n"]),
            status=data.get("status", "ok"),
            error=data.get("error"),
            step_time_s=list(data.get("step_time_s", {}).get("samples", [])),
            samples_per_step=int(data.get("samples_per_step", 0)),
            threads=data.get("threads"),
            compute_time_s=list(data.get("compute_time_s", [])),
            allreduce_time_s=list(data.get("allreduce_time_s", [])),
            detail=dict(data.get("detail", {})),
        )


@dataclass
class ScalingResult:
    """A scaling sweep: raw points, and the speedups, efficiencies and fits derived from them.

    ``kind`` is what varies: "threads" (intra-op threads, strong scaling), "batch" (batch size: throughput
    and saturation), "ddp" (data-parallel processes; ``scaling`` says whether the per-rank batch is fixed,
    "weak", or the global batch, "strong") or "function" (a user callable timed at each count).
    """

    kind: str
    model: str
    points: list[ScalingPoint] = field(default_factory=list)
    scaling: str | None = None  # "strong", "weak", or None for a batch sweep
    settings: dict[str, Any] = field(default_factory=dict)  # the fixed settings (RunSpec fields, DDP setup)
    created: str = ""
    nnperf_version: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok_points(self) -> list[ScalingPoint]:
        return [p for p in self.points if p.ok]

    def rows(self) -> list[dict[str, Any]]:
        """Per measured point: n, median step, throughput, speedup, efficiency, Karp-Flatt (and DDP split)."""
        ok = self.ok_points()
        out: list[dict[str, Any]] = []
        if not ok:
            return out
        ns = [p.n for p in ok]
        meds = [p.median_step_s for p in ok]
        thr = [p.throughput or math.nan for p in ok]
        sp = speedups(ns, meds) if self.kind != "batch" else [None] * len(ok)
        eff = parallel_efficiency(ns, thr) if self.kind != "batch" else [None] * len(ok)
        best = max(thr)
        for i, p in enumerate(ok):
            row: dict[str, Any] = {
                "n": p.n,
                "threads": p.threads,
                "median_step_s": meds[i],
                "iqr_s": describe(p.step_time_s)["iqr"],
                "throughput": thr[i],
                "samples_per_step": p.samples_per_step,
            }
            if self.kind == "batch":
                row["share_of_best"] = thr[i] / best
                row["time_per_sample_s"] = meds[i] / p.samples_per_step if p.samples_per_step else None
            else:
                # Weak scaling: the step time is not meant to shrink, so its ratio is no speedup; the
                # scaled speedup (work done per second, relative to n0) is.
                if self.scaling == "weak":
                    row["scaled_speedup"] = eff[i] * p.n / min(ns)
                else:
                    row["speedup"] = sp[i]
                    row["karp_flatt"] = karp_flatt(p.n / min(ns), sp[i]) if sp[i] else None
                row["efficiency"] = eff[i]
            row.update(p.communication())
            out.append(row)
        return out

    def fits(self) -> dict[str, Any]:
        """The fits that apply to this sweep; a fit that cannot be made says why instead."""
        ok = self.ok_points()
        ns = [p.n for p in ok]
        meds = [p.median_step_s for p in ok]
        out: dict[str, Any] = {}
        try:
            if self.kind == "batch":
                thr = [p.throughput or math.nan for p in ok]
                out["saturation"] = batch_saturation(ns, thr).to_dict()
            elif self.scaling == "weak":
                out["gustafson"] = fit_gustafson(ns, meds).to_dict()
            else:
                out["amdahl"] = fit_amdahl(ns, meds).to_dict()
        except UsageError as exc:
            out["unfitted"] = str(exc)
        return out

    def amdahl(self) -> AmdahlFit | None:
        ok = self.ok_points()
        if len({p.n for p in ok}) < 2:
            return None
        return fit_amdahl([p.n for p in ok], [p.median_step_s for p in ok])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "scaling": self.scaling,
            "model": self.model,
            "settings": dict(self.settings),
            "created": self.created,
            "nnperf_version": self.nnperf_version,
            "rows": self.rows(),
            "fits": self.fits(),
            "points": [p.to_dict() for p in self.points],
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScalingResult:
        """Rebuild from :meth:`to_dict` output: raw points are read, rows and fits recomputed."""
        return cls(
            kind=data["kind"],
            model=data.get("model", ""),
            points=[ScalingPoint.from_dict(p) for p in data.get("points", [])],
            scaling=data.get("scaling"),
            settings=dict(data.get("settings", {})),
            created=data.get("created", ""),
            nnperf_version=data.get("nnperf_version", ""),
            notes=list(data.get("notes", [])),
            warnings=list(data.get("warnings", [])),
        )
