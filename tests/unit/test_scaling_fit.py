"""Scaling fits and the scaling record on hand-derived numbers (no torch runs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnperf.analysis.scaling import (
    ScalingPoint,
    ScalingResult,
    amdahl_speedup,
    batch_saturation,
    fit_amdahl,
    fit_gustafson,
    karp_flatt,
    parallel_efficiency,
    parse_counts,
    speedups,
)
from nnperf.errors import UsageError
from nnperf.measure.ddp_worker import _merge
from nnperf.measure.scaling import function_scaling, scaling_markdown, scaling_text


# -- Amdahl --------------------------------------------------------------------------------------------------
def test_amdahl_exact_recovery() -> None:
    # s = 0.2, T1 = 10: T(n) = 10 * (0.2 + 0.8 / n): T(1) = 10, T(2) = 6, T(4) = 4, T(8) = 3.
    fit = fit_amdahl([1, 2, 4, 8], [10.0, 6.0, 4.0, 3.0])
    assert fit.serial_fraction == pytest.approx(0.2, abs=1e-12)
    assert fit.t1 == pytest.approx(10.0, abs=1e-12)
    assert fit.max_speedup == pytest.approx(5.0)  # 1 / 0.2
    assert fit.r2 == pytest.approx(1.0)
    assert all(abs(r) < 1e-12 for r in fit.residuals)
    assert not fit.clipped
    assert fit.time(16) == pytest.approx(10 * (0.2 + 0.8 / 16))  # 2.5
    assert fit.speedup(2) == pytest.approx(10 / 6)


def test_amdahl_two_points_without_one() -> None:
    # Only T(2) = 6 and T(4) = 4 (s = 0.2, T1 = 10): the line through (1/2, 6) and (1/4, 4) has slope
    # b = (6 - 4) / (1/2 - 1/4) = 8 and intercept a = 6 - 8/2 = 2: T1 = a + b = 10, s = a / T1 = 0.2.
    fit = fit_amdahl([2, 4], [6.0, 4.0])
    assert fit.serial_fraction == pytest.approx(0.2)
    assert fit.t1 == pytest.approx(10.0)
    assert any("two counts only" in n for n in fit.notes)  # an exact fit through two points says so


def test_amdahl_super_linear_clipped_to_zero() -> None:
    # T(1) = 10, T(2) = 4: x = 1/n = (1, 0.5), slope b = (10 - 4) / 0.5 = 12, intercept a = 10 - 12 = -2 < 0.
    # Refit with a = 0: b = sum(x T) / sum(x^2) = (10 + 2) / (1 + 0.25) = 9.6.
    fit = fit_amdahl([1, 2], [10.0, 4.0])
    assert fit.clipped and fit.serial_fraction == 0.0
    assert fit.t1 == pytest.approx(9.6)
    assert math.isinf(fit.max_speedup)
    assert fit.to_dict()["max_speedup"] is None
    assert "super-linear" in fit.notes[0]


def test_amdahl_slowdown_clipped_to_one() -> None:
    # T(1) = 5, T(2) = 6: negative slope in 1/n; refit with b = 0: T1 = mean = 5.5, s = 1.
    fit = fit_amdahl([1, 2], [5.0, 6.0])
    assert fit.clipped and fit.serial_fraction == 1.0
    assert fit.t1 == pytest.approx(5.5)
    assert fit.max_speedup == 1.0


def test_amdahl_noise_robust() -> None:
    # s = 0.2, T1 = 1, n = 1..8, 20 samples each with independent 2% (one sigma) multiplicative noise.
    rng = np.random.default_rng(0)
    ns = [n for n in range(1, 9) for _ in range(20)]
    times = [(0.2 + 0.8 / n) * (1 + 0.02 * rng.standard_normal()) for n in ns]
    fit = fit_amdahl(ns, times)
    assert abs(fit.serial_fraction - 0.2) <= 0.01
    assert fit.t1 == pytest.approx(1.0, rel=0.02)
    assert fit.r2 is not None and fit.r2 > 0.95


@pytest.mark.parametrize(
    ("ns", "times", "match"),
    [
        ([1, 1], [1.0, 1.0], "two different counts"),
        ([1, 2], [1.0], "one time per count"),
        ([0, 2], [1.0, 1.0], "at least 1"),
        ([1, 2], [1.0, -1.0], "positive"),
        ([], [], "no points"),
    ],
)
def test_amdahl_bad_input(ns: list[int], times: list[float], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        fit_amdahl(ns, times)


# -- Gustafson -----------------------------------------------------------------------------------------------
def test_gustafson_from_speedups() -> None:
    # s = 0.1: S(2) = 2 - 0.1 * 1 = 1.9, S(4) = 4 - 0.1 * 3 = 3.7, S(8) = 8 - 0.1 * 7 = 7.3.
    fit = fit_gustafson([2, 4, 8], speedups=[1.9, 3.7, 7.3])
    assert fit.serial_fraction == pytest.approx(0.1)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.speedup(16) == pytest.approx(16 - 0.1 * 15)


def test_gustafson_from_weak_scaling_times() -> None:
    # Weak scaling, T(1) = 1 and S(n) = n T(1) / T(n): for s = 0.1, T(2) = 2 / 1.9, T(4) = 4 / 3.7.
    fit = fit_gustafson([1, 2, 4], [1.0, 2 / 1.9, 4 / 3.7])
    assert fit.serial_fraction == pytest.approx(0.1)
    assert fit.scaled_speedups == pytest.approx((1.0, 1.9, 3.7))


def test_gustafson_needs_one_for_times_and_clips() -> None:
    with pytest.raises(UsageError, match="n = 1"):
        fit_gustafson([2, 4], [1.0, 1.0])
    with pytest.raises(UsageError, match="not both"):
        fit_gustafson([1, 2], [1.0, 1.0], speedups=[1.0, 2.0])
    # S(2) = 2.2 > 2: s = (2 - 2.2) * 1 / 1 = -0.2, clipped to 0.
    fit = fit_gustafson([2], speedups=[2.2])
    assert fit.clipped and fit.serial_fraction == 0.0


# -- speedup, efficiency, Karp-Flatt -------------------------------------------------------------------------
def test_speedup_and_efficiency() -> None:
    # T = 8, 5, 4 at n = 1, 2, 4: speedup 8/8, 8/5 = 1.6, 8/4 = 2; with batch 8, throughput 1, 1.6, 2 per
    # second: efficiency 1/1, 1.6/(2*1) = 0.8, 2/(4*1) = 0.5.
    assert speedups([1, 2, 4], [8.0, 5.0, 4.0]) == pytest.approx([1.0, 1.6, 2.0])
    assert parallel_efficiency([1, 2, 4], [1.0, 1.6, 2.0]) == pytest.approx([1.0, 0.8, 0.5])
    # Baseline is the smallest count even when it is not listed first, and need not be 1:
    # n = 4, 2 with throughput 3, 2: efficiency at 4 = 3 / ((4/2) * 2) = 0.75.
    assert parallel_efficiency([4, 2], [3.0, 2.0]) == pytest.approx([0.75, 1.0])


def test_karp_flatt_matches_amdahl() -> None:
    # S(2) = 1.6: e = (1/1.6 - 1/2) / (1 - 1/2) = (0.625 - 0.5) / 0.5 = 0.25, and Amdahl with s = 0.25
    # gives S(2) = 1 / (0.25 + 0.375) = 1.6 back.
    assert karp_flatt(2, 1.6) == pytest.approx(0.25)
    assert amdahl_speedup(2, 0.25) == pytest.approx(1.6)
    assert karp_flatt(1, 1.0) is None


# -- batch saturation ----------------------------------------------------------------------------------------
def test_batch_saturation() -> None:
    # best 305 at batch 16; 95% of it is 289.75: batch 4 (290) is the smallest inside the band.
    sat = batch_saturation([1, 2, 4, 8, 16], [100.0, 180.0, 290.0, 300.0, 305.0])
    assert (sat.batch, sat.best_batch, sat.saturated) == (4, 16, True)
    assert sat.to_dict()["share_of_best"] == pytest.approx(290 / 305)
    # A 1% band (301.95): only batch 16 is inside, the largest measured: not shown to saturate.
    sat = batch_saturation([16, 8, 4, 2, 1], [305.0, 300.0, 290.0, 180.0, 100.0], tolerance=0.01)
    assert (sat.batch, sat.saturated) == (16, False)
    with pytest.raises(UsageError, match="tolerance"):
        batch_saturation([1, 2], [1.0, 2.0], tolerance=1.5)


# -- lists -----------------------------------------------------------------------------------------------
def test_parse_counts() -> None:
    assert parse_counts("1, 2,4") == [1, 2, 4]
    assert parse_counts([2, 1]) == [2, 1]
    for bad, match in (
        ("", "empty threads list"),
        ("1,,2", "empty item"),
        ("0,1", "at least 1"),
        ("1,a", "'a' is not a positive integer"),
        ("1.5", "'1.5' is not a positive integer"),
        ([1, 2.0], "not an integer"),
        ([True], "not an integer"),
        ("2,2", "listed twice"),
    ):
        with pytest.raises(UsageError, match=match):
            parse_counts(bad, "threads")


# -- the record ------------------------------------------------------------------------------------------
def _result() -> ScalingResult:
    # Strong scaling, batch 4: median steps 8, 5, 4 s (s = 0.25 at n = 2 by Karp-Flatt, see above).
    return ScalingResult(
        kind="threads",
        model="toy",
        scaling="strong",
        points=[
            ScalingPoint(n=1, step_time_s=[8.0, 7.0, 9.0], samples_per_step=4, threads=1),
            ScalingPoint(n=2, step_time_s=[5.0], samples_per_step=4, threads=2),
            ScalingPoint(n=4, step_time_s=[4.0], samples_per_step=4, threads=4),
            ScalingPoint(n=8, status="failed", error="boom"),
        ],
    )


def test_result_rows_fits_round_trip() -> None:
    r = _result()
    rows = r.rows()
    assert [row["n"] for row in rows] == [1, 2, 4]  # the failed point has no row
    assert [row["throughput"] for row in rows] == pytest.approx([0.5, 0.8, 1.0])  # 4 / 8, 4 / 5, 4 / 4
    assert [row["efficiency"] for row in rows] == pytest.approx([1.0, 0.8, 0.5])
    assert rows[1]["karp_flatt"] == pytest.approx(0.25)
    amdahl = r.fits()["amdahl"]
    assert 0 < amdahl["serial_fraction"] < 1
    d = r.to_dict()
    assert d["schema"] == "nnperf.scaling"
    again = ScalingResult.from_dict(d).to_dict()
    assert again["rows"] == d["rows"] and again["fits"] == d["fits"]
    text = scaling_text(r)
    assert "threads 8: failed: boom" in text and "Amdahl fit: serial fraction" in text
    md = scaling_markdown(r, figure="fig.png")
    assert md.startswith("## toy: thread scaling (strong)") and "![threads scaling of toy](fig.png)" in md


def test_ddp_point_communication() -> None:
    # step 10 ms, compute-only 8 ms, all-reduce in flight 5 ms: exposed = 10 - 8 = 2 ms,
    # overlap = 1 - 2 / 5 = 0.6 (three fifths of the all-reduce hid behind the backward pass).
    p = ScalingPoint(
        n=2, step_time_s=[0.010], compute_time_s=[0.008], allreduce_time_s=[0.005], samples_per_step=16
    )
    c = p.communication()
    assert c["exposed_comm_s"] == pytest.approx(0.002)
    assert c["overlap_share"] == pytest.approx(0.6)
    # Compute slower than the step (noise): nothing exposed, overlap clipped to 1.
    p = ScalingPoint(n=2, step_time_s=[0.010], compute_time_s=[0.011], allreduce_time_s=[0.005])
    assert p.communication()["overlap_share"] == 1.0


def test_weak_scaling_rows_and_gustafson() -> None:
    # Weak scaling, 8 samples per rank: T(1) = 1, T(2) = 2/1.9 s: scaled speedup 1.9, efficiency 0.95.
    r = ScalingResult(
        kind="ddp",
        model="toy",
        scaling="weak",
        points=[
            ScalingPoint(n=1, step_time_s=[1.0], samples_per_step=8),
            ScalingPoint(n=2, step_time_s=[2 / 1.9], samples_per_step=16),
        ],
    )
    rows = r.rows()
    assert rows[1]["efficiency"] == pytest.approx(0.95)
    assert rows[1]["scaled_speedup"] == pytest.approx(1.9)
    assert r.fits()["gustafson"]["serial_fraction"] == pytest.approx(0.1)


def test_merge_intervals() -> None:
    # [0, 2] and [1, 3] overlap into [0, 3] (3 s); [5, 6] adds 1 s: 4 s in flight.
    assert _merge([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0)]) == pytest.approx(4.0)
    assert _merge([(0.0, 4.0), (1.0, 2.0)]) == pytest.approx(4.0)  # nested
    assert _merge([]) == 0.0


def test_function_scaling_fake_clock() -> None:
    # A fake clock: fn(n) advances it by 0.2 + 0.8 / n "seconds": the fit recovers s = 0.2 exactly.
    now = [0.0]

    def fn(n: int) -> None:
        now[0] += 0.2 + 0.8 / n

    r = function_scaling(fn, [1, 2, 4], repeats=3, clock=lambda: now[0])
    assert [p.step_time_s for p in r.points] == [pytest.approx([t] * 3) for t in (1.0, 0.6, 0.4)]
    assert r.amdahl().serial_fraction == pytest.approx(0.2)


@pytest.mark.parametrize("kind", ["batch", "ddp"])
def test_plot_writes_png(kind: str, tmp_path) -> None:
    from nnperf.measure.scaling import write_scaling_plot

    points = [ScalingPoint(n=n, step_time_s=[0.01 * n], samples_per_step=4 * n) for n in (1, 2, 4)]
    r = ScalingResult(kind=kind, model="toy", scaling=None if kind == "batch" else "weak", points=points)
    path = write_scaling_plot(r, tmp_path / "plot.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UsageError, match=r"ending in \.png"):
        write_scaling_plot(r, tmp_path / "plot.jpg")


def test_a_torchrun_failure_names_the_ranks_exception_not_its_boilerplate() -> None:
    from nnperf.measure.ddp_worker import ERROR_MARK
    from nnperf.measure.scaling import _failure_line, _launch_failed

    stderr = "\n".join(
        [
            "[rank1]: Traceback (most recent call last):",
            "[rank1]: RuntimeError: Connection reset by peer",
            "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
            "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer",
            "  error_file: <N/A>",
        ]
    )
    line = _failure_line(2, 1, stderr)
    assert line.startswith("DDP with world size 2 failed (exit status 1): RuntimeError: [")
    assert "Connection closed by peer" in line and "error_file" not in line
    assert _launch_failed(stderr)  # torchrun's own failure: worth one more launch
    ours = f"{ERROR_MARK} out of memory at batch 4096"
    assert not _launch_failed(ours) and _failure_line(2, 1, ours).endswith("out of memory at batch 4096")
