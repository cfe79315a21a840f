"""The timing protocol every machine micro-benchmark uses, written down once.

The loop (compare ``torch.utils.benchmark.Timer.blocked_autorange`` and ``triton.testing.do_bench``):

1. **Warm-up.** ``fn`` is called ``warmup`` times (at least once) and the device synchronised: first calls pay
   for page faults, lazy initialisation, thread-pool start-up and autotuning, which are not the steady state.
2. **Block size.** If ``inner`` is not given, the warm-up's last call estimates the time of one call and
   ``inner`` (calls per timed sample) is chosen so that a sample lasts at least ``min_block_s``; this keeps the
   clock's resolution and the cost of reading it (~100 ns) out of microsecond-scale calls.
3. **Timed samples.** Each sample is: synchronise, read ``clock`` and ``cpu_clock``, call ``fn`` ``inner``
   times, synchronise, read both clocks again; the sample is the elapsed wall time / ``inner`` (seconds per
   call). Samples are taken until *both* ``min_repeats`` samples exist and their wall time adds up to
   ``min_time_s``, or until ``budget_s`` (counted from the start of the warm-up) runs out — whichever comes
   first; ``max_repeats`` caps the count. At least one sample is always taken, even past the budget, so every
   result has a number (``stopped_by`` says why the loop ended).
4. **Statistics are derived, samples stored.** :class:`Timing` keeps every raw sample (wall and process CPU
   seconds) and derives median, inter-quartile range (linear interpolation between order statistics, as
   ``numpy.percentile``'s default), minimum and the relative spread IQR/median.
5. **Quality.** Relative spread above ``noisy_threshold`` (10 %) gives a "noisy" warning. On the CPU, the
   process's CPU time divided by (wall time x threads in use) is the *CPU share*: a compute or memory kernel
   run on ``threads`` threads keeps them all busy (OpenMP workers spin while they wait), so a share well below
   1 means the operating system gave our threads to someone else — another process is competing, and the
   figures understate the machine. Below ``contention_threshold`` (0.8) that gives a "contention" warning.
   GPU benchmarks pass ``check_contention=False``: a host thread blocked in ``cudaDeviceSynchronize`` sleeps.

The clocks are injectable (``clock=time.perf_counter``, ``cpu_clock=time.process_time``) so that a fake clock
makes the loop deterministic in tests.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nnperf.analysis.stats import NOISY_THRESHOLD, noisy_warning, quantile

CONTENTION_THRESHOLD = 0.80

NOISY_ADVICE = "close other programs, use --full (more repetitions) or raise the repetitions"
CONTENTION_ADVICE = (
    "either another process is using the CPUs (then the figures understate this machine: close other "
    "programs) or the kernel leaves threads idle; the machine-wide check in quality.contention tells which"
)


@dataclass
class Timing:
    """Raw samples of one timed function and the statistics derived from them (seconds per call)."""

    times_s: list[float]
    cpu_times_s: list[float] = field(default_factory=list)
    threads: int = 1
    inner: int = 1
    warmup: int = 1
    stopped_by: str = "target"  # "target" (min_repeats and min_time_s met), "budget" or "max_repeats"
    check_contention: bool = True
    noisy_threshold: float = NOISY_THRESHOLD
    contention_threshold: float = CONTENTION_THRESHOLD

    @property
    def n(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else math.nan

    @property
    def min_s(self) -> float:
        return min(self.times_s) if self.times_s else math.nan

    @property
    def q1_s(self) -> float:
        return quantile(self.times_s, 0.25)

    @property
    def q3_s(self) -> float:
        return quantile(self.times_s, 0.75)

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def spread(self) -> float:
        """IQR / median: the relative spread of the samples (0 for one sample)."""
        med = self.median_s
        return self.iqr_s / med if med > 0 else math.nan

    @property
    def cpu_share(self) -> float | None:
        """Process CPU time / (wall time x threads) over all samples; None when not measured."""
        if not self.check_contention or not self.cpu_times_s:
            return None
        wall = sum(self.times_s)
        if wall <= 0:
            return None
        return sum(self.cpu_times_s) / (wall * max(self.threads, 1))

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        noisy = noisy_warning(self.spread, self.n, NOISY_ADVICE, self.noisy_threshold)
        if noisy is not None:
            out.append(noisy)
        share = self.cpu_share
        if share is not None and share < self.contention_threshold:
            out.append(
                f"contention: CPU share {share:.2f} of {self.threads} thread(s) "
                f"(below {self.contention_threshold:.2f}): {CONTENTION_ADVICE}"
            )
        if self.stopped_by == "budget" and self.n < 3:
            out.append(
                f"budget: only {self.n} sample(s) fitted in the time budget: use --full or a larger budget"
            )
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: raw samples plus the derived statistics."""
        return {
            "times_s": list(self.times_s),
            "cpu_times_s": list(self.cpu_times_s),
            "threads": self.threads,
            "inner": self.inner,
            "warmup": self.warmup,
            "stopped_by": self.stopped_by,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "iqr_s": self.iqr_s,
            "spread": self.spread,
            "cpu_share": self.cpu_share,
            "warnings": self.warnings,
        }


def _no_sync() -> None:
    return None


def time_fn(
    fn: Callable[[], object],
    *,
    warmup: int = 1,
    min_repeats: int = 5,
    min_time_s: float = 0.2,
    budget_s: float = 5.0,
    max_repeats: int = 1000,
    inner: int | None = None,
    min_block_s: float = 1e-3,
    threads: int = 1,
    synchronize: Callable[[], object] | None = None,
    check_contention: bool = True,
    clock: Callable[[], float] = time.perf_counter,
    cpu_clock: Callable[[], float] = time.process_time,
) -> Timing:
    """Time ``fn`` by the protocol in this module's docstring; returns seconds per call."""
    sync = synchronize or _no_sync
    start = clock()
    n_warm = max(warmup, 1)
    per_call = 0.0
    for _ in range(n_warm):
        sync()
        t0 = clock()
        fn()
        sync()
        per_call = clock() - t0
    if inner is None:
        # Enough calls per sample that one sample lasts min_block_s (the last warm-up call is the estimate).
        inner = (
            1 if per_call <= 0 or per_call >= min_block_s else min(math.ceil(min_block_s / per_call), 10**6)
        )
    inner = max(int(inner), 1)

    times: list[float] = []
    cpu: list[float] = []
    stopped_by = "target"
    while True:
        sync()
        c0 = cpu_clock()
        t0 = clock()
        for _ in range(inner):
            fn()
        sync()
        t1 = clock()
        c1 = cpu_clock()
        times.append((t1 - t0) / inner)
        cpu.append((c1 - c0) / inner)
        if len(times) >= min_repeats and sum(times) * inner >= min_time_s:
            break
        if len(times) >= max_repeats:
            stopped_by = "max_repeats"
            break
        if t1 - start >= budget_s:
            stopped_by = "budget"
            break
    return Timing(
        times_s=times,
        cpu_times_s=cpu,
        threads=threads,
        inner=inner,
        warmup=n_warm,
        stopped_by=stopped_by,
        check_contention=check_contention,
    )


class torch_threads:
    """Run a block at ``n`` torch intra-op threads; the previous count is restored in ``finally``."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self._prev: int | None = None

    def __enter__(self) -> int:
        import torch

        self._prev = torch.get_num_threads()
        if self.n is not None and self.n != self._prev:
            torch.set_num_threads(self.n)
        return torch.get_num_threads()

    def __exit__(self, *exc: object) -> None:
        import torch

        if self._prev is not None and torch.get_num_threads() != self._prev:
            torch.set_num_threads(self._prev)
