"""Studies run each case in its own process and never lose or duplicate a result (SIGKILL, crash, timeout)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = f"{ROOT / 'tests' / 'data' / 'user_model.py'}:make_tiny"
FAILING = ROOT / "tests" / "data" / "failing_model.py"


def _write_spec(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _study(*args: str, cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.Popen(
        [sys.executable, "-m", "nnperf", "study", "run", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cases(results: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((results / "cases").glob("*.json"))}


def _partials(results: Path) -> list[Path]:
    return [p for p in results.rglob("*") if p.is_file() and not p.name.endswith((".json", ".yaml"))]


TINY_SPEC = f"""
name: tiny
models:
  - {{name: "{TINY}", input: 3x16x16, label: tiny}}
axes:
  mode: [infer, train]
  batch: [1, 2, 4]
environments:
  - {{name: one-thread, threads: 1}}
run: {{warmup: 1, min_iters: 2, min_time_s: 0, timeout_s: 120}}
"""


@pytest.mark.slow
def test_sigkill_midway_then_resume(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path / "tiny.yaml", TINY_SPEC)
    results = tmp_path / "results"
    proc = _study(str(spec), "--results", str(results), "--no-report", cwd=tmp_path)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((results / "cases").glob("*.json"))) < 2:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)  # the whole study, mid-case
    proc.wait()
    time.sleep(0.5)  # the case process dies with its parent (PR_SET_PDEATHSIG)
    before = _cases(results)
    assert 2 <= len(before) < 6
    # The case that was running is not recorded: its process was killed with the study.
    proc = _study(str(spec), "--results", str(results), "--no-report", cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    after = _cases(results)
    assert len(after) == 6  # 2 modes x 3 batches, each exactly once
    for name, record in before.items():  # every finished case kept as it was
        assert after[name] == record
    ids = [r["case"]["id"] for r in after.values()]
    assert len(set(ids)) == len(ids)
    assert all(r["status"] == "ok" for r in after.values()), [r["error"] for r in after.values()]
    assert f"{len(before)} already done" in out
    assert _partials(results) == []


@pytest.mark.slow
def test_crash_oom_and_timeout_are_failed_cases_and_the_study_goes_on(tmp_path: Path) -> None:
    spec = _write_spec(
        tmp_path / "failing.yaml",
        f"""
name: failing
models:
  - {{name: "{FAILING}:crash", input: "4", label: crash}}
  - {{name: "{FAILING}:huge", input: "4", label: huge}}
  - {{name: "{FAILING}:sleepy", input: "4", label: sleepy}}
  - {{name: "{TINY}", input: 3x16x16, label: tiny}}
axes:
  batch: [2]
run: {{warmup: 1, min_iters: 2, min_time_s: 0, timeout_s: 15}}
""",
    )
    results = tmp_path / "results"
    proc = _study(str(spec), "--results", str(results), "--no-report", cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    by_model = {r["case"]["model"]: r for r in _cases(results).values()}
    assert set(by_model) == {"crash", "huge", "sleepy", "tiny"}
    assert by_model["tiny"]["status"] == "ok"
    assert by_model["crash"]["status"] == "failed" and "SIGSEGV" in by_model["crash"]["error"]
    assert by_model["huge"]["status"] == "failed" and by_model["huge"]["error"].startswith("out of memory")
    assert by_model["sleepy"]["status"] == "failed" and "timed out after 15 s" in by_model["sleepy"]["error"]
    assert "1 ok, 3 failed" in out
    # Running again skips them all; --retry-failed runs the failed ones again.
    proc = _study(str(spec), "--results", str(results), "--no-report", cwd=tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert "0 run" in out and "3 failed before" in out


def test_bad_spec_is_refused_before_any_case(tmp_path: Path) -> None:
    spec = _write_spec(tmp_path / "bad.yaml", "name: bad\nmodels: [resnet18]\naxes:\n  batch: []\n")
    results = tmp_path / "results"
    proc = _study(str(spec), "--results", str(results), cwd=tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "axes.batch" in err and err.strip().count("\n") == 0
    assert not results.exists()


@pytest.mark.slow
def test_profiled_study_stores_traces_and_the_report_analyses_them(tmp_path: Path) -> None:
    spec = _write_spec(
        tmp_path / "profiled.yaml",
        f"""
name: profiled
models:
  - {{name: "{TINY}", input: 3x16x16, label: tiny}}
axes:
  mode: [train]
  batch: [2]
run: {{warmup: 1, min_iters: 2, min_time_s: 0, profile: true}}
project_to: [l4]
""",
    )
    results = tmp_path / "results"
    proc = _study(str(spec), "--results", str(results), cwd=tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    (record,) = _cases(results).values()
    trace = results / "traces" / f"{record['case']['id']}@{record['case']['fingerprint']}.json"
    assert json.loads(trace.read_text())["traceEvents"]
    assert record["ops"]["ops"]  # the per-op breakdown of the same profiled steps
    # The case took its prediction from the study's stored static analysis instead of analysing again.
    assert record["memory"]["predicted_method"].endswith("stored")
    assert record["flops"]["predicted"] == record["flops"]["counted"]
    md = (results / "report" / "report.md").read_text()
    section = md.split("## Trace analysis", 1)[1].split("\n## ", 1)[0]
    assert "Trace of tiny train b2" in section and "Critical path" in section
    assert "not part of a results store" not in md  # traces/ and report/ belong to the store
    # The stored static analysis keeps the op costs, so the report times the step on the cards named here.
    assert record["case"]["static_key"].startswith("tiny|fp32|b2")
    projection = md.split("## Projection onto other machines", 1)[1].split("\n## ", 1)[0]
    assert "### tiny: 2x3x16x16 float32, training step" in projection
    assert "(measured here" in projection and "L4 24GB (spec sheet)" in projection
    assert "T4 16GB" not in projection  # project_to replaces the default cards
