"""`nnperf roofline --ncu`: the hierarchical roofline of a recorded ncu run, as a user runs it (a subprocess).

The record is built from tests/data/ncu/handwritten_raw.csv (HAND-WRITTEN, see its README.txt) through the
same functions `nnperf bench --ncu` uses, so the CLI is tested end to end without a GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from nnperf.measure.ncu import compare_with_static, group_by_op, parse_ncu_csv, static_costs_by_op

ROOT = Path(__file__).resolve().parents[2]
CONV_FLOPS = 2 * (8 * 64 * 112 * 112) * 3 * 7 * 7  # 1,888,223,232 (see tests/unit/test_ncu.py)


def nnperf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnperf", *args], capture_output=True, text=True, cwd=ROOT)


def record(tmp_path: Path) -> Path:
    kernels = parse_ncu_csv((ROOT / "tests" / "data" / "ncu" / "handwritten_raw.csv").read_text())
    recs = [SimpleNamespace(op="aten.convolution.default", flops=CONV_FLOPS, bytes_read=0, bytes_written=0)]
    static = static_costs_by_op(recs)
    rows = compare_with_static(group_by_op(kernels, static), static)
    data = {"schema": "nnperf.ncu_comparison", "gpu": "NVIDIA H100 80GB HBM3", "dtype": "fp32",
            "ops": [r.to_dict() for r in rows]}  # fmt: skip
    path = tmp_path / "ncu_comparison.json"
    path.write_text(json.dumps(data))
    return path


def test_table_and_chart_from_a_recorded_ncu_run(tmp_path: Path) -> None:
    path = record(tmp_path)
    chart = tmp_path / "hier.png"
    r = nnperf("roofline", "--ncu", str(path), "-o", str(chart))
    assert r.returncode == 0, r.stderr
    assert "Hierarchical roofline of NVIDIA H100 80GB HBM3, fp32" in r.stdout
    assert "(nominal)" in r.stdout  # no profile given: the spec sheet's roofs, said so
    (conv,) = [line for line in r.stdout.splitlines() if line.startswith("convolution ")]
    # intensities: 1,888,223,232 FLOPs / 100,000,000 (L1) = 18.9, / 40,000,000 (L2) = 47.2,
    # / 30,920,704 (HBM) = 61.1; HBM is the only level with a roof, so it binds
    assert "18.9" in conv and "47.2" in conv and "61.1" in conv and "HBM" in conv
    assert "not placed" in r.stdout  # batch norm and ReLU have no static estimate in this record
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_ncu_input_is_a_one_line_error(tmp_path: Path) -> None:
    foreign = tmp_path / "trace.json"
    foreign.write_text('{"traceEvents": []}')
    r = nnperf("roofline", "--ncu", str(foreign))
    assert r.returncode == 2 and "not an nnperf ncu record" in r.stderr and "Traceback" not in r.stderr
    r = nnperf("roofline", "resnet18", "--ncu", str(record(tmp_path)))
    assert r.returncode == 2 and "drop MODEL" in r.stderr
    r = nnperf("roofline", "--ncu", str(record(tmp_path)), "-o", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "unknown chart format" in r.stderr


def test_the_recorded_dtype_is_the_default_and_dtype_overrides_it(tmp_path: Path) -> None:
    path = record(tmp_path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "dtype": "bf16"}))
    r = nnperf("roofline", "--ncu", str(path))
    assert r.returncode == 0, r.stderr
    assert "NVIDIA H100 80GB HBM3, bf16:" in r.stdout  # the recorded run's dtype picks the roof
    r = nnperf("roofline", "--ncu", str(path), "--dtype", "fp32")
    assert r.returncode == 0, r.stderr
    assert "NVIDIA H100 80GB HBM3, fp32:" in r.stdout  # an explicit --dtype, even the usual default, wins
