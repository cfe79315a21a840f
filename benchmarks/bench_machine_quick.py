"""`nnperf machine --quick` as a whole process: its wall time against the 60 s target, and what it found.

Run: .venv/bin/python benchmarks/bench_machine_quick.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from _proc import run


def main() -> int:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["NNPERF_CACHE_DIR"] = cache  # a fresh measurement, not a cached profile
        r = run([sys.executable, "-m", "nnperf", "machine", "--quick", "--json"])
    if r.returncode != 0:
        print("nnperf machine --quick failed")
        return 1
    data = json.loads(r.stdout)
    m, n = data["measured"], data["nominal"]
    print(
        f"nnperf machine --quick: {r.wall_s:.1f} s wall (target < 60 s) -> {'met' if r.wall_s < 60 else 'NOT met'}"
    )
    for dtype, value in m["flops"].items():
        nominal = n.get("flops", {}).get(dtype)
        share = (
            f"{100 * value / nominal:.0f}% of nominal {nominal / 1e9:.1f}" if nominal else "no nominal figure"
        )
        print(f"  GEMM {dtype}: {value / 1e9:.1f} GFLOP/s ({share})")
    for level, kernels in m["bandwidth"].items():
        print(f"  {level}: " + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in kernels.items()))
    print(f"  contention: {m['quality']['contention']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
