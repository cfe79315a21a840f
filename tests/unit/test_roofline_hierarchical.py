"""The hierarchical roofline: one intensity per memory level from ncu's per-level bytes, hand arithmetic.

The per-level bytes in tests/data/ncu/handwritten_raw.csv are HAND-WRITTEN (see its README.txt), not recorded
on a GPU; the arithmetic below is what the analysis must do with whatever a real recording holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof, gpu_ceilings
from nnperf.analysis.roofline_hierarchical import hierarchical_roofline, load_ncu_comparison
from nnperf.errors import UsageError
from nnperf.measure.ncu import compare_with_static, group_by_op, parse_ncu_csv, static_costs_by_op

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "ncu" / "handwritten_raw.csv"

# peak 100 TFLOP/s; HBM 2 TB/s measured, L2 5 TB/s measured; no L1 roof
CEILINGS = Ceilings(
    (ComputeRoof("fp32", 100e12, "measured"), ComputeRoof("fp32", 60e12, "nominal")),
    (
        BandwidthRoof("hbm", 2e12, "triad", "measured"),
        BandwidthRoof("hbm", 3e12, "spec sheet", "nominal"),
        BandwidthRoof("l2", 5e12, "triad", "measured"),
    ),
)


def op(name: str, **kw: object) -> dict[str, object]:
    return {"op": name, "kernels": 1, "in_static": True, "tensor_instructions": None, **kw}


RECORD = {
    "schema": "nnperf.ncu_comparison",
    "gpu": "NVIDIA H100 80GB HBM3",
    "dtype": "fp32",
    "ops": [
        # 4 GFLOP in 200 us = 20 TFLOP/s; intensities 4e9/1e9 = 4 (L1), 4e9/4e8 = 10 (L2), 4e9/2e8 = 20 (HBM)
        op("aten::convolution", estimated_flops=4_000_000_000, duration_s=200e-6, tensor_instructions=5.0,
           bytes_by_level={"l1": 1e9, "l2": 4e8, "hbm": 2e8}),
        # 10 MFLOP in 100 us = 0.1 TFLOP/s; intensities 0.1, 0.2, 0.25
        op("aten::relu_", estimated_flops=10_000_000, duration_s=100e-6,
           bytes_by_level={"l1": 1e8, "l2": 5e7, "hbm": 4e7}),
        # not in the static profile, no tensor cores: 640 sass FLOPs in 2 us, 640 HBM bytes
        op("aten::copy_", in_static=False, estimated_flops=None, measured_flops=640.0, duration_s=2e-6,
           bytes_by_level={"hbm": 640.0}),
        op("aten::mm", estimated_flops=None, tensor_instructions=100.0, duration_s=1e-6,
           bytes_by_level={"hbm": 1.0}),  # uncounted and tensor cores: no FLOPs to trust
        op("aten::fill_", estimated_flops=0, duration_s=1e-6, bytes_by_level={"hbm": 8.0}),
        op("aten::view", kernels=0, estimated_flops=0),  # no kernel: not placed, not skipped
    ],
}  # fmt: skip


def test_each_level_gets_its_own_intensity_and_the_lowest_roof_binds() -> None:
    r = hierarchical_roofline(RECORD, CEILINGS)
    assert r.compute.flops_per_s == 100e12  # measured preferred over nominal
    assert {b.level: b.bytes_per_s for b in r.bandwidth} == {"l2": 5e12, "hbm": 2e12}
    conv, relu, copy = r.points
    assert conv.op == "aten::convolution" and conv.flops_source == "static estimate"
    assert conv.achieved_flops_per_s == pytest.approx(20e12)
    assert [lp.intensity for lp in conv.levels] == pytest.approx([4.0, 10.0, 20.0])
    l1, l2, hbm = conv.levels
    assert l1.roof is None and l1.attainable_flops_per_s is None  # no L1 roof: listed, cannot bind
    assert l2.attainable_flops_per_s == pytest.approx(50e12)  # min(100e12, 10 x 5e12)
    assert hbm.attainable_flops_per_s == pytest.approx(40e12)  # min(100e12, 20 x 2e12)
    assert conv.binding_level == "hbm" and conv.efficiency == pytest.approx(0.5)  # 20e12 / 40e12
    # relu: L2 allows 0.2 x 5e12 = 1e12, HBM 0.25 x 2e12 = 5e11 -> HBM binds; 1e11 / 5e11 = 0.2
    assert relu.binding_level == "hbm" and relu.efficiency == pytest.approx(0.2)
    assert copy.flops_source == "ncu sass counters"
    assert copy.level("hbm").intensity == pytest.approx(1.0) and copy.level("l2") is None
    # time shares over the drawn points: 200 / (200 + 100 + 2) us
    assert conv.time_share == pytest.approx(200 / 302)
    assert dict(r.skipped) == {
        "aten::mm": "uncounted by the static model and run on tensor cores, which the sass counters miss",
        "aten::fill_": "0 FLOPs in the static estimate (data movement): no intensity",
    }
    assert any("no L1/TEX bandwidth roof" in n for n in r.notes)
    json.dumps(r.to_dict())  # JSON-ready


def test_a_dtype_without_a_compute_roof_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no compute roof for bf16"):
        hierarchical_roofline(RECORD, CEILINGS, dtype="bf16")


def test_gpu_ceilings_prefer_the_measured_profile_and_fall_back_to_the_spec_sheet() -> None:
    nominal = gpu_ceilings("NVIDIA H100 80GB HBM3")
    assert {r.source for r in nominal.compute} == {"nominal"}
    assert [(b.level, b.source) for b in nominal.bandwidth] == [("hbm", "nominal")]
    profile = {
        "measured": {
            "gpu": {"flops": {"fp32": 51e12}, "bandwidth": {"hbm": {"copy": 3.1e12, "triad": 3.0e12}}}
        }
    }
    both = gpu_ceilings("NVIDIA H100 80GB HBM3", profile)
    r = hierarchical_roofline(RECORD, both)
    assert (r.compute.flops_per_s, r.compute.source) == (51e12, "measured")
    assert [(b.level, b.bytes_per_s, b.kernel) for b in r.bandwidth] == [("hbm", 3.0e12, "triad")]


def test_per_level_bytes_flow_from_the_ncu_csv_through_the_comparison() -> None:
    kernels = parse_ncu_csv(FIXTURE.read_text())
    static = static_costs_by_op(
        [SimpleNamespace(op="aten.convolution.default", flops=1_888_223_232, bytes_read=0, bytes_written=0)]
    )
    rows = {r.op: r for r in compare_with_static(group_by_op(kernels, static), static)}
    conv = rows["aten::convolution"]
    # the CSV's conv kernel: l1tex 100,000,000; lts 40,000,000; dram 5,230,592 + 25,690,112 read + written
    assert dict(conv.bytes_by_level) == {"l1": 100e6, "l2": 40e6, "hbm": 30_920_704.0}
    copy = rows["(unattributed)"]
    assert dict(copy.bytes_by_level) == {"l1": 640.0, "hbm": 640.0}  # lts is "n/a" in the recording
    record = {"gpu": "NVIDIA H100 80GB HBM3", "dtype": "fp32", "ops": [r.to_dict() for r in rows.values()]}
    h = hierarchical_roofline(record, CEILINGS)
    (point,) = [p for p in h.points if p.op == "aten::convolution"]
    # 1,888,223,232 FLOPs over 30,920,704 HBM bytes = 61.07 FLOP/byte; in 61.344 us
    assert point.level("hbm").intensity == pytest.approx(1_888_223_232 / 30_920_704)
    assert point.achieved_flops_per_s == pytest.approx(1_888_223_232 / 61.344e-6)


def test_a_foreign_or_missing_record_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no ncu record"):
        load_ncu_comparison(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text('{"traceEvents": []}')
    with pytest.raises(UsageError, match="not an nnperf ncu record"):
        load_ncu_comparison(tmp_path / "x.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(UsageError, match="not a readable JSON"):
        load_ncu_comparison(tmp_path / "bad.json")
    (tmp_path / "ncu_comparison.json").write_text(json.dumps(RECORD))
    assert load_ncu_comparison(tmp_path)["gpu"] == "NVIDIA H100 80GB HBM3"  # a folder works too
