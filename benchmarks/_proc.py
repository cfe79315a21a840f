"""Run a command as a child process and report its wall time and peak RSS (from the kernel's rusage)."""

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
        "w=time.perf_counter()-t;"
        "print(json.dumps({'wall':w,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024,"
        "'out':p.stdout,'err':p.stderr,'rc':p.returncode}))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env, cwd=ROOT)
    import json

    data = json.loads(p.stdout)
    if data["rc"] != 0:
        sys.stderr.write(data["err"])
    return ProcResult(data["wall"], data["rss"], data["out"], data["rc"])


def median_of(cmd: list[str], repeat: int) -> tuple[float, int, ProcResult]:
    runs = [run_isolated(cmd) for _ in range(repeat)]
    return statistics.median(r.wall_s for r in runs), max(r.max_rss_bytes for r in runs), runs[-1]


def medians_interleaved(
    cmd_a: list[str], cmd_b: list[str], repeat: int
) -> tuple[tuple[float, int, ProcResult], tuple[float, int, ProcResult]]:
    """Run A and B alternately ``repeat`` times each (a noisy machine drifts; alternation shares the drift)."""
    a_runs, b_runs = [], []
    for _ in range(repeat):
        a_runs.append(run_isolated(cmd_a))
        b_runs.append(run_isolated(cmd_b))

    def summary(runs: list[ProcResult]) -> tuple[float, int, ProcResult]:
        return statistics.median(r.wall_s for r in runs), max(r.max_rss_bytes for r in runs), runs[-1]

    return summary(a_runs), summary(b_runs)
