"""The Nsight Compute check: measured GPU FLOPs and DRAM bytes per op against nnperf's static estimate.

    python scripts/ncu_check.py OUTDIR [--model resnet18 --batch 8 --dtype fp32]
    nnperf bench MODEL --device cuda --ncu [--ncu-out OUTDIR]      (the same check)

Run it on a machine with a CUDA GPU and ``ncu`` on PATH (the `device` tool). It re-runs itself under ncu
(``--child``): builds the model on cuda, runs 2 warm-up inference forwards unprofiled, then one forward
between ``torch.cuda.profiler.start()/stop()`` (cudaProfilerStart/Stop; ncu runs with
``--profile-from-start off``) under ``torch.autograd.profiler.emit_nvtx()`` so each aten op pushes an NVTX
range. ncu records the metrics of :data:`nnperf.measure.ncu.NCU_METRICS` per kernel. The parent parses the
CSV, sums kernels per aten op, runs ``nnperf.summary`` for the static per-op FLOPs of the same inference
forward and writes

    OUTDIR/ncu_raw.csv          ncu's raw output: commit it under tests/data/ncu/ (the parser's real fixture)
    OUTDIR/ncu_comparison.json  per op: measured sass FLOPs, tensor-pipe instructions, estimate, ratio, why,
                                bytes through L1/TEX, L2 and HBM (`nnperf roofline --ncu` draws them)

Without ncu or without a CUDA device it exits 2 with a one-line message.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

try:
    import nnperf  # noqa: F401
except ImportError:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # .../src

from nnperf.measure.ncu import (
    NCU_METRICS,
    compare_with_static,
    group_by_op,
    ncu_command,
    parse_ncu_csv,
    static_costs_by_op,
    totals,
)

SCHEMA = "nnperf.ncu_comparison"
VERSION = 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir", type=Path)
    p.add_argument("--model", default="resnet18")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--ncu", default="ncu", help="the ncu executable")
    p.add_argument("--timeout", type=float, default=480.0, help="seconds allowed for the profiled run")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # the run ncu profiles
    return p.parse_args(argv)


def child(args: argparse.Namespace) -> int:
    """The profiled process: warm up unprofiled, then one forward inside the capture region."""
    import torch

    from nnperf.models import InputSpec, build_workload

    work = build_workload(args.model, InputSpec(batch=args.batch, dtype=args.dtype), device="cuda")
    model = work.model.eval()
    inputs, kwargs = work.make_inputs("cuda", train=False)  # created before the region: no copy kernels in it
    with torch.no_grad():
        for _ in range(2):  # warm-up: cuDNN/cuBLAS handles, algorithm choice, allocator
            model(*inputs, **kwargs)
        torch.cuda.synchronize()
        torch.cuda.profiler.start()
        with torch.autograd.profiler.emit_nvtx():
            model(*inputs, **kwargs)
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
    return 0


def available_metrics(ncu: str) -> tuple[list[str], list[str]]:
    """(metrics this GPU offers, metrics dropped) from ``ncu --query-metrics``; all kept if it cannot tell.

    A metric ncu does not know makes the whole run fail, and names differ between architectures.
    """
    try:
        proc = subprocess.run([ncu, "--query-metrics"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return list(NCU_METRICS), []
    names = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    bases = {m: m.rsplit(".", 1)[0] for m in NCU_METRICS}
    if proc.returncode != 0 or not any(b in names for b in bases.values()):
        return list(NCU_METRICS), []
    kept = [m for m in NCU_METRICS if bases[m] in names]
    return kept, [m for m in NCU_METRICS if m not in kept]


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[-1] if out else None


def _fmt(x: float | None, scale: float = 1.0) -> str:
    return "-" if x is None else f"{x / scale:.4g}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    ncu = shutil.which(args.ncu)
    if ncu is None:
        print(
            f"ncu_check: {args.ncu!r} (Nsight Compute CLI) is not on PATH: run this on a machine with a CUDA "
            "GPU and Nsight Compute installed",
            file=sys.stderr,
        )
        return 2
    import torch

    if not torch.cuda.is_available():
        print(
            "ncu_check: no CUDA device (torch.cuda.is_available() is False): nothing to measure",
            file=sys.stderr,
        )
        return 2

    import nnperf

    out: Path = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "ncu_raw.csv"
    metrics, dropped = available_metrics(ncu)
    child_argv = [sys.executable, str(Path(__file__).resolve()), str(out), "--child"]
    child_argv += ["--model", args.model, "--batch", str(args.batch), "--dtype", args.dtype]
    cmd = ncu_command(child_argv, raw, metrics, ncu=ncu)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    text = raw.read_text(errors="replace") if raw.exists() else ""
    kernels = parse_ncu_csv(text)
    if not kernels and parse_ncu_csv(proc.stdout):  # an ncu that wrote its results to stdout after all
        text = proc.stdout
        raw.write_text(text)
        kernels = parse_ncu_csv(text)
    if not kernels:
        (out / "ncu_stdout.txt").write_text(proc.stdout)
        (out / "ncu_stderr.txt").write_text(proc.stderr)
        tail = (proc.stderr or text or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        print(f"ncu_check: no kernels recorded (ncu exit {proc.returncode}): {tail[0]}", file=sys.stderr)
        return 1

    summary = nnperf.summary(args.model, batch=args.batch, dtype=args.dtype)
    static = static_costs_by_op(summary.profile.infer_ops)
    rows = compare_with_static(group_by_op(kernels, static), static)
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "version": VERSION,
        "model": args.model,
        "batch": args.batch,
        "dtype": args.dtype,
        "pass": "inference forward (eval, no_grad), one iteration after 2 warm-up iterations",
        "gpu": torch.cuda.get_device_name(0),
        "capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "ncu": _version([ncu, "--version"]),
        "driver": _version(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]),
        "host": platform.node(),
        "tf32": {
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        },
        "metrics": metrics,
        "metrics_dropped": dropped,
        "command": cmd,
        "kernels": len(kernels),
        "flops_convention": "FLOPs = add + mul + 2 x fma per precision (sass thread instructions, predicate on); "
        "tensor-pipe instructions are counted, not converted to FLOPs",
        "totals": totals(rows),
        "ops": [r.to_dict() for r in rows],
    }
    (out / "ncu_comparison.json").write_text(json.dumps(record, indent=2) + "\n")

    print(f"{record['gpu']}: {len(kernels)} kernels, metrics dropped: {dropped or 'none'}")
    print(f"{'op':36} {'kern':>4} {'est GFLOP':>10} {'sass GFLOP':>10} {'ratio':>6} {'tensor inst':>11}  why")
    for r in rows:
        print(
            f"{r.op[:36]:36} {r.kernels:>4} {_fmt(r.estimated_flops, 1e9):>10} {_fmt(r.measured_flops, 1e9):>10}"
            f" {_fmt(r.ratio):>6} {_fmt(r.tensor_instructions):>11}  {r.explanation}"
        )
    t = record["totals"]
    print(
        f"total: estimated {_fmt(t['estimated_flops'], 1e9)} GFLOP, sass {_fmt(t['measured_flops'], 1e9)} GFLOP, "
        f"DRAM {_fmt(t['dram_bytes'], 1e6)} MB"
    )
    print(f"wrote {raw} and {out / 'ncu_comparison.json'}")
    print(
        f"hierarchical roofline (L1/L2/HBM bytes per op): nnperf roofline --ncu {out / 'ncu_comparison.json'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
