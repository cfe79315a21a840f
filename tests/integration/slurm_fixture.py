"""Start and stop a one-node Slurm cluster (scripts/slurm_local.sh) for the Slurm executor's tests.

The cluster gets its own directory and free ports, so it never meets another cluster on this machine; clients
reach it through SLURM_CONF. :func:`start_local_slurm` raises :class:`SlurmUnavailable` with the reason (and
the script's last lines) when the daemons cannot be installed or started, e.g. without root.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
START_TIMEOUT_S = 300  # an apt-get install on a fresh machine included


class SlurmUnavailable(Exception):
    """The local cluster could not be started; the message says why."""


@dataclass(frozen=True)
class LocalSlurm:
    dir: Path
    conf: Path  # what SLURM_CONF must name
    partition: str = "debug"


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_local_slurm(directory: Path) -> LocalSlurm:
    """Start munged (if none answers), slurmctld and slurmd with state under ``directory``; wait for idle."""
    if not SCRIPT.is_file():
        raise SlurmUnavailable(f"{SCRIPT} is missing")
    ctld, slurmd = _free_ports(2)
    env = dict(os.environ, SLURM_LOCAL_CTLD_PORT=str(ctld), SLURM_LOCAL_SLURMD_PORT=str(slurmd))
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "start", str(directory)],
            capture_output=True,
            text=True,
            env=env,
            timeout=START_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        stop_local_slurm(LocalSlurm(directory, directory / "slurm.conf"))
        raise SlurmUnavailable(f"scripts/slurm_local.sh start took over {START_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise SlurmUnavailable(f"scripts/slurm_local.sh start failed: {tail}")
    return LocalSlurm(directory, directory / "slurm.conf")


def stop_local_slurm(cluster: LocalSlurm) -> None:
    """Stop the daemons that :func:`start_local_slurm` started (by the PIDs in the cluster's directory)."""
    subprocess.run(
        ["bash", str(SCRIPT), "stop", str(cluster.dir)], capture_output=True, timeout=60, check=False
    )
