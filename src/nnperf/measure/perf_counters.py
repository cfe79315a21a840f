"""CPU hardware counters around a timed region with Linux ``perf stat``, or a plain statement why not.

What is counted: cycles, instructions (-> IPC and CPI), cache references/misses, branches/misses, and the
floating-point arithmetic events where the CPU exposes them (-> FLOPs *counted by the PMU*, to set beside the
static estimate). Everything here is optional by design: :func:`probe_perf` says whether counters work on
this machine and why not, and a :class:`PerfSession` on a machine where they do not does nothing and returns
``PerfResult(available=False, reason=...)``. The harness must never fail because of perf.

Why a probe first: ``perf stat`` on a machine without a PMU (most VMs) exits 0 and prints ``<not supported>``
for every hardware event, an event the kernel does not know makes the whole command fail with "event syntax
error", and a restrictive ``kernel.perf_event_paranoid`` refuses with "No permission". Each gets its own
one-line reason.

How the region is bracketed: ``perf stat -p PID`` attaches to the already-running process (all its threads;
threads they create later are inherited). Where perf supports ``--control`` (perf >= 5.9) the counters are
opened *disabled* (``-D -1``) and enabled/disabled through a control FIFO whose ``ack`` arrives only after
perf has done it: the counted region is exactly the ``with`` block. Older perf has no such signal: we poll
perf's ``/proc/PID/fd`` until it holds one perf_event descriptor per event and then wait a few ms more,
because perf enables the counters in a pass after opening the last one and that moment is not observable
(so a few ms of the block may escape counting; the result says so in ``notes``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The generic hardware events perf maps to every PMU it knows.
BASE_EVENTS: tuple[str, ...] = (
    "cycles",
    "instructions",
    "cache-references",
    "cache-misses",
    "branches",
    "branch-misses",
)

#: FLOPs per count of each floating-point event. Intel's ``fp_arith_inst_retired.*`` count *instructions*
#: by vector width; per Intel's event descriptions "each count represents N computation operations, one for
#: each element" and "FM(N)ADD/SUB instructions count twice as they perform 2 calculations per element", so
#: count x elements-per-vector is FLOPs with an FMA as 2 (our convention). Element counts: 128 bits hold 4
#: fp32 / 2 fp64, 256 bits 8 / 4, 512 bits 16 / 8. AMD Zen's ``fp_ret_sse_avx_ops.all`` counts retired
#: FLOPs directly (AMD's PPR: a multiply-add counts as 2), so its multiplier is 1.
FP_EVENTS: dict[str, int] = {
    "fp_arith_inst_retired.scalar_single": 1,
    "fp_arith_inst_retired.scalar_double": 1,
    "fp_arith_inst_retired.128b_packed_double": 2,
    "fp_arith_inst_retired.128b_packed_single": 4,
    "fp_arith_inst_retired.256b_packed_double": 4,
    "fp_arith_inst_retired.256b_packed_single": 8,
    "fp_arith_inst_retired.512b_packed_double": 8,
    "fp_arith_inst_retired.512b_packed_single": 16,
    "fp_ret_sse_avx_ops.all": 1,
}

#: Probed together, one vendor's family at a time (a CPU has one family or none). Zen 4's
#: ``fp_ops_retired_by_type.*`` is left out on purpose: it counts "ops" whose FLOP weight per op is not
#: documented per width, and adding it beside ``fp_ret_sse_avx_ops.all`` would count the same work twice.
FP_EVENT_GROUPS: tuple[tuple[str, ...], ...] = (
    tuple(e for e in FP_EVENTS if e.startswith("fp_arith_inst_retired.")),
    ("fp_ret_sse_avx_ops.all",),
)

FP_FLOPS_NOTE = (
    "counted by the PMU: Intel fp_arith_inst_retired.* x elements per instruction (FMA instructions "
    "increment these counters twice, so an FMA counts 2 FLOPs); AMD fp_ret_sse_avx_ops.all counts FLOPs "
    "directly (multiply-add = 2). x87, integer and AMX work are not in these events"
)

PARANOID_PATH = Path("/proc/sys/kernel/perf_event_paranoid")
PARANOID_FIX = "sudo sysctl kernel.perf_event_paranoid=1"

# A workload long enough (tens of ms) for perf's multiplexing to schedule every probed event at least once,
# short enough that the probe stays cheap.
_PROBE_WORKLOAD: tuple[str, ...] = (sys.executable, "-c", "sum(range(300000))")
_PROBE_TIMEOUT_S = 20.0
_PERMISSION_MARKERS = ("no permission", "permission denied", "perf_event_paranoid", "access to performance")

NOT_SUPPORTED = "not supported"
NOT_COUNTED = "not counted"
COUNTED = "counted"


# -- parsing ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CounterValue:
    """One event as ``perf stat -x,`` printed it. ``value`` is None unless ``status == "counted"``.

    ``running_pct`` below 100 means the PMU had fewer counters than events and perf *multiplexed*: the event
    ran that share of the time and perf scaled its count up to the whole run (an estimate, not a count).
    """

    event: str  # as printed, modifiers included ("cycles:u", "cpu_core/cycles/")
    value: float | None
    unit: str
    status: str  # COUNTED, NOT_SUPPORTED or NOT_COUNTED
    runtime_ns: int | None = None
    running_pct: float | None = None

    @property
    def counted(self) -> bool:
        return self.status == COUNTED and self.value is not None


def base_event_name(event: str) -> str:
    """The event without PMU prefix or modifiers: ``cpu_core/cycles/`` and ``cycles:u`` -> ``cycles``."""
    name = event.strip()
    parts = name.split("/")
    if len(parts) >= 3 and "=" not in name:  # hybrid PMU: cpu_core/cycles/ or cpu_core/cycles/u
        name = parts[1]
    if ":" in name:
        name = name.split(":", 1)[0]
    return name


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def parse_perf_csv(text: str, sep: str = ",") -> dict[str, CounterValue]:
    """Parse ``perf stat -x,`` output into counters keyed by base event name (``cycles:u`` -> ``cycles``).

    perf's documented CSV fields (no ``-I``/``-A``/``-r`` used here): value, unit, event, run time (ns),
    percentage of time the counter ran, then an optional metric value and unit. ``<not supported>`` /
    ``<not counted>`` become ``value=None`` with that status. Comments (``#``), blank lines and perf's own
    messages ("Events enabled", which perf may even append to the last CSV line) are skipped; only the
    first five fields are read. Event names containing the separator (raw ``cpu/event=..,umask=../``
    syntax) are not supported: nnperf never asks for them. An event printed twice (hybrid CPUs print
    ``cpu_core/...`` and ``cpu_atom/...``) is summed: the process's total on both core types.
    """
    out: dict[str, CounterValue] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(sep)
        if len(fields) < 3 or not fields[2].strip():
            continue
        value_text, unit, event = fields[0].strip(), fields[1].strip(), fields[2].strip()
        runtime = _number(fields[3]) if len(fields) > 3 and fields[3].strip() else None
        pct = _number(fields[4]) if len(fields) > 4 and fields[4].strip() else None
        if value_text == "<not supported>":
            status, value = NOT_SUPPORTED, None
        elif value_text == "<not counted>":
            status, value = NOT_COUNTED, None
        else:
            value = _number(value_text)
            if value is None:  # not a counter line (a message perf printed in CSV mode)
                continue
            status = COUNTED
        counter = CounterValue(event, value, unit, status, int(runtime) if runtime is not None else None, pct)
        key = base_event_name(event)
        previous = out.get(key)
        if previous is not None:
            counter = _merge(previous, counter)
        out[key] = counter
    return out


def _merge(a: CounterValue, b: CounterValue) -> CounterValue:
    if a.counted and b.counted:
        pcts = [p for p in (a.running_pct, b.running_pct) if p is not None]
        return CounterValue(
            f"{a.event}+{b.event}",
            (a.value or 0.0) + (b.value or 0.0),
            a.unit,
            COUNTED,
            (a.runtime_ns or 0) + (b.runtime_ns or 0),
            min(pcts) if pcts else None,
        )
    return a if a.counted else b


# -- availability -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PerfAvailability:
    """Whether ``perf stat`` counts hardware events here; ``events`` are those that count."""

    available: bool
    reason: str
    events: tuple[str, ...] = ()
    control: bool = False  # perf accepts --control (exact enable/disable of the counted region)
    paranoid: int | None = None  # kernel.perf_event_paranoid when readable


def read_paranoid(path: Path = PARANOID_PATH) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _resolve(perf: str) -> str | None:
    if os.sep in perf:
        return perf if os.path.isfile(perf) and os.access(perf, os.X_OK) else None
    return shutil.which(perf)


def _run(cmd: Sequence[str], timeout: float = _PROBE_TIMEOUT_S) -> tuple[int, str]:
    """(exit status, stdout + stderr). perf stat prints its counts on stderr."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stderr + proc.stdout


def _permission_reason(paranoid: int | None) -> str:
    level = f"kernel.perf_event_paranoid is {paranoid}" if paranoid is not None else "perf_event_paranoid"
    return f"perf has no permission to count ({level}): allow it with `{PARANOID_FIX}`"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.strip()
    return "(no output)"


def probe_perf(perf: str = "perf") -> PerfAvailability:
    """Run ``perf stat`` on a tiny workload and report which events count. Never raises."""
    paranoid = read_paranoid()
    binary = _resolve(perf)
    if binary is None:
        return PerfAvailability(
            False,
            f"perf not found ({perf!r} is not on PATH): install linux-perf / linux-tools-$(uname -r)",
            paranoid=paranoid,
        )
    try:
        rc, text = _run([binary, "stat", "-x,", "-e", ",".join(BASE_EVENTS), "--", *_PROBE_WORKLOAD])
    except (OSError, subprocess.SubprocessError) as exc:
        return PerfAvailability(False, f"perf stat could not run: {exc}", paranoid=paranoid)
    if any(m in text.lower() for m in _PERMISSION_MARKERS):
        return PerfAvailability(False, _permission_reason(paranoid), paranoid=paranoid)
    counters = parse_perf_csv(text)
    if rc != 0 and not counters:
        return PerfAvailability(
            False, f"perf stat failed (exit {rc}): {_first_line(text)}", paranoid=paranoid
        )
    missing = [e for e in ("cycles", "instructions") if not (e in counters and counters[e].counted)]
    if missing:
        shown = ", ".join(f"{e} <{counters[e].status}>" if e in counters else f"{e} absent" for e in missing)
        return PerfAvailability(
            False,
            f"hardware counters do not count here ({shown}): no PMU is exposed to this system, "
            "as is usual in a virtual machine",
            paranoid=paranoid,
        )
    events = [e for e in BASE_EVENTS if e in counters and counters[e].counted]
    for group in FP_EVENT_GROUPS:
        events.extend(_probe_group(binary, group))
    user_only = any(":u" in c.event for c in counters.values())
    scope = f"user space only (kernel.perf_event_paranoid is {paranoid})" if user_only else "user and kernel"
    fp = [e for e in events if e in FP_EVENTS]
    reason = f"perf counts {len(events)} events ({scope}); " + (
        f"FP arithmetic events: {', '.join(fp)}" if fp else "no floating-point arithmetic events exposed"
    )
    return PerfAvailability(True, reason, tuple(events), _supports_control(binary), paranoid)


def _probe_group(binary: str, group: Sequence[str]) -> list[str]:
    """The events of ``group`` that count. An unknown event fails the whole command ("event syntax
    error"), so a failed group is retried one event at a time (a CPU may lack only the 512-bit ones)."""
    try:
        rc, text = _run([binary, "stat", "-x,", "-e", ",".join(group), "--", *_PROBE_WORKLOAD])
    except (OSError, subprocess.SubprocessError):
        return []
    if rc == 0:
        counters = parse_perf_csv(text)
        return [e for e in group if e in counters and counters[e].counted]
    if len(group) == 1:
        return []
    found: list[str] = []
    for event in group:
        found.extend(_probe_group(binary, (event,)))
    return found


def _supports_control(binary: str) -> bool:
    try:
        _rc, text = _run([binary, "stat", "-h"], timeout=10.0)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--control" in text


# -- result -------------------------------------------------------------------------------------------------
def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


@dataclass(frozen=True)
class PerfResult:
    """Raw counts of one counted region; ratios are derived from them."""

    available: bool
    reason: str
    counters: Mapping[str, CounterValue] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def unavailable(cls, reason: str) -> PerfResult:
        return cls(False, reason)

    def count(self, event: str) -> float | None:
        c = self.counters.get(event)
        return c.value if c is not None and c.counted else None

    @property
    def ipc(self) -> float | None:
        """Instructions per cycle."""
        return _ratio(self.count("instructions"), self.count("cycles"))

    @property
    def cpi(self) -> float | None:
        """Cycles per instruction (1 / IPC)."""
        return _ratio(self.count("cycles"), self.count("instructions"))

    @property
    def cache_miss_rate(self) -> float | None:
        """cache-misses / cache-references (on most x86 PMUs: last-level cache)."""
        return _ratio(self.count("cache-misses"), self.count("cache-references"))

    @property
    def branch_miss_rate(self) -> float | None:
        return _ratio(self.count("branch-misses"), self.count("branches"))

    @property
    def fp_events(self) -> tuple[str, ...]:
        return tuple(e for e in FP_EVENTS if self.count(e) is not None)

    @property
    def fp_flops(self) -> float | None:
        """FLOPs counted by the PMU (see ``FP_FLOPS_NOTE``); None when no FP event counted."""
        events = self.fp_events
        if not events:
            return None
        return sum((self.count(e) or 0.0) * FP_EVENTS[e] for e in events)

    @property
    def multiplexed(self) -> bool:
        """True when some count is perf's scaled estimate (the event ran less than 100% of the time)."""
        return any(
            c.counted and c.running_pct is not None and c.running_pct < 99.995 for c in self.counters.values()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "reason": self.reason,
            "counters": {
                k: {
                    "event": c.event,
                    "value": c.value,
                    "unit": c.unit,
                    "status": c.status,
                    "runtime_ns": c.runtime_ns,
                    "running_pct": c.running_pct,
                }
                for k, c in self.counters.items()
            },
            "ipc": self.ipc,
            "cpi": self.cpi,
            "cache_miss_rate": self.cache_miss_rate,
            "branch_miss_rate": self.branch_miss_rate,
            "fp_flops": self.fp_flops,
            "fp_flops_note": FP_FLOPS_NOTE if self.fp_flops is not None else None,
            "multiplexed": self.multiplexed,
            "notes": list(self.notes),
        }


# -- the session --------------------------------------------------------------------------------------------
def _perf_event_fds(pid: int) -> int | None:
    """How many perf_event descriptors process ``pid`` holds, or None where /proc cannot tell."""
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return None
    n = 0
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(fd_dir / name) == "anon_inode:[perf_event]":
                n += 1
    return n


class PerfSession:
    """Count hardware events of process ``pid`` (default: this one) during a ``with`` block.

    ``with PerfSession() as s: work()`` then ``s.result`` is a :class:`PerfResult`. Enter it *after*
    warm-up, so that lazily created threads (torch's intra-op pool) exist and the warm-up is not counted.
    ``availability`` skips the probe (pass a cached one); ``events`` overrides the probed events;
    ``use_control`` None picks the --control handshake where perf supports it. Never raises for perf's
    sake: any failure becomes ``result.available = False`` with the reason.
    """

    def __init__(
        self,
        pid: int | None = None,
        *,
        perf: str = "perf",
        events: Iterable[str] | None = None,
        availability: PerfAvailability | None = None,
        use_control: bool | None = None,
        attach_timeout_s: float = 10.0,
        settle_s: float = 0.02,
    ) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.perf = perf
        self._events = tuple(events) if events is not None else None
        self.availability = availability
        self._use_control = use_control
        self.attach_timeout_s = attach_timeout_s
        self.settle_s = settle_s
        self.result = PerfResult.unavailable("the session has not run")
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._ctl: int | None = None
        self._ack: int | None = None
        self._notes: list[str] = []
        self._failed: str | None = None

    # -- context manager ----------------------------------------------------------------------------------
    def __enter__(self) -> PerfSession:
        try:
            self._start()
        except (OSError, subprocess.SubprocessError, ValueError, TimeoutError) as exc:
            self._failed = f"perf stat could not attach: {exc}"
            self._cleanup(kill=True)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.result = self._stop()
        except (OSError, subprocess.SubprocessError, ValueError, TimeoutError) as err:
            self.result = PerfResult.unavailable(f"perf stat failed while stopping: {err}")
        finally:
            self._cleanup(kill=True)

    # -- internals ----------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self.availability is None:
            self.availability = probe_perf(self.perf)
        if not self.availability.available:
            self._failed = self.availability.reason
            return
        events = self._events if self._events is not None else self.availability.events
        if not events:
            self._failed = "no events to count"
            return
        binary = _resolve(self.perf) or self.perf
        self._tmp = Path(tempfile.mkdtemp(prefix="nnperf-perf-"))
        out = self._tmp / "stat.csv"
        use_control = self.availability.control if self._use_control is None else self._use_control
        cmd = [binary, "stat", "-x,", "-o", str(out), "-e", ",".join(events)]
        if use_control:
            ctl, ack = self._tmp / "ctl", self._tmp / "ack"
            os.mkfifo(ctl)
            os.mkfifo(ack)
            cmd += ["--control", f"fifo:{ctl},{ack}", "-D", "-1"]
        cmd += ["-p", str(self.pid)]
        with open(self._tmp / "stderr.txt", "wb") as err:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + self.attach_timeout_s
        if use_control:
            self._ctl = self._open_ctl(self._tmp / "ctl", deadline)
            self._ack = os.open(self._tmp / "ack", os.O_RDONLY | os.O_NONBLOCK)
            self._command("enable", deadline)
        else:
            self._wait_attached(len(events), deadline)

    def _alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _perf_error(self) -> str:
        text = ""
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                text = (self._tmp / "stderr.txt").read_text(errors="replace")
        if any(m in text.lower() for m in _PERMISSION_MARKERS):
            return _permission_reason(read_paranoid())
        rc = self._proc.returncode if self._proc is not None else None
        return f"perf stat exited early (exit {rc}): {_first_line(text)}"

    def _open_ctl(self, path: Path, deadline: float) -> int:
        # Opening a FIFO for writing without a reader fails with ENXIO (non-blocking) instead of hanging;
        # retry until perf has opened its end, and stop if perf died (bad option, no permission).
        while True:
            try:
                return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # no reader yet
                    raise
            if not self._alive():
                raise ValueError(self._perf_error())
            if time.monotonic() > deadline:
                raise TimeoutError(f"perf did not open its control FIFO within {self.attach_timeout_s} s")
            time.sleep(0.002)

    def _command(self, word: str, deadline: float) -> None:
        """Send ``enable``/``disable`` and wait for perf's ``ack``, which perf writes after acting."""
        assert self._ctl is not None and self._ack is not None
        os.write(self._ctl, f"{word}\n".encode())
        buf = b""
        while b"ack" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"perf did not acknowledge {word!r} within {self.attach_timeout_s} s")
            ready, _, _ = select.select([self._ack], [], [], min(remaining, 0.05))
            if ready:
                buf += os.read(self._ack, 64)
            elif not self._alive():
                raise ValueError(self._perf_error())

    def _wait_attached(self, n_events: int, deadline: float) -> None:
        # No --control: perf gives no readiness signal. Its counters are file descriptors, one per event and
        # thread, so poll until it holds at least one per event and the number stops changing; then wait
        # settle_s, because perf enables them in a pass after the last open.
        last = -1
        while True:
            if not self._alive():
                raise ValueError(self._perf_error())
            n = _perf_event_fds(self._proc.pid) if self._proc is not None else None
            if n is None:
                self._notes.append("could not see perf's descriptors: start of counting is approximate")
                time.sleep(max(self.settle_s, 0.1))
                return
            if n >= n_events and n == last:
                time.sleep(self.settle_s)
                self._notes.append(f"attach detected from perf's descriptors, then {self.settle_s} s settle")
                return
            if time.monotonic() > deadline:
                self._notes.append("perf's counters were not seen opening: start of counting is approximate")
                return
            last = n
            time.sleep(0.002)

    def _stop(self) -> PerfResult:
        if self._failed is not None:
            return PerfResult.unavailable(self._failed)
        assert self._proc is not None and self._tmp is not None
        if not self._alive():
            return PerfResult.unavailable(self._perf_error())
        if self._ctl is not None:
            self._command("disable", time.monotonic() + self.attach_timeout_s)
        self._proc.send_signal(signal.SIGINT)  # perf stat prints its counts on SIGINT
        self._proc.wait(timeout=self.attach_timeout_s)
        try:
            text = (self._tmp / "stat.csv").read_text(errors="replace")
        except OSError:
            text = ""
        counters = parse_perf_csv(text)
        if not counters:
            return PerfResult.unavailable(self._perf_error())
        assert self.availability is not None
        return PerfResult(True, self.availability.reason, counters, tuple(self._notes))

    def _cleanup(self, kill: bool) -> None:
        for fd in (self._ctl, self._ack):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._ctl = self._ack = None
        if kill and self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            with contextlib.suppress(subprocess.SubprocessError):
                self._proc.wait(timeout=5)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
