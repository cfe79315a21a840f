"""Quick machine measurement on this machine: time, layout, cache breakpoints against sysfs, no GPU."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nnperf.machine import sweep as sweep_mod
from nnperf.machine.measure import SETTINGS, measure_machine

# Bandwidth starts to fall before the working set equals a cache (the cache also holds code, stack and page
# tables, replacement is not perfect LRU, and an L3 is shared with other tenants on a VM) and a shared L3
# fades into memory over an octave or two, so a breakpoint agrees with its cache when it lies within a
# factor of 2.5 of the size. Adjacent levels here are 32x apart, so this still tells the levels apart.
TOLERANCE = 2.5
QUICK_LIMIT_S = 60.0


def sysfs_cache_sizes() -> dict[str, int]:
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    out: dict[str, int] = {}
    for idx in sorted(base.glob("index*")):
        if (idx / "type").read_text().strip() == "Instruction":
            continue
        size = (idx / "size").read_text().strip()
        mult = {"K": 2**10, "M": 2**20}.get(size[-1], 1)
        out[f"l{(idx / 'level').read_text().strip()}"] = int(size.rstrip("KM")) * mult
    return out


@pytest.fixture(scope="module")
def quick_result() -> tuple[dict, float, dict[str, int]]:
    caches = sysfs_cache_sizes() if Path("/sys/devices/system/cpu/cpu0/cache").exists() else {}
    t0 = time.perf_counter()
    res = measure_machine(quick=True, caches=caches or None)
    return res, time.perf_counter() - t0, caches


@pytest.mark.slow
def test_quick_time_and_layout(quick_result: tuple[dict, float, dict[str, int]]) -> None:
    res, elapsed, _ = quick_result
    print(f"\nquick measurement: {elapsed:.1f} s")
    assert elapsed < QUICK_LIMIT_S
    json.loads(json.dumps(res))  # JSON-serialisable, and round-trips
    assert set(res) >= {"flops", "gemm", "bandwidth", "sweep", "stream", "gpu", "quality", "protocol"}
    for dt in ("fp64", "fp32", "bf16", "fp16"):
        assert res["flops"][dt] > 0
        per = res["gemm"][dt]["threads"]
        assert all(r["best"] == max(r["flops_per_s"]) for r in per.values())
    for k in ("copy", "scale", "add", "triad"):
        assert res["bandwidth"]["dram"][k] > 0
        s = res["stream"][k]
        assert s["best"] >= s["median"] > 0 and s["samples"]
    assert res["sweep"]["points"] and all(p["bytes_per_s"] > 0 for p in res["sweep"]["points"])
    assert set(res["quality"]) >= {"warnings", "contention", "elapsed_s"}
    # the fp32 GEMM peak beats the fp64 one on any SIMD CPU (twice the lanes): a sanity check on units
    assert res["flops"]["fp32"] > res["flops"]["fp64"]


@pytest.mark.slow
def test_no_gpu_says_unavailable(quick_result: tuple[dict, float, dict[str, int]]) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    gpu = quick_result[0]["gpu"]
    assert gpu["available"] is False and gpu["reason"]


@pytest.mark.slow
def test_sweep_breakpoints_match_sysfs_caches(quick_result: tuple[dict, float, dict[str, int]]) -> None:
    res, _, caches = quick_result
    if not caches:
        pytest.skip("no cache sizes in sysfs")
    sweep = res["sweep"]
    print("\nsweep (bytes -> GB/s):")
    print(" ".join(f"{p['bytes'] // 1024}K:{p['bytes_per_s'] / 1e9:.0f}" for p in sweep["points"]))
    # call overhead is a small part of every call, so small sizes measure the cache and not the call
    assert max(p["overhead_fraction"] for p in sweep["points"]) < 0.05
    for name, size in caches.items():
        bp = sweep["breakpoints"][name]
        print(
            f"{name}: cache {size / 1024:.0f} KiB, breakpoint {bp['bytes'] / 1024:.0f} KiB "
            f"(ratio {bp['ratio']:.2f}, drop {bp['drop']:.2f}x)"
        )
    failures = mismatches(sweep["breakpoints"], caches)
    for attempt in range(2):
        if not failures:
            break
        # This VM is shared: a neighbour's burst can blur one level's edge (L2 -> L3 costs only ~1.2x here).
        # An independent re-measurement, denser and on one core, must then agree on every level by itself
        # (at most two more).
        print(f"sweep disagreed ({'; '.join(failures)}); measuring again at 1 thread ({attempt + 1}/2)")
        again = sweep_mod.measure_sweep(
            sweep_mod.sweep_sizes(8 * 2**10, 8 * max(caches.values()), 4),
            threads=1,
            passes=3,
            target_bytes=64 * 2**20,
            protocol=SETTINGS["quick"]["sweep_protocol"],
        )
        print(" ".join(f"{p['bytes'] // 1024}K:{p['bytes_per_s'] / 1e9:.0f}" for p in again["points"]))
        failures = mismatches(sweep_mod.find_levels(again["points"], caches)["breakpoints"], caches)
    assert not failures, failures


def mismatches(breakpoints: dict, caches: dict[str, int]) -> list[str]:
    """Levels whose breakpoint is not within TOLERANCE of the cache size, or shows no real drop."""
    out = []
    for name, size in caches.items():
        bp = breakpoints.get(name)
        if bp is None or not (1 / TOLERANCE <= bp["bytes"] / size <= TOLERANCE) or bp["drop"] <= 1.05:
            out.append(f"{name}: cache {size} B, breakpoint {bp}")
    return out
