"""`nnperf bench MODEL --prompt P --generate N`: a measured generation (real model, real decode loop with a
DynamicCache), its protocol checked with an injected clock, and the estimate beside it from a cached profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import count
from pathlib import Path

import pytest

from nnperf.analysis.generation_projection import project_generation
from nnperf.errors import UsageError
from nnperf.machine.probes import collect_probes, fingerprint
from nnperf.machine.targets import target_from_profile
from nnperf.measure.generation import GenerationSpec, measure_generation
from nnperf.records.jsonio import write_record
from nnperf.records.machine_profile import SCHEMA, SCHEMA_VERSION
from nnperf.static.generation import analyse_generation

ROOT = Path(__file__).resolve().parents[2]


def test_the_protocol_with_an_injected_clock(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    ticks = count()
    m = measure_generation(
        GenerationSpec(path, prompt=8, generate=5, batch=2, warmup=1, repeats=3),
        clock=lambda: float(next(ticks)),
    )
    # Each phase reads the clock twice (before and after), one tick apart: every sample is exactly 1 "second".
    assert m.prefill_s == [1.0, 1.0, 1.0]
    assert m.steps_s == [[1.0] * 4] * 3  # generate - 1 decode steps per generation
    d = m.to_dict()
    assert d["schema"] == "nnperf.generation-measurement"
    assert d["time_s"]["total"]["median"] == 5.0
    assert d["throughput"]["tokens_per_s"] == 2 * 5 / 5.0
    assert d["throughput"]["decode_tokens_per_s"] == 2 / 1.0
    assert d["raw"]["steps_s"] == m.steps_s


def test_a_real_generation(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    m = measure_generation(GenerationSpec(path, prompt=16, generate=6, warmup=1, repeats=2))
    assert len(m.prefill_s) == 2 and all(len(s) == 5 for s in m.steps_s)
    assert all(0 < t < 10 for t in m.prefill_s + [x for s in m.steps_s for x in s])
    assert m.others_share is None or 0 <= m.others_share <= 1


def test_what_a_generation_cannot_be(tiny_lm_config) -> None:
    with pytest.raises(UsageError, match="needs a causal language model; 'resnet18' is a vision model"):
        measure_generation(GenerationSpec("resnet18", prompt=4, generate=2, repeats=1, warmup=0))
    path = tiny_lm_config("llama")  # 512 positions
    with pytest.raises(UsageError, match="need 531 positions, more than the model's 512"):
        measure_generation(GenerationSpec(path, prompt=500, generate=32, repeats=1, warmup=0))
    with pytest.raises(UsageError, match="repeats 0 must be a positive integer"):
        GenerationSpec(path, prompt=4, generate=2, repeats=0)


def _nnperf(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), NNPERF_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, "-m", "nnperf", "bench", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_cli_with_and_without_a_cached_profile(tiny_lm_config, tmp_path: Path) -> None:
    path = tiny_lm_config("llama")
    args = [path, "--prompt", "8", "--generate", "4", "--repeats", "2", "--batch", "2"]
    r = _nnperf(*args, cache=tmp_path / "empty")
    assert r.returncode == 0, r.stderr
    assert "time to first token" in r.stdout and "estimate: no machine profile cached" in r.stdout

    # This machine's fingerprint with made-up roofs: the estimate beside the measurement uses them.
    fp = fingerprint(collect_probes())
    profile = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "fingerprint": fp,
        "created": "2026-01-01T00:00:00+00:00",
        "mode": "quick",
        "caches": {},
        "probes": {"cpu": {"model": "Test CPU", "cores": 2, "memory_bytes": 8 * 10**9}},
        "nominal": {},
        "measured": {
            "flops": {"fp32": 1e11},
            "bandwidth": {"dram": {"triad": 1e10}},
            "sweep": {"call_overhead_s": 2e-6},
        },
    }
    write_record(tmp_path / "cache" / "machine" / f"{fp}.json", profile)
    record = tmp_path / "gen.json"
    r = _nnperf(*args, "--format", "json", "-o", str(record), cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert json.loads(record.read_text()) == data
    gen = analyse_generation(path, prompt=8, generate=4, batch=2)
    expected = project_generation(gen, [target_from_profile(profile, "cpu", "this machine (cpu)")]).targets[0]
    assert data["estimate"]["time_s"]["total"] == pytest.approx(expected.total_s)
    assert data["estimate"]["compute_roof"]["flops_per_s"] == 1e11
    assert len(data["raw"]["steps_s"]) == 2 and all(len(s) == 3 for s in data["raw"]["steps_s"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prompt", "8"], "needs both --prompt N"),
        (["--prompt", "8", "--generate", "4", "--mode", "train"], "inference only"),
        (["--prompt", "8", "--generate", "4", "--compile"], "drop --compile"),
        (["--prompt", "8", "--generate", "4", "--context", "16"], "drop --context"),
    ],
)
def test_bad_flags_are_one_line(extra: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    from nnperf.cli import main as cli

    assert cli.main(["bench", "gpt2", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
