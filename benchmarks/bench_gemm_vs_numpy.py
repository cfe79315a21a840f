"""fp32 GEMM: numpy (OpenBLAS) and torch.mm over the same sizes, beside nnperf's measured fp32 peak.

Run: PYTHONPATH=src python benchmarks/bench_gemm_vs_numpy.py [--rounds 2]
numpy and torch each run in their own child process: on a small machine, OpenBLAS's and torch's OpenMP
thread pools in one process spin against each other and halve both. Rounds alternate numpy, torch.mm and
nnperf so a noisy neighbour hurts all alike; each reports its best (fastest sample) per size. OPENBLAS_CORETYPE
and thread variables are left as the environment sets them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SIZES = [128, 256, 384, 512, 768, 1024, 1536, 2048]

CHILD = r"""
import json, sys, time
which, threads, reps, sizes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
out = {}
if which == "numpy":
    import numpy as np
    rng = np.random.default_rng(0)
    for n in sizes:
        a = rng.standard_normal((n, n), dtype=np.float32); b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        f = lambda: np.matmul(a, b, out=c)
        f(); best = min((lambda t0: (f(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(reps))
        out[n] = 2 * n**3 / best
else:
    import torch
    torch.set_num_threads(threads)
    for n in sizes:
        a = torch.randn(n, n); b = torch.randn(n, n); c = torch.empty(n, n)
        f = lambda: torch.mm(a, b, out=c)
        f(); best = min((lambda t0: (f(), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(reps))
        out[n] = 2 * n**3 / best
print(json.dumps(out))
"""

NNPERF = r"""
import json, sys
from nnperf.machine.gemm import gemm_sweep
from nnperf.machine.measure import SETTINGS
threads = int(sys.argv[1])
r = gemm_sweep("fp32", SETTINGS["quick"]["gemm_sizes"], threads=threads, max_call_s=1.0, budget_s=30,
               protocol=SETTINGS["quick"]["protocol"])
print(json.dumps({"best": r["best"], "best_size": r["best_size"]}))
"""


def child(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    p = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(p.stdout)


def main() -> int:
    from nnperf.machine.measure import default_threads

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    threads = default_threads()[-1]
    sizes = json.dumps(SIZES)
    best: dict[str, dict[int, float]] = {"numpy": {}, "torch.mm": {}}
    nn = {"best": 0.0, "best_size": None}
    for _ in range(args.rounds):
        for name, which in (("numpy", "numpy"), ("torch.mm", "torch")):
            r = child(CHILD, which, str(threads), str(args.reps), sizes)
            for n, f in r.items():
                best[name][int(n)] = max(best[name].get(int(n), 0.0), f)
        r = child(NNPERF, str(threads))
        if r["best"] > nn["best"]:
            nn = r
    print(
        f"fp32 GEMM n x n x n (2 n^3 FLOPs), {threads} threads, best of {args.reps} x {args.rounds} rounds; GFLOP/s"
    )
    print(f"{'n':>6}{'numpy':>10}{'torch.mm':>10}")
    for n in SIZES:
        print(f"{n:>6}{best['numpy'][n] / 1e9:10.1f}{best['torch.mm'][n] / 1e9:10.1f}")
    ref_name, ref = max(((k, max(v.values())) for k, v in best.items()), key=lambda kv: kv[1])
    print(f"best of the two: {ref_name} {ref / 1e9:.1f} GFLOP/s")
    print(f"nnperf measured fp32 peak: {nn['best'] / 1e9:.1f} GFLOP/s at n={nn['best_size']}")
    ratio = nn["best"] / ref
    print(f"nnperf / best = {ratio:.1%}  ({'meets' if ratio >= 0.9 else 'BELOW'} the 90% target)")
    try:  # nominal peak from the probes and the nominal model (other modules of nnperf.machine)
        from nnperf.machine.nominal import nominal_cpu
        from nnperf.machine.probes import CpuProbe

        nom = nominal_cpu(CpuProbe().collect()).get("flops", {}).get("fp32")
        if nom:
            print(f"measured / nominal fp32 = {nn['best'] / nom:.1%} (nominal {nom / 1e9:.1f} GFLOP/s)")
    except Exception as exc:
        print(f"(no nominal figure: {exc})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
