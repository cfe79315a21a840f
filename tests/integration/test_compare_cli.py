"""`nnperf compare` on saved bench records: a real record, and copies of it whose step samples are set to known
values (slower by half, or the same samples in another order)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nnperf
from nnperf.cli import main as cli
from nnperf.records.jsonio import write_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("records")
    m = nnperf.bench("mnist-cnn", batch=4, min_iters=12, min_time_s=0.0, warmup=2)
    assert m.ok, m.error
    base = m.to_dict()
    samples = [1e-3 * (1 + 0.01 * i) for i in range(12)]  # known step times: 1.00 .. 1.11 ms
    base["step_time_s"]["samples"] = samples
    base["step_time_s"]["median"] = sorted(samples)[5] / 2 + sorted(samples)[6] / 2
    slower = copy.deepcopy(base)
    slower["spec"]["threads"] = 1
    slower["step_time_s"]["samples"] = [1.5 * x for x in samples]
    slower["step_time_s"]["median"] = 1.5 * base["step_time_s"]["median"]
    same = copy.deepcopy(base)
    same["step_time_s"]["samples"] = list(reversed(samples))
    failed = copy.deepcopy(base)
    failed.update(status="failed", error="out of memory at batch 4096")
    return {
        name: write_record(out / f"{name}.json", rec)
        for name, rec in (("base", base), ("slower", slower), ("same", same), ("failed", failed))
    }


def test_a_slower_setting_and_the_same_samples(
    records: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    paths = [str(records[k]) for k in ("base", "slower", "same")]
    assert cli.main(["compare", *paths, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    base, slower, same = data["runs"]
    assert base["comparison"] is None and base["n"] == 12
    c = slower["comparison"]
    assert c["ratio"] == pytest.approx(1 / 1.5) and c["significant"] and c["p_value"] < 1e-4
    assert c["verdict"] == "1.5x slower" and c["ci_low"] <= c["ratio"] <= c["ci_high"]
    assert slower["changes"] == ["threads None -> 1"]
    assert same["comparison"]["p_value"] == 1.0 and not same["comparison"]["significant"]
    assert cli.main(["compare", *paths]) == 0
    out = capsys.readouterr().out
    assert "1.5x slower" in out and "not significantly different" in out
    assert "settings changed: threads None -> 1" in out


@pytest.mark.parametrize(
    ("which", "message"),
    [
        (["base"], "give at least two records"),
        (["base", "failed"], "the run failed (out of memory at batch 4096)"),
        (["base", "missing"], "missing.json"),
    ],
)
def test_bad_input_is_one_line(
    records: dict[str, Path], which: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    paths = [str(records.get(k, records["base"].parent / f"{k}.json")) for k in which]
    if which == ["base", "failed"]:  # one of them from a real process
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        r = subprocess.run(
            [sys.executable, "-m", "nnperf", "compare", *paths],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        code, err = r.returncode, r.stderr
    else:
        code, err = cli.main(["compare", *paths]), capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_generation_records(
    tiny_lm_config, records: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from nnperf.measure.generation import GenerationSpec, measure_generation

    path = tiny_lm_config("llama")
    base = measure_generation(GenerationSpec(path, prompt=8, generate=6, repeats=3)).to_dict()
    base["raw"] = {
        "prefill_s": [0.010, 0.011, 0.012],
        "steps_s": [[0.001 * (1 + 0.01 * i) for i in range(5)]] * 3,
    }
    slow = copy.deepcopy(base)
    slow["spec"]["threads"] = 1
    slow["raw"]["steps_s"] = [[2 * x for x in gen] for gen in base["raw"]["steps_s"]]
    a, b = write_record(tmp_path / "a.json", base), write_record(tmp_path / "b.json", slow)
    assert cli.main(["compare", str(a), str(b), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["record"] == str(b), r["metric"]) for r in rows] == [
        (False, "first token"),
        (False, "per output token"),
        (True, "first token"),
        (True, "per output token"),
    ]
    first, per_token = rows[2]["comparison"], rows[3]["comparison"]
    assert first["ratio"] == 1.0 and not first["significant"]  # the same prefill times, 3 a side
    assert per_token["ratio"] == pytest.approx(0.5) and per_token["significant"]  # 15 steps a side
    assert per_token["verdict"] == "2x slower"
    assert cli.main(["compare", str(a), str(records["base"])]) == 2  # a bench record: another kind
    assert "compare records of one kind" in capsys.readouterr().err
