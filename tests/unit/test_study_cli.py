"""`nnperf study status|cancel|export` on a results store (no case is run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnperf.cli.main import main
from nnperf.experiments.store import ResultStore
from nnperf.records.measurement import Measurement, RunSpec


def _store(tmp_path: Path) -> Path:
    store = ResultStore(tmp_path / "results")
    for i, (env, status) in enumerate([("1-thread", "ok"), ("1-thread", "failed"), ("all-threads", "ok")]):
        m = Measurement(spec=RunSpec(model="resnet18", batch=8 + i), step_time_s=[0.1, 0.11], status=status)
        record = m.to_dict()
        record["case"] = {"id": f"{i:016x}", "study": "s", "environment": env, "model": "resnet18",
                          "fingerprint": "abc"}  # fmt: skip
        store.write_case(record)
    return store.root


def test_status_counts_cases_per_environment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _store(tmp_path)
    assert main(["study", "status", str(root)]) == 0
    out = capsys.readouterr().out
    assert "3 case record(s)" in out
    assert any(line.split() == ["1-thread", "failed", "1"] for line in out.splitlines())
    assert any(line.split() == ["all-threads", "ok", "1"] for line in out.splitlines())


def test_cancel_without_slurm_jobs_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _store(tmp_path)
    assert main(["study", "cancel", str(root)]) == 2
    assert "has no Slurm jobs" in capsys.readouterr().err


def test_export_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _store(tmp_path)
    out = tmp_path / "cases.csv"
    assert main(["study", "export", str(root), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and "step_time_s.median" in lines[0]
    assert main(["study", "export", str(root), "-o", str(tmp_path / "cases.xlsx")]) == 2


def test_progress_lines_with_eta_and_a_bar_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from nnperf.cli.study_cmd import _Progress

    lines = _Progress()
    lines.tty = False
    lines("running resnet18 train b8 fp32 [1-thread]", 1, 4, 75.0)
    assert "[1/4, ETA 1m15s] running resnet18" in capsys.readouterr().err
    bar = _Progress()
    bar.tty = True
    for done in range(4):
        bar("running a case", done, 3, 10.0)
    bar.close()
    assert "3/3" in capsys.readouterr().err  # rich's bar, ended at 3 of 3
