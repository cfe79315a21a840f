"""System-wide CPU time from /proc/stat, to tell other processes' load apart from our own idle threads.

A benchmark whose threads get less CPU than wall x threads is either competing with other processes (the
figures understate the machine) or running a kernel that leaves threads idle (single-threaded, memory-bound).
Only the machine-wide CPU time tells which: busy time of all CPUs minus our process's CPU time is what the
*others* used; "steal" is time the hypervisor gave our vCPUs to other guests.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def system_cpu_seconds(path: Path = Path("/proc/stat")) -> tuple[float, float] | None:
    """(busy seconds of all CPUs, steal seconds), or None where /proc/stat is unreadable."""
    try:
        first = path.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user already)
    values = [int(v) for v in first[1:9]] + [0] * max(0, 8 - len(first[1:9]))
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


@dataclass(frozen=True)
class LoadWindow:
    others_share: float | None  # CPU used by other processes / (wall x CPUs)
    steal_share: float | None  # time the hypervisor took from our vCPUs / (wall x CPUs)


class load_window:
    """Measure other processes' CPU share over a block: ``with load_window() as w: ...; w.result``."""

    def __enter__(self) -> load_window:
        self._sys0 = system_cpu_seconds()
        self._own0 = time.process_time()
        self._t0 = time.perf_counter()
        self.result = LoadWindow(None, None)
        return self

    def __exit__(self, *exc: object) -> None:
        sys1 = system_cpu_seconds()
        if self._sys0 is None or sys1 is None:
            return
        wall = time.perf_counter() - self._t0
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        capacity = wall * (os.cpu_count() or cpus)
        if capacity <= 0:
            return
        own = time.process_time() - self._own0
        others = max(0.0, (sys1[0] - self._sys0[0]) - own)
        self.result = LoadWindow(others / capacity, max(0.0, sys1[1] - self._sys0[1]) / capacity)
