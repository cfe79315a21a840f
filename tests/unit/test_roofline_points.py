"""Estimated roofline points of a real static analysis (resnet18 on meta tensors) under synthetic roofs.

The roofs: 160 GFLOP/s (fp32, measured) and 40 GB/s (DRAM triad, measured), so the ridge is
160e9 / 40e9 = 4 FLOPs per byte: a point left of 4 is memory-bound, right of it compute-bound.
"""

from __future__ import annotations

import copy
import math
import re

import pytest

import nnperf
from nnperf.analysis.roofline import ceilings_from_profile
from nnperf.analysis.roofline_points import hint, roof_dtype, roofline_points, select_roofs
from nnperf.errors import UsageError
from nnperf.records.static_profile import OpRecord
from nnperf.report.roofline_chart import COLUMNS, point_cells, roofline_html, roofline_table, write_chart
from nnperf.static import aggregate
from nnperf.static.summary import StaticSummary

PEAK, BW = 160e9, 40e9
PROFILE = {
    "measured": {
        "flops": {"fp32": PEAK},
        "bandwidth": {"dram": {"copy": 38e9, "triad": BW}, "l2": {"read": 300e9}},
    },
    "nominal": {"flops": {"fp32": 200e9}},
}


@pytest.fixture(scope="module")
def ceilings():
    return ceilings_from_profile(PROFILE)


@pytest.fixture(scope="module")
def resnet18() -> StaticSummary:
    return nnperf.summary("resnet18")  # batch 1, 3x224x224, fp32, inference


def _by(points, group: str) -> dict[str, object]:
    return {p.label: p for p in points if p.group == group}


def test_resnet18_op_kinds_sit_on_their_side_of_the_ridge(resnet18, ceilings) -> None:
    r = roofline_points(resnet18, ceilings, level="op")
    assert r.ridge_flops_per_byte == 4.0  # 160 GFLOP/s / 40 GB/s
    kinds = _by(r.points, "op kind")
    # conv1 alone: 2*64*3*7*7*112*112 = 236,027,904 FLOPs over 602,112 (input) + 37,632 (weight)
    # + 3,211,264 (output) bytes = 61.3 FLOPs/byte; all 20 convolutions together 57.3 > 4: compute side.
    conv1 = next(o for o in resnet18.profile.infer_ops if o.module == "conv1")
    assert conv1.flops == 236_027_904 and conv1.bytes == 602_112 + 37_632 + 3_211_264
    assert kinds["conv"].intensity_flops_per_byte == pytest.approx(57.27, abs=0.01)
    assert kinds["conv"].bound == "compute" and kinds["conv"].attainable_flops_per_s == PEAK
    # Pointwise (relu, add) and norm move ~1 element per FLOP or less: far left of 4.
    for kind in ("norm", "pointwise", "pool", "reduction"):
        assert kinds[kind].bound == "memory", kind
        assert kinds[kind].intensity_flops_per_byte < 1
        assert kinds[kind].attainable_flops_per_s == pytest.approx(kinds[kind].intensity_flops_per_byte * BW)


def test_resnet18_ops_by_name(resnet18, ceilings) -> None:
    ops = _by(roofline_points(resnet18, ceilings, level="op").points, "op")
    assert ops["aten.convolution.default"].bound == "compute"
    # add_: 1 FLOP per element, reads 2 x 4 B and writes 4 B: 1/12 = 0.0833 FLOPs/byte.
    assert ops["aten.add_.Tensor"].intensity_flops_per_byte == pytest.approx(1 / 12)
    # relu_: 1 FLOP per element, reads 4 B, writes 4 B: 1/8 = 0.125.
    assert ops["aten.relu_.default"].intensity_flops_per_byte == pytest.approx(1 / 8)
    # batch norm (eval): ~4 FLOPs per element over 8 B, a little less with the per-channel statistics: < 0.5.
    bn = ops["aten.native_batch_norm.default"]
    assert 0.45 < bn.intensity_flops_per_byte < 0.5
    for name in ("aten.add_.Tensor", "aten.relu_.default", "aten.native_batch_norm.default"):
        assert ops[name].bound == "memory"
    # The attainable rate of add_ under the DRAM roof: 0.0833 x 40 GB/s = 3.33 GFLOP/s.
    assert ops["aten.add_.Tensor"].attainable_flops_per_s == pytest.approx(40e9 / 12)
    assert "aten.empty.memory_format" not in ops  # moves no bytes: skipped, and said so
    assert "flatten" not in " ".join(ops)


def test_time_at_the_roof_and_shares(resnet18, ceilings) -> None:
    for level in ("model", "module", "op"):
        r = roofline_points(resnet18, ceilings, level=level, depth=1)
        groups: dict[tuple[str, str], float] = {}
        for p in r.points:
            assert p.time_s == pytest.approx(max(p.flops / PEAK, p.bytes / BW))
            groups[(p.scope, p.group)] = groups.get((p.scope, p.group), 0.0) + p.time_share
        assert groups and all(math.isclose(s, 1.0) for s in groups.values()), (level, groups)


def test_model_and_module_points_keep_the_totals(resnet18, ceilings) -> None:
    model = {p.label: p for p in roofline_points(resnet18, ceilings, level="model").points}
    assert set(model) == {"inference", "training step"}
    assert model["inference"].flops == resnet18.inference.flops  # resnet18 has no uncounted op
    assert model["inference"].bytes == resnet18.inference.bytes
    train = aggregate.totals(resnet18.profile.train_ops)
    assert (model["training step"].flops, model["training step"].bytes) == (train.flops, train.bytes)

    modules = roofline_points(resnet18, ceilings, level="module", depth=1).points
    expected = aggregate.by_module([o for o in resnet18.profile.infer_ops if o.bytes], depth=1)
    got = {(p.label if p.label != "(model)" else "", p.phase): (p.flops, p.bytes) for p in modules}
    assert got == {k: (t.flops, t.bytes) for k, t in expected.items()}
    assert {"conv1", "layer1", "layer4", "fc"} <= {p.label for p in modules}


def _with_extra_ops(summary: StaticSummary, *extra: OpRecord) -> StaticSummary:
    profile = copy.copy(summary.profile)
    profile.infer_ops = [*summary.profile.infer_ops, *extra]
    return StaticSummary(profile)


def test_uncounted_ops_are_excluded_and_reported(resnet18, ceilings) -> None:
    mystery = OpRecord(
        "aten.mystery.default", "layer1", "forward", None, None, 0, 1000, 1000, (), (), count=3
    )
    s = _with_extra_ops(resnet18, mystery)
    r = roofline_points(s, ceilings, level="op")
    assert any("3 uncounted op call(s) excluded" in n and "aten.mystery.default x3" in n for n in r.notes)
    assert "aten.mystery.default" not in {p.label for p in r.points}
    # Its 6,000 bytes are not added to a group whose FLOPs they lack: the model point is unchanged.
    before = roofline_points(resnet18, ceilings, level="model").points[0]
    after = roofline_points(s, ceilings, level="model").points[0]
    assert (after.flops, after.bytes) == (before.flops, before.bytes)
    assert not any("uncounted" in n for n in roofline_points(resnet18, ceilings, level="op").notes)


def test_a_copy_with_bytes_but_no_flops_is_listed_not_plotted(resnet18, ceilings) -> None:
    copy_op = OpRecord("aten.copy_.default", "fc", "forward", "memory", 0, 0, 4000, 4000, (), ())
    r = roofline_points(_with_extra_ops(resnet18, copy_op), ceilings, level="op")
    p = _by(r.points, "op")["aten.copy_.default"]
    assert not p.plotted and p.intensity_flops_per_byte == 0 and p.time_s == pytest.approx(8000 / BW)
    assert any("not drawn" in n and "aten.copy_.default" in n for n in r.notes)
    html = roofline_html(r)
    assert "copy_" in html.split("</svg>")[1]  # in the table
    assert "copy_" not in html.split("</svg>")[0].split("<svg")[1]  # not in the chart


def test_roof_choice_and_bad_input(resnet18, ceilings) -> None:
    assert roof_dtype("fp32") == "fp32" and roof_dtype("fp32 (autocast bf16)") == "bf16"
    compute, memory = select_roofs(ceilings, "fp32", "dram")
    assert compute.source == "measured" and memory.kernel == "triad"
    nominal_only = ceilings_from_profile(
        {"nominal": {"flops": {"fp32": 200e9}, "bandwidth": {"dram": {"x": 50e9}}}}
    )
    r = roofline_points(resnet18, nominal_only, level="model")
    assert r.compute_roof.source == "nominal" and any("nominal one is used" in n for n in r.notes)
    with pytest.raises(UsageError, match=r"no compute roof for 'bf16' .*it has: fp32"):
        roofline_points(resnet18, ceilings, dtype="bf16")
    with pytest.raises(UsageError, match=r"no bandwidth roof for 'l1' .*it has: dram, l2"):
        roofline_points(resnet18, ceilings, memory_level="l1")
    with pytest.raises(UsageError, match="unknown roofline level 'layer'"):
        roofline_points(resnet18, ceilings, level="layer")
    with pytest.raises(UsageError, match="unknown memory level 'ram'"):
        roofline_points(resnet18, ceilings, memory_level="ram")


def test_hints_follow_the_bound_kind_and_time() -> None:
    assert "lower precision" in hint("compute", "conv", 0.5)
    assert "fuse" in hint("memory", "pointwise", 0.2) and "fold" in hint("memory", "norm", 0.2)
    assert "bigger batch" in hint("memory", "matmul", 0.2)
    assert "overhead" in hint("memory", "pointwise", 0.2, "op", time_per_call_s=2e-6)
    assert "little to gain" in hint("memory", "pointwise", 0.001)


def test_table_and_chart_show_the_same_figures(resnet18, ceilings, tmp_path) -> None:
    r = roofline_points(resnet18, ceilings, level="op")
    table = roofline_table(r)
    html = roofline_html(r)
    tooltips = re.findall(r'<g class="point"><title>(.*?)</title>', html, flags=re.S)
    assert len(tooltips) == sum(p.plotted for p in r.points)
    for p in r.points:
        cells = point_cells(p)
        row = next(line for line in table.splitlines() if line.startswith(cells["point"] + " "))
        for c in COLUMNS[1:-1]:
            assert cells[c] in row, (c, row)
        tip = next(t for t in tooltips if t.startswith(f"{cells['point']} ({p.level}, by {p.group}"))
        for c in COLUMNS[1:]:
            assert f"{c}: {cells[c]}".replace("&", "&amp;") in tip
    assert "ridge 4 FLOP/B" in table
    with pytest.raises(UsageError, match=r"unknown chart format '\.pdf'"):
        write_chart(r, tmp_path / "chart.pdf")
