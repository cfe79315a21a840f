"""`nnperf roofline --run`: measured points from a saved `nnperf bench --profile` record beside the estimates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def nnperf(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "nnperf", *args], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_measured_op_points_from_a_bench_record(tmp_path: Path, machine: Path) -> None:
    record = tmp_path / "run.json"
    r = nnperf("bench", "mnist-cnn", "--batch", "32", "--iters", "3", "--warmup", "1", "--min-time", "0",
               "--profile", "-o", str(record))  # fmt: skip
    assert r.returncode == 0, r.stderr
    chart = tmp_path / "chart.svg"
    r = nnperf("roofline", "mnist-cnn", "--batch", "32", "--level", "op", "--machine", str(machine),
               "--run", str(record), "-o", str(chart))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "estimated and measured roofline" in r.stdout
    assert "inference, by op (measured)" in r.stdout
    # The measured conv row shows the run's own figures: counted FLOPs over profiled time.
    ops = json.loads(record.read_text())["ops"]["ops"]
    conv = next(o for o in ops if o["name"] == "aten::conv2d")
    line = next(
        ln for ln in r.stdout.splitlines() if ln.startswith("conv2d") or ln.startswith("aten::conv2d")
    )
    assert f"{conv['achieved_flops_per_s'] / 1e9:.3g} GFLOP/s" in line
    assert chart.read_text().lstrip().startswith("<svg") or "<svg" in chart.read_text()[:200]


def test_run_and_measure_are_exclusive() -> None:
    r = nnperf("roofline", "mnist-cnn", "--run", "x.json", "--measure")
    assert r.returncode == 2 and "not allowed with" in r.stderr
