"""The step-timing protocol with a fake clock: what is timed, when the loop stops, how phases add up."""

from __future__ import annotations

import pytest

from nnperf.measure.protocol import time_steps


class FakeClock:
    """Wall and thread clocks that advance only when the fake step says so."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def spend(self, wall: float, cpu: float | None = None) -> None:
        self.wall += wall
        self.cpu += wall if cpu is None else cpu


def _step(clock: FakeClock, costs: dict[str, tuple[float, float]]):
    def step(mark) -> None:
        for phase, (wall, cpu) in costs.items():
            mark(phase)
            clock.spend(wall, cpu)

    return step


def test_phases_and_steps_with_fake_clock() -> None:
    clock = FakeClock()
    # data: 30 ms wall of which 5 ms CPU (waiting for workers); forward 50 ms all CPU.
    step = _step(clock, {"data": (0.030, 0.005), "forward": (0.050, 0.050)})
    out = time_steps(
        step,
        warmup=2,
        min_iters=4,
        min_time_s=0.0,
        budget_s=100.0,
        clock=lambda: clock.wall,
        thread_clock=lambda: clock.cpu,
    )
    assert out.warmup_s == pytest.approx([0.080, 0.080])
    assert out.step_s == pytest.approx([0.080] * 4)  # 30 + 50 ms
    assert out.phase_s["data"] == pytest.approx([0.030] * 4)
    assert out.phase_cpu_s["data"] == pytest.approx([0.005] * 4)
    assert out.phase_s["forward"] == pytest.approx([0.050] * 4)
    assert out.stopped_by == "target"


def test_min_time_extends_the_loop() -> None:
    clock = FakeClock()
    step = _step(clock, {"forward": (0.125, 0.125)})
    # 3 iterations minimum, but 1 s of samples: 8 steps of 0.125 s (exact in binary).
    out = time_steps(
        step, warmup=1, min_iters=3, min_time_s=1.0, clock=lambda: clock.wall, thread_clock=lambda: clock.cpu
    )
    assert len(out.step_s) == 8


def test_budget_stops_the_loop_but_one_sample_is_always_taken() -> None:
    clock = FakeClock()
    step = _step(clock, {"forward": (5.0, 5.0)})
    # The budget (counted from the first warm-up step) is spent by the warm-up: one timed step anyway.
    out = time_steps(
        step,
        warmup=1,
        min_iters=10,
        min_time_s=0,
        budget_s=1.0,
        clock=lambda: clock.wall,
        thread_clock=lambda: clock.cpu,
    )
    assert len(out.step_s) == 1
    assert out.stopped_by == "budget"


def test_on_timed_start_runs_between_warmup_and_timed_steps() -> None:
    clock = FakeClock()
    events: list[str] = []

    def step(mark) -> None:
        mark("forward")
        events.append("step")
        clock.spend(0.01)

    time_steps(
        step,
        warmup=2,
        min_iters=2,
        min_time_s=0,
        on_timed_start=lambda: events.append("start"),
        clock=lambda: clock.wall,
        thread_clock=lambda: clock.cpu,
    )
    assert events == ["step", "step", "start", "step", "step"]


def test_synchronize_is_inside_the_timed_step() -> None:
    clock = FakeClock()
    # A device that finishes 20 ms after the host returns: sync must be counted in the step.
    step = _step(clock, {"forward": (0.01, 0.01)})
    out = time_steps(
        step,
        warmup=1,
        min_iters=2,
        min_time_s=0,
        synchronize=lambda: clock.spend(0.02, 0.0),
        clock=lambda: clock.wall,
        thread_clock=lambda: clock.cpu,
    )
    assert out.step_s == pytest.approx([0.03, 0.03])
    # The wait belongs to the last phase and shows as wall time without CPU time.
    assert out.phase_s["forward"] == pytest.approx([0.03, 0.03])
    assert out.phase_cpu_s["forward"] == pytest.approx([0.01, 0.01])


def test_a_skipped_phase_counts_zero_in_that_step() -> None:
    clock = FakeClock()
    calls = {"n": 0}

    def step(mark) -> None:
        calls["n"] += 1
        mark("forward")
        clock.spend(0.01)
        if calls["n"] % 2 == 0:  # the optimizer runs every other step (gradient accumulation)
            mark("optimizer")
            clock.spend(0.002)

    out = time_steps(
        step, warmup=1, min_iters=4, min_time_s=0, clock=lambda: clock.wall, thread_clock=lambda: clock.cpu
    )
    # Warm-up was call 1; timed calls 2..5: optimizer in calls 2 and 4.
    assert out.phase_s["optimizer"] == pytest.approx([0.002, 0.0, 0.002, 0.0])
    assert len(out.phase_s["forward"]) == 4


def test_min_iters_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_iters"):
        time_steps(lambda mark: None, min_iters=0)


def test_tiny_steps_are_timed_in_blocks_without_phases() -> None:
    clock = FakeClock()
    marks: list[str] = []

    def step(mark) -> None:
        mark("forward")
        marks.append("x")
        clock.spend(0.0001)  # 100 us: under the 1 ms block threshold

    out = time_steps(
        step, warmup=1, min_iters=3, min_time_s=0, clock=lambda: clock.wall, thread_clock=lambda: clock.cpu
    )
    # 1 ms / 0.1 ms = 10 steps per sample; each sample is the mean step time of its block.
    assert out.inner == 10
    assert out.step_s == pytest.approx([0.0001] * 3)
    assert out.phase_s == {}
    assert len(marks) == 1 + 3 * 10


class FakeEvent:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.t = None

    def record(self) -> None:
        self.t = self.clock.wall

    def synchronize(self) -> None:
        return None

    def elapsed_time(self, other: FakeEvent) -> float:
        return (other.t - self.t) * 1e3  # milliseconds, as torch.cuda.Event reports


def test_cuda_event_timer_phases() -> None:
    from types import SimpleNamespace

    from nnperf.measure.protocol import CudaEventTimer

    clock = FakeClock()
    fake_torch = SimpleNamespace(cuda=SimpleNamespace(Event=lambda enable_timing: FakeEvent(clock)))
    timer = CudaEventTimer(fake_torch)
    step = _step(clock, {"data": (0.002, 0.002), "forward": (0.010, 0.001)})
    out = time_steps(
        step,
        warmup=1,
        min_iters=2,
        min_time_s=0,
        device_timer=timer,
        clock=lambda: clock.wall,
        thread_clock=lambda: clock.cpu,
    )
    assert out.device_phase_s["data"] == pytest.approx([0.002, 0.002])
    assert out.device_phase_s["forward"] == pytest.approx([0.010, 0.010])
