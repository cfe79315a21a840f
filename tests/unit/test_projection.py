"""`nnperf predict`'s arithmetic: op calls timed at each target's roofs, by hand, and the targets it resolves.

The synthetic target: fp32 1 TFLOP/s (measured), tf32 4 TFLOP/s (nominal), HBM 100 GB/s (measured).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import nnperf
from nnperf.analysis.projection import Target, project, project_target, tokens_per_step
from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof
from nnperf.errors import UsageError
from nnperf.machine.nominal import GPU_TABLE
from nnperf.machine.targets import (
    assume_floor,
    card_names,
    find_card,
    parse_targets,
    target_from_card,
    target_from_profile,
)
from nnperf.records.static_profile import OpRecord
from nnperf.static.summary import StaticSummary

PEAK, TF32, BW = 1e12, 4e12, 1e11
CEILINGS = Ceilings(
    (ComputeRoof("fp32", PEAK, "measured"), ComputeRoof("tf32", TF32, "nominal")),
    (BandwidthRoof("hbm", BW, "triad", "measured"),),
)


def _op(op: str, kind: str | None, flops: int | None, nbytes: int, count: int = 1) -> OpRecord:
    return OpRecord(
        op, "m", "forward", kind, flops, 0, nbytes // 2, nbytes - nbytes // 2, (), (), count=count
    )


# A GEMM (4 ms of compute, 0.8 ms of bytes), two ReLUs (8 ms of bytes each), 100 tiny adds (10 ns each).
MATMUL = _op("aten.mm.default", "matmul", 4_000_000_000, 80_000_000)
RELU = _op("aten.relu.default", "pointwise", 1_000_000, 800_000_000, count=2)
TINY = _op("aten.add.Tensor", "pointwise", 10, 1_000, count=100)
OPS = [MATMUL, RELU, TINY]


def _target(**kw) -> Target:
    base = dict(
        name="t",
        device="test GPU",
        kind="gpu",
        ceilings=CEILINGS,
        memory_level="hbm",
        memory_bytes=10**9,
        memory_source="test",
    )
    return Target(**{**base, **kw})


def _project(target: Target, gemm_dtype: str = "fp32", required: int = 1000, **kw):
    return project_target(
        OPS,
        target,
        dtype="fp32",
        gemm_dtype=gemm_dtype,
        required_bytes=required,
        samples=8,
        tokens=None,
        **kw,
    )


def test_time_at_the_roofs_by_hand() -> None:
    t = _project(_target())
    # matmul 4 ms (compute) + relu 2 x 8 ms (memory) + 100 x 10 ns (memory) = 20.001 ms
    assert t.roofline_s == pytest.approx(4e-3 + 16e-3 + 1e-6)
    assert t.estimate_s == t.roofline_s  # no per-call floor
    assert t.calls == 103
    # The pass as one point: 4.002 GFLOP at 1 TFLOP/s = 4.002 ms < 1.6801 GB at 100 GB/s = 16.801 ms.
    assert t.pass_bound_s == pytest.approx(16.801e-3)
    assert t.pass_bound_s < t.roofline_s
    assert t.memory_bound_share == pytest.approx((16e-3 + 1e-6) / t.roofline_s)
    assert t.by_kind_s == pytest.approx({"pointwise": 16e-3 + 1e-6, "matmul": 4e-3})
    assert t.samples_per_s == pytest.approx(8 / t.roofline_s)
    assert t.ridge_flops_per_byte == pytest.approx(10.0)
    assert any("no measured per-call floor" in n for n in t.notes)
    assert any("spec-sheet" in n for n in t.notes) is False  # fp32 and hbm are measured; tf32 unused


def test_a_per_call_floor_lifts_the_small_ops_only() -> None:
    t = _project(_target(call_overhead_s=5e-6, overhead_source="measured"))
    # The 100 tiny adds take 5 us each instead of 10 ns; the big ops are above the floor.
    assert t.estimate_s == pytest.approx(4e-3 + 16e-3 + 100 * 5e-6)
    assert t.roofline_s == pytest.approx(4e-3 + 16e-3 + 1e-6)
    assert t.call_overhead_source == "measured"


def test_gemm_kinds_at_the_tf32_roof() -> None:
    t = _project(_target(), gemm_dtype="tf32")
    assert t.gemm_roof.dtype == "tf32" and t.compute_roof.dtype == "fp32"
    # matmul: max(4 GFLOP / 4 TFLOP/s = 1 ms, 0.8 ms); the rest unchanged.
    assert t.roofline_s == pytest.approx(1e-3 + 16e-3 + 1e-6)
    assert t.pass_bound_s == pytest.approx(16.801e-3)
    assert any("spec-sheet roofs: tf32 4 TFLOP/s" in n for n in t.notes)


@pytest.mark.parametrize(
    ("required", "capacity", "fits"),
    [(500, 1000, "yes"), (950, 1000, "tight"), (1001, 1000, "no"), (5, None, "unknown")],
)
def test_memory_fit(required: int, capacity: int | None, fits: str) -> None:
    t = _project(_target(memory_bytes=capacity), required=required)
    assert t.fits == fits
    if fits == "no":
        assert any("at least 2 such devices" in n for n in t.notes)


def test_a_missing_roof_names_the_target() -> None:
    with pytest.raises(
        UsageError, match=r"target 't' \(test GPU\) has no bf16 compute roof \(it has: fp32, tf32\)"
    ):
        project_target(
            OPS, _target(), dtype="bf16", gemm_dtype="bf16", required_bytes=0, samples=1, tokens=None
        )
    with pytest.raises(UsageError, match="has no dram bandwidth roof"):
        _project(_target(memory_level="dram"))


def test_tokens_per_step() -> None:
    assert tokens_per_step("4x128 tokens") == 512
    assert tokens_per_step("8x1 tokens after 2048 in the KV cache (decode step)") == 8
    assert tokens_per_step("1x3x224x224 float32") is None


# ---- project(): the whole pass of a real static analysis -------------------------------------------------------
@pytest.fixture(scope="module")
def mnist() -> StaticSummary:
    return nnperf.summary("mnist-cnn", batch=4)


def test_project_a_real_analysis_onto_two_targets(mnist: StaticSummary) -> None:
    slow = _target(
        name="slow", ceilings=Ceilings((ComputeRoof("fp32", PEAK / 10, "measured"),), CEILINGS.bandwidth)
    )
    fast = _target(name="fast")
    p = project(mnist, [slow, fast])
    assert [t.target for t in p.targets] == ["slow", "fast"]
    assert p.scope == "inference" and p.batch == 4 and p.best == "fast"
    costed = [r for r in mnist.profile.infer_ops if r.flops is not None and r.bytes > 0]
    expected = sum(r.count * max(r.flops / PEAK, r.bytes / BW) for r in costed)
    assert p.targets[1].roofline_s == pytest.approx(expected)
    assert p.targets[1].required_bytes == mnist.profile.memory.peak_infer
    assert p.targets[0].speedup == 1.0
    assert p.targets[1].speedup == pytest.approx(p.targets[0].estimate_s / p.targets[1].estimate_s)
    assert p.targets[1].speedup > 1
    data = json.loads(json.dumps(p.to_dict()))
    assert data["schema"] == "nnperf.projection" and data["targets"][1]["time_s"][
        "roofline"
    ] == pytest.approx(expected)


def test_the_best_target_must_fit(mnist: StaticSummary) -> None:
    small = _target(name="small", memory_bytes=1)  # fast, but nothing fits in one byte
    roomy = _target(
        name="roomy", ceilings=Ceilings((ComputeRoof("fp32", PEAK / 10, "measured"),), CEILINGS.bandwidth)
    )
    p = project(mnist, [small, roomy])
    assert p.targets[0].fits == "no" and p.best == "roomy"
    p = project(mnist, [small])
    assert p.best is None and any("fits none" in n for n in p.notes)


def test_uncounted_ops_are_named_and_left_out(mnist: StaticSummary) -> None:
    profile = copy.copy(mnist.profile)
    profile.infer_ops = [*mnist.profile.infer_ops, _op("aten.mystery.default", None, None, 10**9, count=3)]
    p = project(StaticSummary(profile), [_target()])
    assert p.targets[0].roofline_s == pytest.approx(project(mnist, [_target()]).targets[0].roofline_s)
    assert any("3 uncounted op call(s)" in n and "aten.mystery.default x3" in n for n in p.notes)


def test_project_refuses_bad_settings(mnist: StaticSummary) -> None:
    with pytest.raises(UsageError, match="no target"):
        project(mnist, [])
    with pytest.raises(UsageError, match="--tf32 applies to fp32 passes only, this one is bf16"):
        project(mnist, [_target()], dtype="bf16", tf32=True)


def test_tf32_changes_gpu_targets_only(mnist: StaticSummary) -> None:
    cpu = _target(name="c", kind="cpu", ceilings=CEILINGS)
    p = project(mnist, [cpu, _target(name="g")], tf32=True)
    assert p.targets[0].gemm_roof.dtype == "fp32" and p.targets[1].gemm_roof.dtype == "tf32"


# ---- targets --------------------------------------------------------------------------------------------------
def test_every_card_is_found_by_its_listed_name() -> None:
    names = card_names()
    assert len(names) == len(GPU_TABLE) == len(set(names))
    for name, card in zip(names, GPU_TABLE, strict=True):
        assert find_card(name)["model"] == card["model"]
    assert "h100-sxm5-80gb" in names and "rtx-4090-24gb" in names


def test_cards_by_torch_device_name_and_unknown_names() -> None:
    assert find_card("NVIDIA H100 80GB HBM3")["model"] == "H100 SXM5 80GB"
    with pytest.raises(
        UsageError, match=r"unknown target 'a100'.*did you mean a100-sxm4-80gb or a100-sxm4-40gb"
    ):
        find_card("a100")
    with pytest.raises(UsageError, match="--list-cards"):
        find_card("tpu-v5")


def test_a_card_target_has_the_spec_sheet_roofs() -> None:
    t = target_from_card("l4")
    card = find_card("l4")
    assert t.kind == "gpu" and t.memory_level == "hbm" and t.memory_bytes == card["memory_bytes"]
    assert {r.source for r in t.ceilings.compute + t.ceilings.bandwidth} == {"nominal"}
    assert t.ceilings.memory("hbm", "nominal").bytes_per_s == card["memory_bandwidth"]
    assert t.call_overhead_s is None
    assert assume_floor(t, 5e-6).call_overhead_s == 5e-6


CPU_PROFILE = {
    "probes": {
        "cpu": {"model": "Test CPU", "cores": 4, "memory_bytes": 16 * 10**9},
        "gpu": {"available": False},
    },
    "measured": {
        "flops": {"fp32": 2e11},
        "bandwidth": {"dram": {"triad": 2e10}},
        "sweep": {"call_overhead_s": 3e-6},
        "gpu": {"available": False, "reason": "none"},
    },
    "nominal": {"flops": {"fp32": 3e11}},
}
GPU_PROFILE = copy.deepcopy(CPU_PROFILE)
GPU_PROFILE["probes"]["gpu"] = {
    "devices": [{"name": "NVIDIA H100 80GB HBM3", "total_memory_bytes": 85 * 10**9}]
}
GPU_PROFILE["measured"]["gpu"] = {
    "available": True,
    "name": "NVIDIA H100 80GB HBM3",
    "launch_overhead_s": 2.5e-6,
    "flops": {"bf16": 7.5e14, "fp32": 5e13},
    "bandwidth": {"hbm": {"copy": 3.0e12, "triad": 2.9e12}},
}


def test_targets_from_a_saved_profile() -> None:
    cpu = target_from_profile(CPU_PROFILE, None, "lab.json")
    assert (cpu.kind, cpu.device, cpu.memory_bytes, cpu.call_overhead_s) == (
        "cpu",
        "Test CPU, 4 cores",
        16e9,
        3e-6,
    )
    gpu = target_from_profile(GPU_PROFILE, None, "gpu.json")  # the GPU by default when it was measured
    assert gpu.kind == "gpu" and gpu.memory_bytes == 85 * 10**9 and gpu.call_overhead_s == 2.5e-6
    p = project_target(OPS, gpu, dtype="bf16", gemm_dtype="bf16", required_bytes=0, samples=1, tokens=None)
    assert (p.compute_roof.flops_per_s, p.compute_roof.source) == (7.5e14, "measured")
    assert (p.bandwidth_roof.bytes_per_s, p.bandwidth_roof.source) == (2.9e12, "measured")
    assert target_from_profile(GPU_PROFILE, "cpu", "gpu.json:cpu").kind == "cpu"
    with pytest.raises(UsageError, match="the machine profile has no GPU"):
        target_from_profile(CPU_PROFILE, "gpu", "gpu")
    with pytest.raises(UsageError, match="unknown part 'tpu'"):
        target_from_profile(CPU_PROFILE, "tpu", "x.json:tpu")


def test_parse_targets(tmp_path: Path) -> None:
    from nnperf.records.jsonio import write_record
    from nnperf.records.machine_profile import SCHEMA, SCHEMA_VERSION

    path = write_record(
        tmp_path / "lab.json",
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "fingerprint": "x",
            "created": "2026-01-01T00:00:00+00:00",
            "mode": "quick",
            "caches": {},
            **copy.deepcopy(GPU_PROFILE),
        },
    )
    calls: list[int] = []

    def this():
        calls.append(1)
        return CPU_PROFILE

    targets = parse_targets(f"l4, {path}, {path}:cpu", this)
    assert [(t.name, t.kind) for t in targets] == [("l4", "gpu"), (str(path), "gpu"), (f"{path}:cpu", "cpu")]
    assert not calls  # this machine's profile is read only when 'cpu' or 'gpu' is named
    assert [t.kind for t in parse_targets("cpu,l4", this)] == ["cpu", "gpu"] and len(calls) == 1
    with pytest.raises(UsageError, match="named twice"):
        parse_targets("l4,l4", this)
    with pytest.raises(UsageError, match="no target"):
        parse_targets(" , ", this)
    with pytest.raises(UsageError, match=r"machine profile 'nowhere.json' not found"):
        parse_targets("nowhere.json", this)


def test_the_python_api() -> None:
    p = nnperf.predict("mnist-cnn", on="l4,t4", batch=2)
    assert [t.target for t in p.targets] == ["l4", "t4"] and p.batch == 2
    with pytest.raises(UsageError, match=r"'p100-pcie-16gb'.*has no bf16 compute roof"):
        nnperf.predict("mnist-cnn", on="p100-pcie-16gb", dtype="bfloat16")


def test_cost_classes_time_the_pass_exactly() -> None:
    from nnperf.analysis.projection import classes_from_rows, cost_classes, time_at_roofs

    s = nnperf.summary("resnet18", batch=2)
    for records in (s.profile.infer_ops, s.profile.train_ops):
        rows = json.loads(json.dumps(cost_classes(records)))  # as the study store keeps them
        costed = [r for r in records if r.flops is not None and r.bytes > 0]
        assert len(rows) < len(costed)  # identical calls (same kind, FLOPs, bytes) share a row
        assert sum(r[3] for r in rows) == sum(r.count for r in costed)
        kw = dict(peak=PEAK, gemm_peak=TF32, bandwidth=BW, floor=2e-6)
        by_class, by_record = time_at_roofs(classes_from_rows(rows), **kw), time_at_roofs(costed, **kw)
        assert by_class.estimate_s == pytest.approx(by_record.estimate_s, rel=1e-12)
        assert by_class.pass_bound_s == pytest.approx(by_record.pass_bound_s, rel=1e-12)
        assert by_class.by_kind_s == pytest.approx(by_record.by_kind_s, rel=1e-12)
    with pytest.raises(ValueError, match=r"\[kind, flops, bytes, calls\]"):
        classes_from_rows([["conv", 1, 2]])
    with pytest.raises(ValueError, match="non-negative integers"):
        classes_from_rows([["conv", 1, -2, 1]])
