"""Run a command as a child process and report its wall time, CPU time and peak RSS (the kernel's rusage).

CPU time beside wall time shows a shared machine's contention: a process that waits for a CPU (another
process, the hypervisor's steal, reported apart from /proc/stat) runs longer than its CPU time says.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class ProcResult:
    wall_s: float
    max_rss_bytes: int
    stdout: str
    returncode: int
    cpu_s: float = float("nan")  # user + system time of the child
    steal_s: float = float("nan")  # CPU time the hypervisor took from this machine during the run


def _steal_seconds() -> float:
    """The machine's cumulative steal time (the 8th field of /proc/stat's ``cpu`` line), NaN where absent."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def run(cmd: list[str]) -> ProcResult:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    # wait4-style accounting: ru_maxrss of the largest child so far (KiB on Linux) — the child is reaped, so
    # read it from RUSAGE_CHILDREN, which holds the maximum over all reaped children.
    import resource

    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if proc.returncode != 0:
        sys.stderr.write(err)
    return ProcResult(wall, rss, out, proc.returncode)


def run_isolated(cmd: list[str]) -> ProcResult:
    """Like :func:`run`, but in a fresh intermediate Python so RUSAGE_CHILDREN holds only this child."""
    code = (
        "import json,resource,subprocess,sys,time;"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "w=time.perf_counter()-t;u=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps({'wall':w,'rss':u.ru_maxrss*1024,'cpu':u.ru_utime+u.ru_stime,"
        "'out':p.stdout,'err':p.stderr,'rc':p.returncode}))"
    )
    steal = _steal_seconds()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    import json

    data = json.loads(p.stdout)
    if data["rc"] != 0:
        sys.stderr.write(data["err"])
    return ProcResult(
        data["wall"], data["rss"], data["out"], data["rc"], data["cpu"], _steal_seconds() - steal
    )


@dataclass
class Runs:
    """Repeated runs of one command: median wall and CPU time, the largest peak RSS, total steal."""

    runs: list[ProcResult]

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)

    @property
    def max_rss_bytes(self) -> int:
        return max(r.max_rss_bytes for r in self.runs)

    @property
    def steal_s(self) -> float:
        return sum(r.steal_s for r in self.runs)

    @property
    def last(self) -> ProcResult:
        return self.runs[-1]


def medians_interleaved(cmd_a: list[str], cmd_b: list[str], repeat: int) -> tuple[Runs, Runs]:
    """Run A and B alternately ``repeat`` times each (a noisy machine drifts; alternation shares the drift)."""
    a_runs, b_runs = Runs([]), Runs([])
    for _ in range(repeat):
        a_runs.runs.append(run_isolated(cmd_a))
        b_runs.runs.append(run_isolated(cmd_b))
    return a_runs, b_runs
