"""Measured roofline points: achieved FLOP/s from counted FLOPs over measured time, against the roofs."""

from __future__ import annotations

import pytest

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof
from nnperf.analysis.roofline_measured import measured_points
from nnperf.errors import UsageError
from nnperf.records.measurement import Measurement, RunSpec
from nnperf.report.roofline_chart import roofline_table

# peak 100 GFLOP/s, DRAM 10 GB/s: ridge = 1e11 / 1e10 = 10 FLOP/B
CEILINGS = Ceilings(
    (ComputeRoof("fp32", 1e11, "measured"),), (BandwidthRoof("dram", 1e10, "triad", "measured"),)
)


def _row(name, phase, flops, nbytes, time_s, calls=1):
    return {"name": name, "phase": phase, "calls": calls, "time_s": time_s, "cpu_time_s": time_s,
            "device_time_s": 0.0, "share": 0.0, "flops": flops, "bytes": nbytes, "uncounted": 0}  # fmt: skip


def _measurement(**ops) -> Measurement:
    return Measurement(
        spec=RunSpec(model="toy", batch=8),
        step_time_s=[0.05, 0.05, 0.05],
        flops={"counted": 1_000_000_000},
        bytes={"counted": 50_000_000},
        ops=ops or None,
    )


def test_model_point_arithmetic() -> None:
    pts = measured_points(_measurement(), CEILINGS, level="model")
    (p,) = pts.points
    # intensity 1e9 / 5e7 = 20 FLOP/B (right of the ridge, 10): compute-bound, attainable 1e11
    assert p.intensity_flops_per_byte == pytest.approx(20.0)
    assert p.bound == "compute" and p.attainable_flops_per_s == pytest.approx(1e11)
    # achieved 1e9 FLOP / 0.05 s = 2e10 FLOP/s = 20% of the roof
    assert p.achieved_flops_per_s == pytest.approx(2e10)
    assert p.efficiency == pytest.approx(0.2)
    assert p.y_flops_per_s == pytest.approx(2e10) and p.source == "measured"


def test_below_both_roofs_when_under_ten_percent() -> None:
    m = _measurement()
    m.step_time_s = [0.5]  # 2e9 FLOP/s = 2% of the 1e11 roof
    (p,) = measured_points(m, CEILINGS, level="model").points
    assert p.bound == "below both roofs" and "overhead" in p.hint


def test_op_rows_unknown_zero_time_and_no_bytes_are_reported_not_plotted() -> None:
    ops = {
        "time_source": "cpu",
        "step_time_s": 0.05,
        "ops": [
            _row("aten::conv2d", "forward", 8e8, 2e7, 0.02),  # 40 FLOP/B, 4e10 FLOP/s = 40% of 1e11
            _row(
                "aten::relu_", "forward", 1e6, 8e6, 0.004
            ),  # 0.125 FLOP/B: attainable 1.25e9, achieved 2.5e8
            _row("aten::custom", "forward", None, 1e6, 0.001),  # uncounted: unknown, not zero
            _row("aten::view", "forward", 0, 0, 0.0001),  # no bytes
            _row("aten::add", "backward", 1e5, 1e6, 0.0),  # no time measured
        ],
        "modules": [],
    }
    pts = measured_points(_measurement(**ops), CEILINGS, level="op")
    by = {p.label: p for p in pts.points}
    assert set(by) == {"aten::conv2d", "aten::relu_"}
    assert by["aten::conv2d"].efficiency == pytest.approx(0.4) and by["aten::conv2d"].bound == "compute"
    # relu: attainable = 0.125 * 1e10 = 1.25e9; achieved 1e6 / 0.004 = 2.5e8 = 20%
    assert by["aten::relu_"].efficiency == pytest.approx(0.2) and by["aten::relu_"].bound == "memory"
    notes = " ".join(pts.notes)
    assert (
        "1 row(s) with uncounted" in notes
        and "1 row(s) with no time" in notes
        and "1 row(s) with no bytes" in notes
    )
    table = roofline_table(pts)
    assert "achieved" in table and "40.0%" in table


def test_module_rows_roll_up_to_depth() -> None:
    ops = {
        "time_source": "cpu",
        "step_time_s": 0.05,
        "ops": [],
        "modules": [
            _row("layer1.0.conv1", "forward", 4e8, 1e7, 0.01),
            _row("layer1.0.conv2", "forward", 4e8, 1e7, 0.01),
            _row("layer1.1.bn", "forward", None, 1e7, 0.001),
            _row("fc", "forward", 2e6, 4e6, 0.001),
        ],
    }
    pts = measured_points(_measurement(**ops), CEILINGS, level="module", depth=1)
    # layer1 has an uncounted part: its FLOPs are unknown, so it is reported, not placed
    assert [p.label for p in pts.points] == ["fc"]
    pts2 = measured_points(_measurement(**ops), CEILINGS, level="module", depth=3)
    conv = {p.label: p for p in pts2.points}
    assert conv["layer1.0.conv1"].flops == 400_000_000


def test_needs_a_profile_below_model_level_and_a_successful_run() -> None:
    with pytest.raises(UsageError, match="--profile"):
        measured_points(_measurement(), CEILINGS, level="op")
    failed = _measurement()
    failed.status, failed.error = "failed", "out of memory at batch 8 on cpu"
    with pytest.raises(UsageError, match="out of memory"):
        measured_points(failed, CEILINGS, level="model")
