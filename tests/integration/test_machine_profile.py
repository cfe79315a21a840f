"""MachineProfile caching: per machine, atomic, never another machine's; the CLI end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nnperf.machine.measure as measure_mod
from nnperf.machine import profile as profile_mod
from nnperf.machine.probes import collect_probes, fingerprint
from nnperf.records.jsonio import write_record

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NNPERF_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def fake_measure(calls: list[int]):
    def measure_machine(**kwargs: object) -> dict:
        calls.append(1)
        return {"flops": {"fp32": 1e11}, "bandwidth": {"dram": {"triad": 1e10}}, "quality": {"warnings": []}}

    return measure_machine


def test_profile_is_cached_per_machine_and_refreshed_on_request(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(measure_mod, "measure_machine", fake_measure(calls))
    first = profile_mod.machine_profile(quick=True)
    path = profile_mod.cache_path(first.fingerprint)
    assert path.exists() and first.fingerprint == fingerprint(collect_probes())
    again = profile_mod.machine_profile(quick=True)
    assert calls == [1] and again.to_dict() == first.to_dict()  # served from the cache
    profile_mod.machine_profile(quick=True, refresh=True)
    assert calls == [1, 1]


def test_a_profile_from_another_machine_is_never_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(measure_mod, "measure_machine", fake_measure(calls))
    mine = fingerprint(collect_probes())
    foreign = profile_mod.machine_profile(quick=True).to_dict() | {"fingerprint": "0123456789abcdef"}
    write_record(profile_mod.cache_path(mine), foreign)  # e.g. a cache dir shared between hosts
    assert profile_mod.load_cached(mine) is None
    p = profile_mod.machine_profile(quick=True)
    assert p.fingerprint == mine and calls == [1, 1]


def test_interrupted_measurement_leaves_no_cache_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(**kwargs: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(measure_mod, "measure_machine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        profile_mod.machine_profile(quick=True)
    assert not cache.exists() or not any(cache.rglob("*"))


def nnperf(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnperf", *args],
        capture_output=True, text=True, env={**os.environ, **env, "PYTHONPATH": str(ROOT / "src")}, timeout=600,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_quick_json_has_the_documented_keys_and_is_cached(tmp_path: Path) -> None:
    env = {"NNPERF_CACHE_DIR": str(tmp_path)}
    start = time.perf_counter()
    r = nnperf("machine", "--quick", "--json", env=env)
    elapsed = time.perf_counter() - start
    print(f"\nnnperf machine --quick --json: {elapsed:.1f} s")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["measured"]["flops"]["fp32"] > 0
    assert data["nominal"]["flops"]["fp32"] > 0
    for kernel in ("copy", "scale", "add", "triad"):
        assert data["measured"]["bandwidth"]["dram"][kernel] > 0
    assert data["caches"]["l1d"] > 0 and data["caches"]["l3"] > 0
    # every data-cache level found by the sweep (the probe's l1d is the sweep's l1)
    assert {"l1", "l2", "l3", "dram"} <= set(data["measured"]["bandwidth"])
    # STREAM's kernels inside a cache level where a call is long enough to measure (here: the L3)
    in_cache = data["measured"]["sweep"]["stream_in_cache"]
    for level, entry in in_cache.items():
        if "skipped" not in entry:
            assert set(entry["kernels"]) <= set(data["measured"]["bandwidth"][level])
            assert all(data["measured"]["bandwidth"][level][k] > 0 for k in entry["kernels"])
        else:
            assert "call overhead" in entry["skipped"]
    assert data["measured"]["gpu"]["available"] is False  # no GPU here, and nothing failed
    start = time.perf_counter()
    again = nnperf("machine", "--json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout) == data  # the cached profile
    assert time.perf_counter() - start < elapsed
    shown = nnperf("machine", "--file", str(next(tmp_path.rglob("*.json"))), env=env)
    assert shown.returncode == 0 and "GEMM FLOP/s" in shown.stdout


def test_cli_bad_profile_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"schema": "nnperf.machine-profile", "schema_version": 1, "fingerp')
    r = nnperf("machine", "--file", str(bad), env={})
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "not valid JSON" in r.stderr
    r = nnperf("machine", "--threads", "0,2", env={})
    assert r.returncode == 2 and "thread counts must be positive" in r.stderr


def test_python_api_returns_the_record(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nnperf
    from nnperf.records.machine_profile import MachineProfile

    monkeypatch.setattr(measure_mod, "measure_machine", fake_measure([]))
    p = nnperf.machine_profile(quick=True)
    assert isinstance(p, MachineProfile) and p.measured["flops"]["fp32"] == 1e11
    assert p.nominal["flops"]["fp32"] > 0 and p.nominal["label"].startswith("nominal")
