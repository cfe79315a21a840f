"""The timing protocol with a fake clock: deterministic samples give exact statistics."""

from __future__ import annotations

import pytest

from nnperf.machine.protocol import Timing, time_fn


class FakeClock:
    """Wall clock that advances by the next scripted duration each time the timed function runs."""

    def __init__(self, durations: list[float], cpu_ratio: float = 1.0, threads: int = 1) -> None:
        self.durations = list(durations)
        self.t = 0.0
        self.cpu = 0.0
        self.cpu_ratio = cpu_ratio
        self.threads = threads
        self.calls = 0

    def fn(self) -> None:
        d = self.durations[self.calls] if self.calls < len(self.durations) else self.durations[-1]
        self.calls += 1
        self.t += d
        self.cpu += d * self.cpu_ratio * self.threads

    def clock(self) -> float:
        return self.t

    def cpu_clock(self) -> float:
        return self.cpu


def run(fc: FakeClock, **kw: object) -> Timing:
    return time_fn(fc.fn, clock=fc.clock, cpu_clock=fc.cpu_clock, inner=1, **kw)  # type: ignore[arg-type]


def test_exact_median_iqr_min() -> None:
    # one warm-up call (10.0 s, discarded), then samples 1..5 s: 5 samples reach min_repeats=5 and
    # their sum 15 s >= min_time_s=1.
    fc = FakeClock([10.0, 3.0, 1.0, 5.0, 2.0, 4.0])
    t = run(fc, warmup=1, min_repeats=5, min_time_s=1.0, budget_s=100.0)
    assert t.times_s == [3.0, 1.0, 5.0, 2.0, 4.0]
    assert t.median_s == 3.0
    assert t.min_s == 1.0
    # sorted 1,2,3,4,5: Q1 at position 0.25*4 = 1 -> 2.0, Q3 at position 3 -> 4.0, IQR = 2.0
    assert t.iqr_s == 2.0
    assert t.spread == pytest.approx(2.0 / 3.0)
    assert t.stopped_by == "target"
    assert fc.calls == 6


def test_quantile_interpolation() -> None:
    # sorted 1,2,3,4: Q1 at 0.75 -> 1.75, Q3 at 2.25 -> 3.25, IQR 1.5, median 2.5
    t = Timing(times_s=[4.0, 1.0, 3.0, 2.0])
    assert (t.q1_s, t.q3_s, t.iqr_s, t.median_s) == (1.75, 3.25, 1.5, 2.5)


def test_min_time_extends_beyond_min_repeats() -> None:
    # samples of 0.1 s: min_repeats=3 reached after 0.3 s, min_time_s=0.55 needs 6 samples (0.6 s)
    fc = FakeClock([0.1])
    t = run(fc, warmup=1, min_repeats=3, min_time_s=0.55, budget_s=100.0)
    assert t.n == 6


def test_budget_stops_the_loop() -> None:
    # warm-up 1 s then 1 s samples; budget 3.5 s counted from the start: samples end at t=2,3,4 -> the loop
    # stops after the sample ending at 4 s (first past 3.5 s), 3 samples, far from min_repeats=100.
    fc = FakeClock([1.0])
    t = run(fc, warmup=1, min_repeats=100, min_time_s=0.0, budget_s=3.5)
    assert t.n == 3
    assert t.stopped_by == "budget"


def test_budget_spent_in_warmup_still_gives_one_sample() -> None:
    fc = FakeClock([5.0])
    t = run(fc, warmup=1, min_repeats=10, budget_s=1.0)
    assert t.n == 1 and t.stopped_by == "budget"
    assert any(w.startswith("budget") for w in t.warnings)


def test_auto_inner_reaches_min_block() -> None:
    # warm-up call 1e-4 s, min_block_s 1e-3 -> 10 calls per sample; the sample is per call
    fc = FakeClock([1e-4])
    t = time_fn(fc.fn, clock=fc.clock, cpu_clock=fc.cpu_clock, min_block_s=1e-3, min_repeats=2, min_time_s=0)
    assert t.inner == 10
    assert t.times_s == pytest.approx([1e-4, 1e-4])


def test_noisy_warning() -> None:
    fc = FakeClock([1.0, 1.0, 1.0, 2.0, 1.0, 2.0])
    # samples 1,1,2,1,2: median 1, Q1 1, Q3 2 -> spread 100% > 10%
    t = run(fc, warmup=1, min_repeats=5, min_time_s=0.0, budget_s=100.0)
    assert t.spread == 1.0
    assert any(w.startswith("noisy") and "close other programs" in w for w in t.warnings)


def test_quiet_samples_no_warning() -> None:
    fc = FakeClock([1.0], threads=2)  # both threads busy for the whole wall time: share 1.0
    t = run(fc, warmup=1, min_repeats=5, min_time_s=0.0, budget_s=100.0, threads=2)
    assert t.warnings == []


def test_contention_warning() -> None:
    # 2 threads but the process got CPU for only half of 2 x wall: share 0.5 < 0.8
    fc = FakeClock([1.0], cpu_ratio=0.5, threads=2)
    t = run(fc, warmup=1, min_repeats=3, min_time_s=0.0, budget_s=100.0, threads=2)
    assert t.cpu_share == pytest.approx(0.5)
    assert any(w.startswith("contention") for w in t.warnings)
    # the same samples on a GPU benchmark are not judged
    fc = FakeClock([1.0], cpu_ratio=0.5, threads=2)
    t = run(fc, warmup=1, min_repeats=3, min_time_s=0.0, budget_s=100.0, threads=2, check_contention=False)
    assert t.cpu_share is None and t.warnings == []


def test_synchronize_called_around_samples() -> None:
    fc = FakeClock([1.0])
    calls: list[int] = []
    run(fc, warmup=2, min_repeats=3, min_time_s=0.0, budget_s=100.0, synchronize=lambda: calls.append(1))
    # 2 per warm-up call + 2 per sample
    assert len(calls) == 2 * 2 + 2 * 3


def test_torch_threads_restored() -> None:
    torch = pytest.importorskip("torch")
    from nnperf.machine.protocol import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
