"""perf stat: the CSV parser, FP-event arithmetic, and the probe's three answers, run against a stand-in perf.

Fixtures under tests/data/perf/ (see its README.txt): the VM's <not supported> output is a real recording;
the counters of an Intel and an AMD machine are hand-written in perf's documented -x, format.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from nnperf.measure import perf_counters as pc
from nnperf.measure.perf_counters import (
    FP_EVENTS,
    NOT_COUNTED,
    NOT_SUPPORTED,
    PerfResult,
    base_event_name,
    parse_perf_csv,
    probe_perf,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"


def read(name: str) -> str:
    return (DATA / name).read_text()


def fake_perf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str, control: bool = True) -> str:
    """A ``perf`` executable in tmp_path that answers from ``fixture`` (tests/data/perf/fake_perf.py)."""
    exe = tmp_path / "perf"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{DATA / "fake_perf.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_PERF_FIXTURE", str(DATA / fixture))
    monkeypatch.setenv("FAKE_PERF_CONTROL", "1" if control else "0")
    monkeypatch.delenv("FAKE_PERF_PERMISSION", raising=False)
    return str(exe)


# -- parser -------------------------------------------------------------------------------------------------
def test_parse_all_counters_and_derived_ratios() -> None:
    counters = parse_perf_csv(read("intel_all_counters.csv"))
    assert len(counters) == 6 + 8  # the comment and blank line are skipped
    assert counters["cycles"].value == 2_000_000_000
    assert counters["cycles"].runtime_ns == 1_000_000_000
    assert counters["cache-misses"].running_pct == 50.0  # multiplexed: perf's scaled estimate
    result = PerfResult(True, "test", counters)
    # IPC = instructions / cycles = 5e9 / 2e9 = 2.5; CPI = 2e9 / 5e9 = 0.4
    assert result.ipc == pytest.approx(2.5)
    assert result.cpi == pytest.approx(0.4)
    # cache misses / references = 1e7 / 4e7 = 0.25; branch misses / branches = 8e6 / 8e8 = 0.01
    assert result.cache_miss_rate == pytest.approx(0.25)
    assert result.branch_miss_rate == pytest.approx(0.01)
    assert result.multiplexed


def test_fp_flops_multiply_each_event_by_its_elements_per_instruction() -> None:
    result = PerfResult(True, "test", parse_perf_csv(read("intel_all_counters.csv")))
    # scalar_single 1e6 x 1 + scalar_double 2e6 x 1 + 128b_double 0 x 2 + 128b_single 3e6 x 4
    # + 256b_double 0 x 4 + 256b_single 1e8 x 8 + 512b_double 0 x 8 + 512b_single 5e7 x 16
    # = 1e6 + 2e6 + 12e6 + 800e6 + 800e6 = 1_615_000_000 (FMAs already counted twice by the PMU)
    assert result.fp_flops == pytest.approx(1_615_000_000)
    assert len(result.fp_events) == 8
    assert result.to_dict()["fp_flops_note"].startswith("counted by the PMU")


def test_fp_multipliers_are_vector_width_over_element_size() -> None:
    for event, mult in FP_EVENTS.items():
        if event.startswith("fp_arith_inst_retired.") and "packed" in event:
            bits = int(event.split(".")[1].split("b_")[0])  # 128, 256, 512
            element = 32 if event.endswith("single") else 64
            assert mult == bits // element, event
    assert FP_EVENTS["fp_arith_inst_retired.256b_packed_single"] == 8  # 256 / 32
    assert FP_EVENTS["fp_arith_inst_retired.scalar_double"] == 1
    assert FP_EVENTS["fp_ret_sse_avx_ops.all"] == 1  # AMD counts FLOPs, not instructions


def test_parse_user_only_modifiers_and_amd_flops() -> None:
    counters = parse_perf_csv(read("amd_user_only.csv"))
    assert counters["cycles"].event == "cycles:u"
    result = PerfResult(True, "test", counters)
    assert result.ipc == pytest.approx(1.5)  # 4.5e9 / 3e9
    assert result.fp_flops == pytest.approx(250_000_000)  # 2.5e8 x 1
    assert not result.multiplexed


def test_parse_not_supported_recorded_on_this_vm() -> None:
    counters = parse_perf_csv(read("vm_not_supported.csv"))
    assert set(counters) == set(pc.BASE_EVENTS)
    assert all(c.status == NOT_SUPPORTED and c.value is None for c in counters.values())
    result = PerfResult(True, "test", counters)
    assert result.ipc is None and result.fp_flops is None  # nothing counted is never a zero


def test_parse_tolerates_perf_messages_glued_to_the_last_line() -> None:
    counters = parse_perf_csv(read("vm_software_control.csv"))  # real: "...,,Events disabled"
    assert counters["task-clock"].value == pytest.approx(236.47)
    assert counters["task-clock"].unit == "msec"
    assert counters["context-switches"].value == 80
    assert counters["instructions"].status == NOT_SUPPORTED
    assert "Events enabled" not in counters


def test_parse_not_counted_hybrid_and_garbage() -> None:
    text = "\n".join(
        [
            "# comment",
            "",
            "<not counted>,,branches,0,0.00,,",
            "1000,,cpu_core/cycles/,500,100.00,,",
            "3000,,cpu_atom/cycles/,500,60.00,,",
            "Events enabled",
            "perf: some message, with commas",
        ]
    )
    counters = parse_perf_csv(text)
    assert counters["branches"].status == NOT_COUNTED and not counters["branches"].counted
    # both core types ran the process: 1000 + 3000; the lower running share is kept
    assert counters["cycles"].value == 4000
    assert counters["cycles"].running_pct == 60.0
    assert set(counters) == {"branches", "cycles"}


@pytest.mark.parametrize(
    ("printed", "base"),
    [
        ("cycles", "cycles"),
        ("cycles:u", "cycles"),
        ("cpu_core/cycles/", "cycles"),
        ("cpu_core/cycles/u", "cycles"),
        ("fp_arith_inst_retired.scalar_single:uk", "fp_arith_inst_retired.scalar_single"),
    ],
)
def test_base_event_name(printed: str, base: str) -> None:
    assert base_event_name(printed) == base


def test_unavailable_result_has_no_numbers() -> None:
    r = PerfResult.unavailable("no PMU")
    assert not r.available and r.reason == "no PMU"
    assert r.ipc is None and r.cpi is None and r.fp_flops is None
    assert r.to_dict()["counters"] == {}


# -- probe against a stand-in perf --------------------------------------------------------------------------
def test_probe_with_counting_perf_is_available(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "intel_all_counters.csv")
    a = probe_perf(perf)
    assert a.available, a.reason
    assert a.events[:6] == pc.BASE_EVENTS
    # the eight Intel FP events count; AMD's is unknown to this "CPU" (syntax error) and left out
    assert set(a.events[6:]) == {e for e in FP_EVENTS if e.startswith("fp_arith")}
    assert a.control
    assert "FP arithmetic events" in a.reason


def test_probe_retries_fp_events_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "amd_user_only.csv", control=False)
    a = probe_perf(perf)
    assert a.available
    # the Intel group is unknown here, so each was tried alone and dropped; AMD's event counts
    assert a.events == (*pc.BASE_EVENTS, "fp_ret_sse_avx_ops.all")
    assert not a.control
    assert "user space only" in a.reason


def test_probe_with_not_supported_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "vm_not_supported.csv")
    a = probe_perf(perf)
    assert not a.available
    assert "cycles <not supported>" in a.reason and "virtual machine" in a.reason
    assert a.events == ()


def test_probe_without_permission_names_paranoid_and_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "intel_all_counters.csv")
    monkeypatch.setenv("FAKE_PERF_PERMISSION", str(DATA / "permission_denied.txt"))
    monkeypatch.setattr(pc, "read_paranoid", lambda path=pc.PARANOID_PATH: 3)
    a = probe_perf(perf)
    assert not a.available
    assert "kernel.perf_event_paranoid is 3" in a.reason
    assert "sudo sysctl kernel.perf_event_paranoid=1" in a.reason


def test_probe_missing_binary(tmp_path: Path) -> None:
    a = probe_perf(str(tmp_path / "no-such-perf"))
    assert not a.available and "perf not found" in a.reason
    a = probe_perf("nnperf-no-such-perf-binary")
    assert not a.available and "not on PATH" in a.reason


def test_read_paranoid(tmp_path: Path) -> None:
    (tmp_path / "p").write_text("2\n")
    assert pc.read_paranoid(tmp_path / "p") == 2
    assert pc.read_paranoid(tmp_path / "missing") is None
