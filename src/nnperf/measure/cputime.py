"""Process CPU accounting for a timed region: real, user and system time, and the data-loader workers' CPU.

``os.times()`` gives the user and system CPU seconds of *all threads* of this process (intra-op threads
included), exactly what ``time`` reports for a program. DataLoader workers are child processes whose CPU time
the kernel only adds to ``children_*`` once they are reaped, so their time is read live with psutil (workers
that exit inside the region would be missed: the harness keeps them persistent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CpuSnapshot:
    real: float
    user: float
    system: float
    workers_cpu: float | None  # CPU seconds of live child processes; None without psutil


def _children_cpu() -> float | None:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a pinned dependency
        return None
    total = 0.0
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return None
    for child in children:
        try:
            t = child.cpu_times()
        except psutil.Error:  # exited between listing and reading
            continue
        total += t.user + t.system
    return total


def snapshot(clock: Callable[[], float] = time.perf_counter) -> CpuSnapshot:
    t = os.times()
    return CpuSnapshot(real=clock(), user=t.user, system=t.system, workers_cpu=_children_cpu())


def region(start: CpuSnapshot, end: CpuSnapshot) -> dict[str, float]:
    """Seconds spent between two snapshots; ``workers_cpu`` only when both snapshots had it."""
    out = {
        "real": end.real - start.real,
        "user": end.user - start.user,
        "system": end.system - start.system,
    }
    if start.workers_cpu is not None and end.workers_cpu is not None:
        out["workers_cpu"] = max(end.workers_cpu - start.workers_cpu, 0.0)
    return out
