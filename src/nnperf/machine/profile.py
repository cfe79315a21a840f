"""``machine_profile``: probe, look up nominal peaks, measure, and cache the result per machine.

The profile is cached in the user's cache directory under the machine's fingerprint (a hash of what
identifies the hardware and software, see :func:`nnperf.machine.probes.fingerprint`). A cached profile is
used only when its stored fingerprint equals the current machine's, so a profile copied from another machine
(or a home directory shared between hosts) is never taken for this one. The file is written once, atomically,
after the measurement completes: an interrupted measurement leaves nothing behind.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnperf.errors import RecordError, UsageError
from nnperf.records.jsonio import read_record, write_record
from nnperf.records.machine_profile import SCHEMA, SCHEMA_VERSION, MachineProfile

Progress = Callable[[str, float], None]


def cache_dir() -> Path:
    """``$NNPERF_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnperf``, else ``~/.cache/nnperf``."""
    explicit = os.environ.get("NNPERF_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nnperf"


def cache_path(fingerprint: str) -> Path:
    return cache_dir() / "machine" / f"{fingerprint}.json"


def load_cached(fingerprint: str) -> MachineProfile | None:
    """The cached profile of this machine, or None (missing, unreadable, or from another machine)."""
    path = cache_path(fingerprint)
    if not path.exists():
        return None
    try:
        data = read_record(path, SCHEMA, SCHEMA_VERSION)
    except RecordError:
        return None
    if data.get("fingerprint") != fingerprint:
        return None
    return MachineProfile.from_dict(data)


def _nominal(probes: dict[str, Any]) -> dict[str, Any]:
    from nnperf.machine.nominal import nominal_cpu, nominal_gpu

    cpu = probes.get("cpu", {})
    out: dict[str, Any] = {"label": "nominal (spec-sheet) peaks, not measured"}
    if cpu.get("available", True):
        cpu_peaks = nominal_cpu(cpu)
        out["cpu"] = cpu_peaks
        out["flops"] = dict(cpu_peaks.get("flops", {}))
    gpus = probes.get("gpu", {})
    if gpus.get("available", True) and gpus.get("devices"):
        out["gpu"] = [nominal_gpu(d.get("name", "")) for d in gpus["devices"]]
    return out


def measure_profile(
    *, quick: bool = False, threads: list[int] | None = None, progress: Progress | None = None
) -> MachineProfile:
    """Probe and measure this machine now (no cache involved)."""
    from nnperf import __version__
    from nnperf.machine.measure import measure_machine
    from nnperf.machine.probes import collect_probes, data_caches, fingerprint

    probes = collect_probes()
    caches = {k: v for k, v in (probes.get("cpu", {}).get("caches") or {}).items() if v}
    measured = measure_machine(
        quick=quick, caches=data_caches(probes.get("cpu")) or None, threads=threads, progress=progress
    )
    warnings = list(measured.get("quality", {}).get("warnings", []))
    return MachineProfile(
        fingerprint=fingerprint(probes),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        mode="quick" if quick else "full",
        probes=probes,
        nominal=_nominal(probes),
        measured=measured,
        caches=caches,
        warnings=warnings,
        nnperf_version=__version__,
    )


def machine_profile(
    *,
    refresh: bool = False,
    quick: bool = False,
    threads: list[int] | None = None,
    progress: Progress | None = None,
    save: bool = True,
) -> MachineProfile:
    """This machine's profile: the cached one unless ``refresh``; otherwise measured and cached."""
    from nnperf.machine.probes import collect_probes, fingerprint

    if threads is not None and (not threads or any(t < 1 for t in threads)):
        raise UsageError(f"thread counts must be positive integers, got {threads!r}")
    if not refresh:
        cached = load_cached(fingerprint(collect_probes()))
        if cached is not None:
            return cached
    profile = measure_profile(quick=quick, threads=threads, progress=progress)
    if save:
        write_record(cache_path(profile.fingerprint), profile.to_dict())
    return profile


def load_profile(path: str | Path) -> MachineProfile:
    """A profile from a file (another machine's, for comparison or for a roofline drawn elsewhere)."""
    return MachineProfile.from_dict(read_record(path, SCHEMA, SCHEMA_VERSION))
