"""``measure_machine``: every measured ceiling of this machine in one JSON-ready dict.

Order of work: working-set sweep, STREAM, GEMM per dtype and thread count, then the GPU. Each phase gets a
share of the time budget; the GEMM sweeps stop early when their share is spent. Settings for ``quick`` and
full mode are in :data:`SETTINGS` and are copied into the result's ``"protocol"`` key, so a record says how
it was measured. No printing: ``progress(label, fraction)`` is called as work advances.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from nnperf.machine import gemm as gemm_mod
from nnperf.machine import gpu as gpu_mod
from nnperf.machine import stream as stream_mod
from nnperf.machine import sweep as sweep_mod

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "budget_s": 45.0,
        "protocol": {"warmup": 1, "min_repeats": 3, "min_time_s": 0.05, "budget_s": 2.0},
        "stream_protocol": {"warmup": 1, "min_repeats": 5, "min_time_s": 0.05, "budget_s": 2.0},
        "sweep_protocol": {"warmup": 1, "min_repeats": 3, "min_time_s": 0.01, "budget_s": 0.5},
        "sweep_per_octave": 3,
        "sweep_passes": 3,
        "sweep_target_bytes": 64 * 2**20,
        "gemm_sizes": [128, 256, 384, 512, 768, 1024, 1536],
        "gemm_max_call_s": 0.3,
        "gemm_all_threads_dtypes": ["fp32"],  # other dtypes at the largest thread count only
    },
    "full": {
        "budget_s": 600.0,
        "protocol": {"warmup": 2, "min_repeats": 10, "min_time_s": 0.5, "budget_s": 10.0},
        "stream_protocol": {"warmup": 2, "min_repeats": 20, "min_time_s": 0.5, "budget_s": 10.0},
        "sweep_protocol": {"warmup": 1, "min_repeats": 7, "min_time_s": 0.05, "budget_s": 2.0},
        "sweep_per_octave": 4,
        "sweep_passes": 3,
        "sweep_target_bytes": 256 * 2**20,
        "gemm_sizes": [128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096],
        "gemm_max_call_s": 3.0,
        "gemm_all_threads_dtypes": ["fp64", "fp32", "bf16", "fp16"],
    },
}
# Share of the budget per phase (the GPU gets what is left, and is not bounded by it on a GPU machine).
CONTENDED_SHARE = 0.8  # median CPU share below which a phase is judged contended
OTHERS_SHARE_LIMIT = 0.20  # other processes using over a fifth of the machine: contended
STEAL_LIMIT = 0.05
PHASE_SHARE = {"sweep": 0.15, "stream": 0.15, "gemm": 0.65}
SWEEP_START = 16 * 2**10
SWEEP_MIN_STOP = 64 * 2**20
SWEEP_MAX_STOP = 512 * 2**20


# Levels private to a core: with t threads, t of them hold the working set together.
PER_CORE_LEVELS = ("l1", "l2")
MAX_OVERHEAD = 0.05  # a cache-level STREAM figure is kept only if call overhead is under 5% of a call


def _stream_in_caches(
    caches: dict[str, int],
    levels: dict[str, Any],
    call_overhead_s: float | None,
    threads: int,
    protocol: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """STREAM's four kernels on arrays that fit in a cache level, where that can be measured honestly.

    The arrays together take half the level's capacity (all cores' share for a private level). A torch call
    costs ``call_overhead_s`` (measured by the sweep) on top of its memory traffic, so a level whose calls
    would be short enough for the overhead to exceed 5% of the time is skipped, with the reason, and the
    sweep's read kernel stays that level's only figure (on this kind of machine: L1 and L2).
    """
    out: dict[str, dict[str, Any]] = {}
    for level in ("l3", "l2", "l1"):
        size = caches.get(level)
        plateau = (levels.get(level) or {}).get("bytes_per_s")
        if not size or not plateau or not call_overhead_s:
            continue
        total = size * (threads if level in PER_CORE_LEVELS else 1) // 2
        shortest_call_s = (2 * total / 3) / plateau  # copy moves 2 of the 3 arrays' bytes
        if call_overhead_s / shortest_call_s > MAX_OVERHEAD:
            out[level] = {
                "skipped": f"a call over {total // 1024} KiB takes ~{shortest_call_s * 1e6:.1f} us, of which the "
                f"~{call_overhead_s * 1e6:.1f} us call overhead would be over {MAX_OVERHEAD:.0%}"
            }
            continue
        # Calls of ~0.1 ms: one warm-up call does not wake the thread pool and settle the clocks (the first
        # kernel measured came out 30x low); 50 calls (~5 ms) do.
        warm = {**protocol, "warmup": max(int(protocol.get("warmup", 1)), 50)}
        res = stream_mod.measure_stream(array_bytes=total // 3, threads=threads, protocol=warm)
        kept = {
            k: v["best"]
            for k, v in res.items()
            if call_overhead_s * v["best"] / v["bytes_per_call"] <= MAX_OVERHEAD
        }
        out[level] = {
            "kernels": kept,
            "array_bytes": total // 3,
            "warnings": [w for v in res.values() for w in v["warnings"]],
        }
    return out


def default_threads() -> list[int]:
    """1, 2, 4, ... up to the CPUs this process may use, and that count itself."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    out = {n}
    t = 1
    while t < n:
        out.add(t)
        t *= 2
    return sorted(out)


def _measure_machine(
    *,
    quick: bool,
    caches: dict[str, int] | None,
    threads: list[int] | None = None,
    progress: Callable[[str, float], None] | None = None,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Measure GEMM FLOP/s, STREAM and cache bandwidth, and the GPU; see the module docstring."""
    import torch

    t_start = time.perf_counter()
    mode = "quick" if quick else "full"
    cfg = SETTINGS[mode]
    budget = float(budget_s if budget_s is not None else cfg["budget_s"])
    if not caches:
        from nnperf.machine.probes import data_caches

        caches = data_caches()
    caches = dict(caches)
    caches = {k: int(v) for k, v in caches.items() if v}
    thread_list = sorted(set(threads or default_threads()))
    if quick and threads is None:
        thread_list = sorted({thread_list[0], thread_list[-1]})
    top = thread_list[-1]
    warnings: list[str] = []
    shares: list[float] = []
    weights = {"sweep": 0.1, "stream": 0.15, "gemm": 0.65, "gpu": 0.1}
    done = 0.0

    def report(label: str, frac_of_phase: float, phase: str) -> None:
        if progress is not None:
            progress(label, min(1.0, done + weights[phase] * frac_of_phase))

    # ---- working-set sweep (read_sum), at the largest thread count
    llc = max(caches.values()) if caches else None
    stop = min(max(8 * (llc or 0), SWEEP_MIN_STOP), SWEEP_MAX_STOP)
    start = min(SWEEP_START, max(caches.get("l1", SWEEP_START) // 4, 4096))
    sweep_sizes = sweep_mod.sweep_sizes(start, stop, cfg["sweep_per_octave"])
    report("cache sweep", 0.0, "sweep")
    sweep_proto = dict(cfg["sweep_protocol"])
    sweep_proto["budget_s"] = min(
        sweep_proto["budget_s"], budget * PHASE_SHARE["sweep"] / (len(sweep_sizes) * cfg["sweep_passes"])
    )

    def run_sweep(t: int) -> dict[str, Any]:
        return sweep_mod.measure_sweep(
            sweep_sizes,
            threads=t,
            target_bytes=cfg["sweep_target_bytes"],
            passes=cfg["sweep_passes"],
            protocol=sweep_proto,
            progress=lambda f: report("cache sweep", f, "sweep"),
        )

    sweep = run_sweep(top)
    sweep_shares = [p["cpu_share"] for p in sweep["points"] if p["cpu_share"] is not None]
    if top > 1 and sweep_shares and statistics.median(sweep_shares) < CONTENDED_SHARE:
        # A neighbour holds a CPU: threads of one op wait at each barrier for the descheduled one, and the
        # curve turns to noise. One thread still has a free core; its curve has the same breakpoints
        # (each thread re-reads the whole buffer), with one core's bandwidth.
        warnings.append(
            f"sweep: CPU share {statistics.median(sweep_shares):.2f} at {top} threads (contention); "
            "the sweep was repeated at 1 thread, so cache figures are one core's"
        )
        sweep = run_sweep(1)
    warnings.extend(sweep.pop("warnings"))
    shares.extend(p["cpu_share"] for p in sweep["points"] if p["cpu_share"] is not None)
    found = sweep_mod.find_levels(sweep["points"], caches)
    sweep["breakpoints"] = found["breakpoints"]
    sweep["levels"] = found["levels"]
    done += weights["sweep"]

    # ---- STREAM on arrays far beyond the LLC, at the largest thread count
    stream_proto = dict(cfg["stream_protocol"])
    stream_proto["budget_s"] = min(stream_proto["budget_s"], budget * PHASE_SHARE["stream"] / 4)
    kernels = stream_mod.KERNELS
    stream = stream_mod.measure_stream(
        llc_bytes=llc,
        threads=top,
        protocol=stream_proto,
        progress=lambda k: report(f"STREAM {k}", kernels.index(k) / len(kernels), "stream"),
    )
    for v in stream.values():
        warnings.extend(v.pop("warnings"))
        if v["cpu_share"] is not None:
            shares.append(v["cpu_share"])
    done += weights["stream"]
    in_cache = _stream_in_caches(caches, found["levels"], sweep.get("call_overhead_s"), top, stream_proto)
    for entry in in_cache.values():
        warnings.extend(entry.pop("warnings", []))

    # ---- GEMM per dtype and thread count
    jobs = [
        (dt, t)
        for dt in gemm_mod.CPU_DTYPES
        for t in (thread_list if dt in cfg["gemm_all_threads_dtypes"] else [top])
    ]
    gemm_budget = budget * PHASE_SHARE["gemm"]
    gemm: dict[str, Any] = {}
    g_start = time.perf_counter()
    for i, (dt, t) in enumerate(jobs):
        report(f"GEMM {dt} x{t} threads", i / len(jobs), "gemm")
        left = gemm_budget - (time.perf_counter() - g_start)
        res = gemm_mod.gemm_sweep(
            dt,
            cfg["gemm_sizes"],
            threads=t,
            max_call_s=cfg["gemm_max_call_s"],
            budget_s=max(left / (len(jobs) - i), 0.5),
            protocol=cfg["protocol"],
        )
        warnings.extend(res.pop("warnings"))
        shares.extend(s for s in res.pop("cpu_share", []) if s is not None)
        entry = gemm.setdefault(dt, {"emulated": res.pop("emulated"), "threads": {}})
        res.pop("emulated", None)
        entry["threads"][str(t)] = res
        if entry["emulated"]:
            msg = f"gemm {dt}: the CPU has no native {dt} arithmetic; torch emulates it (figure is what torch reaches)"
            if msg not in warnings:
                warnings.append(msg)
    flops = {
        dt: max((r["best"] for r in entry["threads"].values() if r["best"]), default=None)
        for dt, entry in gemm.items()
    }
    done += weights["gemm"]

    # ---- GPU (guarded; never fails)
    report("GPU", 0.0, "gpu")
    gpu = gpu_mod.measure_gpu(quick=quick)
    done += weights["gpu"]
    report("done", 0.0, "gpu")

    # ---- bandwidth per level
    bandwidth: dict[str, dict[str, float]] = {"dram": {k: v["best"] for k, v in stream.items()}}
    for name, lvl in found["levels"].items():
        bandwidth.setdefault(name, {})[sweep["kernel"]] = lvl["bytes_per_s"]
    for name, entry in in_cache.items():
        bandwidth.setdefault(name, {}).update(entry.get("kernels", {}))
    sweep["stream_in_cache"] = in_cache

    contention = {
        "min_cpu_share": min(shares) if shares else None,
        "median_cpu_share": statistics.median(shares) if shares else None,
        "contended": bool(shares) and statistics.median(shares) < CONTENDED_SHARE,
    }
    if contention["contended"]:
        warnings.insert(
            0,
            f"contention: median CPU share {contention['median_cpu_share']:.2f}: another process competed "
            "for the CPUs during most of the measurement; close other programs and measure again (--refresh)",
        )
    return {
        "flops": flops,
        "gemm": gemm,
        "bandwidth": bandwidth,
        "sweep": sweep,
        "stream": stream,
        "gpu": gpu,
        "quality": {
            "warnings": warnings,
            "contention": contention,
            "elapsed_s": time.perf_counter() - t_start,
        },
        "protocol": {
            "mode": mode,
            "budget_s": budget,
            "threads": thread_list,
            "caches": caches,
            "torch_threads_before": torch.get_num_threads(),
            "settings": cfg,
            "timing": "see nnperf.machine.protocol: warm-up, then samples until min_repeats and min_time_s "
            "or budget_s; rates from the best sample, median beside it",
        },
    }


def measure_machine(**kwargs: Any) -> dict[str, Any]:
    """Measure this machine (see :func:`_measure_machine` for the arguments and the layout), and record
    how much CPU *other* processes used meanwhile (machine-wide /proc/stat), which is what decides whether
    the figures suffered contention; a low CPU share of our own threads alone can also mean a kernel that
    leaves threads idle (e.g. emulated bf16 GEMM)."""
    from nnperf.machine.cpustat import load_window

    with load_window() as window:
        result = _measure_machine(**kwargs)
    contention = result.setdefault("quality", {}).setdefault("contention", {})
    contention["others_share"] = window.result.others_share
    contention["steal_share"] = window.result.steal_share
    if window.result.others_share is not None:
        # Machine-wide evidence replaces the own-threads heuristic.
        busy = (
            window.result.others_share > OTHERS_SHARE_LIMIT or (window.result.steal_share or 0) > STEAL_LIMIT
        )
        contention["contended"] = busy
        warnings = [
            w for w in result["quality"].get("warnings", []) if not w.startswith("contention: median")
        ]
        if busy:
            warnings.insert(
                0,
                f"contention: other processes used {window.result.others_share:.0%} of the CPUs "
                f"(hypervisor steal {window.result.steal_share or 0:.0%}) during the measurement: the figures "
                "understate this machine; close other programs and measure again (--refresh)",
            )
        result["quality"]["warnings"] = warnings
    return result
