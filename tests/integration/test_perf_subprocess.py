"""PerfSession as a real subprocess: a stand-in perf (both attach paths, an early death) and the real perf.

The real perf on the development VM counts no hardware events (<not supported>), so the probe says
unavailable and the session does nothing; its software events (task-clock) still count, which lets the
attach/enable/disable mechanics be checked against the process's own CPU time.
"""

from __future__ import annotations

import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from nnperf.measure import perf_counters as pc
from nnperf.measure.perf_counters import PerfAvailability, PerfSession, probe_perf

DATA = Path(__file__).resolve().parents[1] / "data" / "perf"


def fake_perf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture: str, control: bool) -> str:
    exe = tmp_path / "perf"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{DATA / "fake_perf.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FAKE_PERF_FIXTURE", str(DATA / fixture))
    monkeypatch.setenv("FAKE_PERF_CONTROL", "1" if control else "0")
    monkeypatch.delenv("FAKE_PERF_PERMISSION", raising=False)
    return str(exe)


def busy(seconds: float) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def test_session_with_control_fifo_parses_what_perf_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "intel_all_counters.csv", control=True)
    with PerfSession(perf=perf) as session:  # probes the stand-in, then attaches with --control
        busy(0.01)
    r = session.result
    assert r.available, r.reason
    assert session.availability is not None and session.availability.control
    assert r.ipc == pytest.approx(2.5)  # 5e9 instructions / 2e9 cycles in the fixture
    assert r.fp_flops == pytest.approx(1_615_000_000)  # see test_perf_counters for the sum
    assert r.notes == ()  # the handshake is exact: nothing to warn about


def test_session_without_control_polls_then_notes_the_approximate_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "amd_user_only.csv", control=False)
    t0 = time.perf_counter()
    with PerfSession(perf=perf, attach_timeout_s=0.5) as session:
        pass
    # the stand-in opens no perf_event descriptors, so the poll gives up at the timeout (not before)
    assert time.perf_counter() - t0 >= 0.5
    r = session.result
    assert r.available and r.ipc == pytest.approx(1.5)  # 4.5e9 / 3e9
    assert any("approximate" in n for n in r.notes)


def test_session_where_perf_dies_reports_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    perf = fake_perf(tmp_path, monkeypatch, "intel_all_counters.csv", control=True)
    monkeypatch.setenv("FAKE_PERF_PERMISSION", str(DATA / "permission_denied.txt"))
    forced = PerfAvailability(True, "forced", ("cycles", "instructions"), control=True)
    with PerfSession(perf=perf, availability=forced) as session:
        busy(0.01)
    assert not session.result.available
    assert "sudo sysctl kernel.perf_event_paranoid=1" in session.result.reason


def test_session_never_raises_for_a_missing_perf(tmp_path: Path) -> None:
    with PerfSession(perf=str(tmp_path / "absent")) as session:
        busy(0.01)
    assert not session.result.available and "perf not found" in session.result.reason


def test_body_exceptions_still_propagate(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), PerfSession(perf=str(tmp_path / "absent")):
        1 / 0  # noqa: B018


# -- this machine's perf ------------------------------------------------------------------------------------
def test_probe_and_session_on_this_machine() -> None:
    a = probe_perf()
    assert isinstance(a.available, bool) and a.reason
    with PerfSession(availability=a) as session:
        busy(0.05)
    r = session.result
    assert r.available == a.available
    if r.available:  # a machine with a PMU: IPC is a real number
        assert r.ipc is not None and r.ipc > 0
    else:
        assert r.reason == a.reason and r.counters == {}


SOFTWARE = ("task-clock", "context-switches")


@pytest.mark.skipif(shutil.which("perf") is None, reason="perf is not installed")
@pytest.mark.parametrize("use_control", [True, False])
def test_real_perf_counts_exactly_the_block(use_control: bool) -> None:
    # Software events count even without a PMU: task-clock (all threads' CPU time, ms) must match the
    # process's CPU time measured around the block, which only holds if counting starts and stops with it.
    if use_control and not pc._supports_control("perf"):
        pytest.skip("this perf has no --control")
    forced = PerfAvailability(True, "software events", SOFTWARE, control=use_control)
    with PerfSession(availability=forced, use_control=use_control) as session:
        cpu0 = time.process_time()
        busy(0.3)
        cpu = time.process_time() - cpu0
    r = session.result
    if not r.available and "permission" in r.reason:
        pytest.skip(r.reason)
    assert r.available, r.reason
    task_clock_s = (r.count("task-clock") or 0.0) / 1e3  # perf prints msec
    # within 15% + 30 ms: the poll path waits settle_s (sleeping, no CPU) before the block; the control path
    # also counts the few Python lines between the ack and the block
    assert task_clock_s == pytest.approx(cpu, rel=0.15, abs=0.03)
