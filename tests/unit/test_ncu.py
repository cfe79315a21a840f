"""Nsight Compute: raw-page parser, FLOPs from sass counters, per-op grouping by NVTX, comparison with the
static estimate, the ncu command line, and scripts/ncu_check.py's exit without a GPU.

tests/data/ncu/handwritten_raw.csv is HAND-WRITTEN in ncu's documented raw-page format (see its README.txt),
not recorded on a GPU; scripts/ncu_check.py produces the real recording to replace it.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from nnperf.measure.ncu import (
    NCU_METRICS,
    TENSOR_METRIC,
    UNATTRIBUTED,
    KernelMetrics,
    StaticOpCost,
    compare_with_static,
    group_by_op,
    ncu_command,
    parse_ncu_csv,
    parse_nvtx_stack,
    static_costs_by_op,
    static_op_name,
    totals,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "ncu" / "handwritten_raw.csv"
ELEMS = 8 * 64 * 112 * 112  # = 6_422_528: the conv output / BN / ReLU tensor of the imagined model
CONV_FLOPS = 2 * ELEMS * 3 * 7 * 7  # 2 x outputs x (C_in x kh x kw) = 1_888_223_232

SASS = "sm__sass_thread_inst_executed_op_{}_pred_on.sum"


@pytest.fixture(scope="module")
def kernels() -> list[KernelMetrics]:
    return parse_ncu_csv(FIXTURE.read_text())


def static_records() -> list[SimpleNamespace]:
    """Static OpRecords as the counter would give them (op, flops, bytes, count), estimates set by hand."""

    def rec(op: str, flops: int | None, nbytes: int = 0, count: int = 1) -> SimpleNamespace:
        return SimpleNamespace(op=op, flops=flops, bytes_read=nbytes, bytes_written=0, count=count)

    return [
        rec("aten.convolution.default", CONV_FLOPS, 1000),
        rec("aten.native_batch_norm.default", 2 * ELEMS),  # scale and shift per element
        rec("aten.relu_.default", ELEMS),  # one max per element
        rec("aten.linear.default", 2 * 8 * 512 * 10 + 8 * 10),  # 2*M*N*K + bias = 81_920 + 80 = 82_000
        rec("aten.empty.memory_format", 0, count=3),
    ]


# -- parser -------------------------------------------------------------------------------------------------
def test_parser_skips_log_lines_and_reads_units(kernels: list[KernelMetrics]) -> None:
    assert [k.id for k in kernels] == [0, 1, 2, 3, 4]  # 7 ==PROF== lines and the units row skipped
    conv = kernels[0]
    assert conv.name.startswith("sm80_xmma_fprop_implicit_gemm_tf32")
    assert set(conv.metrics) == set(NCU_METRICS)
    assert conv.metric("dram__bytes_read.sum") == 5_230_592  # "5,230,592": thousands separators
    assert conv.duration_s == pytest.approx(61_344e-9)  # "61,344" nsecond -> seconds
    assert conv.tensor_instructions == 921_984
    assert kernels[4].metric(SASS.format("dfma")) is None  # "n/a"
    assert kernels[4].metric(SASS.format("dadd")) == 0.0


def test_units_scale_to_base_units() -> None:
    text = "\n".join(
        [
            '"ID","Kernel Name","dram__bytes_read.sum","gpu__time_duration.sum","sm__inst_executed_pipe_tensor.sum"',
            '"","","Mbyte","usecond","Kinst"',
            '"7","k","1.5","2.25","3"',
        ]
    )
    (k,) = parse_ncu_csv(text)
    assert k.metric("dram__bytes_read.sum") == pytest.approx(1.5e6)  # ncu's prefixes are powers of 1000
    assert k.duration_s == pytest.approx(2.25e-6)
    assert k.tensor_instructions == pytest.approx(3000)
    assert k.nvtx == () and k.aten_ops == ()


def test_fma_counts_twice(kernels: list[KernelMetrics]) -> None:
    conv, bn, relu, linear, copy = kernels
    # linear: fadd 0 + fmul 80 + 2 x ffma 41_040 = 82_160
    assert linear.flops_by_precision() == {"fp32": 82_160.0, "fp16": 0.0, "fp64": 0.0}
    # batch norm: 2 x ffma 6_422_528 (one FMA per element) = 12_845_056
    assert bn.sass_flops == 2 * ELEMS
    assert conv.sass_flops == ELEMS  # fmul only: the alpha scaling in the epilogue
    assert relu.sass_flops == 0  # max() is FMNMX, not in these counters
    # the copy kernel's dfma is n/a: fp64 = dadd 0 + dmul 0 from what was recorded
    assert copy.flops_by_precision()["fp64"] == 0.0


def test_precision_weights_of_every_counter() -> None:
    values = {SASS.format(op): 10.0 * (i + 1) for i, op in enumerate(["fadd", "fmul", "ffma"])}
    values |= {SASS.format(op): 1.0 for op in ["hadd", "hmul", "hfma", "dadd", "dmul", "dfma"]}
    k = KernelMetrics(0, "k", values)
    # fp32 = 10 + 20 + 2 x 30 = 90; fp16 = 1 + 1 + 2 x 1 = 4; fp64 likewise 4
    assert k.flops_by_precision() == {"fp32": 90.0, "fp16": 4.0, "fp64": 4.0}
    assert k.sass_flops == 98.0
    assert KernelMetrics(1, "none", {TENSOR_METRIC: 5.0}).sass_flops is None  # not recorded is not zero


def test_nvtx_stack_parsing(kernels: list[KernelMetrics]) -> None:
    assert kernels[0].nvtx == (
        "aten::conv2d",
        "aten::convolution",
        "aten::_convolution",
        "aten::cudnn_convolution",
    )
    assert kernels[3].nvtx == ("aten::linear, op_id = 9", "aten::addmm, op_id = 10")
    assert kernels[3].aten_ops == ("aten::linear", "aten::addmm")
    assert kernels[4].nvtx == ()
    cell = '3  "<default domain>:my:range:with:colons:none:none:none:none:none:none" '
    assert parse_nvtx_stack(cell) == ("my:range:with:colons",)
    assert parse_nvtx_stack("1 ") == ()  # a thread with no open range
    assert parse_nvtx_stack("") == ()


def test_parser_without_header_or_with_stray_lines() -> None:
    assert parse_ncu_csv("==PROF== Connected to process 1\n==ERROR== failed\n") == []
    text = FIXTURE.read_text().replace('"ID","Process ID"', 'program output\n"ID","Process ID"', 1)
    assert len(parse_ncu_csv(text)) == 5


# -- grouping and comparison --------------------------------------------------------------------------------
def test_static_op_names() -> None:
    assert static_op_name("aten.convolution.default") == "aten::convolution"
    assert static_op_name("aten.add_.Tensor") == "aten::add_"
    assert static_op_name("custom_thing") == "custom_thing"


def test_group_by_op_prefers_ops_the_static_profile_knows(kernels: list[KernelMetrics]) -> None:
    static = static_costs_by_op(static_records())
    groups = group_by_op(kernels, static)
    assert {op: [k.id for k in ks] for op, ks in groups.items()} == {
        "aten::convolution": [0],  # innermost cudnn_convolution -> alias; also on the stack
        "aten::native_batch_norm": [1],  # only through the alias of aten::cudnn_batch_norm
        "aten::relu_": [2],  # clamp_min_ is unknown to the static profile, relu_ is
        "aten::linear": [3],  # addmm unknown, linear known
        UNATTRIBUTED: [4],  # no NVTX range
    }
    # without static names: the innermost op (aliases applied)
    plain = group_by_op(kernels)
    assert set(plain) == {
        "aten::convolution",
        "aten::native_batch_norm",
        "aten::clamp_min_",
        "aten::addmm",
        UNATTRIBUTED,
    }


def test_static_costs_sum_calls_and_keep_uncounted() -> None:
    recs = [
        *static_records(),
        SimpleNamespace(op="aten.relu_.default", flops=None, bytes_read=4, bytes_written=4),
    ]
    costs = static_costs_by_op(recs)
    assert costs["aten::empty"] == StaticOpCost(0, 0, 3)  # count=3 calls
    assert costs["aten::relu_"].flops is None  # one uncounted call makes the sum unknown, never zero
    assert costs["aten::relu_"].bytes == 8 and costs["aten::relu_"].calls == 2


def test_comparison_explains_each_difference(kernels: list[KernelMetrics]) -> None:
    static = static_costs_by_op(static_records())
    rows = {r.op: r for r in compare_with_static(group_by_op(kernels, static), static)}

    conv = rows["aten::convolution"]
    assert conv.estimated_flops == CONV_FLOPS and conv.measured_flops == ELEMS
    assert conv.explanation.startswith("tensor cores: MMA work is not in the sass FP counters")
    # (1_888_223_232 - 6_422_528) / 921_984 = 1_881_800_704 / 921_984 = 2041.03 FLOPs per tensor instruction,
    # near 2 x 16 x 8 x 8 = 2048 for an m16n8k8 TF32 MMA
    assert conv.implied_flops_per_tensor_instruction == pytest.approx(1_881_800_704 / 921_984)
    assert conv.estimated_bytes == 1000

    bn = rows["aten::native_batch_norm"]
    assert bn.ratio == pytest.approx(1.0) and bn.explanation == "within 5%"
    assert bn.dram_bytes == 25_690_880 + 25_690_112

    assert rows["aten::relu_"].explanation.startswith("no fadd/fmul/ffma counted")
    lin = rows["aten::linear"]
    assert lin.ratio == pytest.approx(82_160 / 82_000)  # 1.00195: within 5%
    assert lin.explanation == "within 5%"
    assert rows["aten::empty"].kernels == 0 and rows["aten::empty"].explanation.startswith("no kernels")
    assert not rows[UNATTRIBUTED].in_static
    assert rows[UNATTRIBUTED].explanation.startswith("not in the static profile")
    # largest estimate first
    assert next(iter(rows)) == "aten::convolution"


def test_comparison_other_cases() -> None:
    def k(fadd: float, ffma: float = 0.0) -> KernelMetrics:
        return KernelMetrics(
            0, "k", {SASS.format("fadd"): fadd, SASS.format("ffma"): ffma, TENSOR_METRIC: 0.0}
        )

    static = {
        "aten::clone": StaticOpCost(0, 64, 1),
        "aten::index": StaticOpCost(0, 64, 1),
        "aten::softmax": StaticOpCost(1000, 64, 1),
        "aten::gelu": StaticOpCost(1000, 64, 1),
        "aten::weird": StaticOpCost(None, 64, 1),
    }
    groups = {
        "aten::clone": [k(0)],
        "aten::index": [k(16)],
        "aten::softmax": [k(100, 600)],  # 100 + 2 x 600 = 1300 = 1.3x
        "aten::gelu": [k(100, 200)],  # 100 + 2 x 200 = 500 = 0.5x
        "aten::weird": [k(5)],
    }
    rows = {r.op: r for r in compare_with_static(groups, static)}
    assert rows["aten::clone"].explanation.startswith("no FP kernels (memory op)")
    assert rows["aten::index"].explanation.startswith("FP instructions where none were estimated")
    assert rows["aten::softmax"].ratio == pytest.approx(1.3)
    assert rows["aten::softmax"].explanation.startswith("measured 1.3x the estimate")
    assert rows["aten::gelu"].explanation.startswith("measured 0.5x the estimate: work outside")
    assert rows["aten::weird"].explanation.startswith("uncounted by the static model")
    assert totals(rows.values())["estimated_flops"] is None  # an uncounted op: the total is unknown


def test_totals(kernels: list[KernelMetrics]) -> None:
    static = static_costs_by_op(static_records())
    t = totals(compare_with_static(group_by_op(kernels, static), static))
    # sass: conv 6_422_528 + bn 12_845_056 + relu 0 + linear 82_160 + copy 0 = 19_349_744
    assert t["measured_flops"] == 19_349_744
    # estimate: 1_888_223_232 + 12_845_056 + 6_422_528 + 82_000 + 0 = 1_907_572_816
    assert t["estimated_flops"] == 1_907_572_816
    assert t["tensor_instructions"] == 921_984


# -- command line and script --------------------------------------------------------------------------------
def test_ncu_command() -> None:
    cmd = ncu_command(["python", "run.py"], Path("/tmp/out.csv"))
    assert cmd[0] == "ncu" and cmd[-2:] == ["python", "run.py"]
    joined = " ".join(cmd)
    for flag in (
        "--csv",
        "--page raw",
        "--print-units base",
        "--profile-from-start off",
        "--target-processes all",
        "--nvtx",
        "--log-file /tmp/out.csv",
    ):
        assert flag in joined
    metrics = cmd[cmd.index("--metrics") + 1].split(",")
    assert metrics == list(NCU_METRICS)
    assert "sm__sass_thread_inst_executed_op_ffma_pred_on.sum" in metrics
    assert {"dram__bytes_read.sum", "dram__bytes_write.sum", TENSOR_METRIC} <= set(metrics)
    assert "--nvtx-include" not in cmd
    ranged = ncu_command(["x"], "o.csv", metrics=["a__b.sum"], nvtx_range="step", ncu="/opt/ncu")
    assert ranged[0] == "/opt/ncu" and ranged[ranged.index("--nvtx-include") + 1] == "step/"


def _run_script(tmp_path: Path, path_dirs: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=os.pathsep.join(path_dirs), PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "ncu_check.py"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_ncu_check_without_ncu_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = _run_script(tmp_path, [str(tmp_path)])  # a PATH with no ncu on it
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout + proc.stderr
    assert "not on PATH" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # imports torch in a subprocess (~5 s here)
@pytest.mark.skipif(sys.platform != "linux", reason="uses a shell stand-in for ncu")
def test_ncu_check_without_cuda_exits_2_with_one_line(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    fake = tmp_path / "bin" / "ncu"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    proc = _run_script(tmp_path, [str(fake.parent)])
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stdout + proc.stderr
    assert "no CUDA device" in lines[0]


def test_ncu_check_parent_path_with_stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's parse -> summary -> JSON path, with ncu, CUDA and the profiled child replaced, so a GPU
    session is not spent finding a bug in it. ncu's "run" copies the hand-written fixture to --log-file."""
    import importlib.util
    import json

    import torch

    spec = importlib.util.spec_from_file_location("ncu_check", ROOT / "scripts" / "ncu_check.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        if "--query-metrics" in cmd:  # every metric but the tensor one exists on this "GPU"
            names = [m.rsplit(".", 1)[0] for m in NCU_METRICS if m != TENSOR_METRIC]
            return subprocess.CompletedProcess(cmd, 0, "Metric Name  Description\n" + "\n".join(names), "")
        if "--log-file" in cmd:
            Path(cmd[cmd.index("--log-file") + 1]).write_text(FIXTURE.read_text())
        return subprocess.CompletedProcess(cmd, 0, "Version 2025.1.0\n", "")

    monkeypatch.setattr(script.shutil, "which", lambda name: "/opt/ncu/ncu")
    monkeypatch.setattr(script.subprocess, "run", fake_run)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "Stand-in GPU")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda i=0: (8, 0))
    out = tmp_path / "out"
    assert script.main([str(out), "--model", "mnist-cnn", "--batch", "2"]) == 0
    record = json.loads((out / "ncu_comparison.json").read_text())
    assert record["schema"] == "nnperf.ncu_comparison" and record["kernels"] == 5
    assert record["metrics_dropped"] == [TENSOR_METRIC]
    profiled = next(c for c in calls if "--log-file" in c)
    assert profiled[profiled.index("--metrics") + 1].split(",") == [
        m for m in NCU_METRICS if m != TENSOR_METRIC
    ]
    assert "--child" in profiled and profiled[profiled.index("--model") + 1] == "mnist-cnn"
    ops = {r["op"]: r for r in record["ops"]}
    # mnist-cnn has convolutions and linears: the fixture's conv and linear kernels land on them
    assert ops["aten::convolution"]["kernels"] == 1 and ops["aten::linear"]["kernels"] == 1
    assert ops[UNATTRIBUTED]["in_static"] is False
    assert (out / "ncu_raw.csv").read_text() == FIXTURE.read_text()
