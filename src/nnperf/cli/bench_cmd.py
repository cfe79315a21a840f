"""``nnperf bench``: measure a real run (thin: parse, call :func:`nnperf.measure.bench.measure`, print)."""

from __future__ import annotations

import argparse
import json
import sys

from nnperf.cli.args import add_context_arg
from nnperf.cli.generation_bench import add_generation_args, run_generation_bench, wants_generation
from nnperf.errors import UsageError


def add_bench(sub: argparse._SubParsersAction, add_model_args, positive_int) -> None:
    p = sub.add_parser(
        "bench",
        help="measure a real inference or training run: time, throughput, memory, counted FLOPs, counters",
        description="Times real steps by a documented protocol (warm-up, timed steps, raw samples kept), "
        "accounts real/user/system/non-CPU time per phase, counts FLOPs and live tensors with the static "
        "counter and shows them beside the static prediction.",
    )
    add_model_args(p)
    add_context_arg(p)
    p.add_argument("--mode", choices=("infer", "train"), default="infer", help="inference or a training step")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--dtype", default="fp32", help="fp32 (default), bf16, fp16 or fp64")
    p.add_argument("--autocast", choices=("bf16", "fp16"), help="forward and loss under torch.autocast")
    p.add_argument(
        "--compile",
        nargs="?",
        const="default",
        metavar="MODE",
        help="torch.compile the model (MODE: default, reduce-overhead, max-autotune)",
    )
    p.add_argument("--jit", action="store_true", help="torch.jit.trace the model")
    p.add_argument("--channels-last", action="store_true", help="NHWC memory format for model and images")
    p.add_argument("--threads", type=positive_int, help="torch intra-op threads (default: PyTorch's)")
    p.add_argument(
        "--data",
        default="synthetic",
        help="synthetic (on the device, default), generated (JPEGs nnperf writes; token batches for "
        "language models) or an ImageFolder directory (e.g. ImageNet train/)",
    )
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers with --data (default 0)")
    p.add_argument("--optimizer", help="sgd, sgd-momentum, adam, adamw or none (default by family)")
    p.add_argument("--iters", type=positive_int, default=10, help="minimum timed steps (default 10)")
    p.add_argument(
        "--warmup",
        type=positive_int,
        help="warm-up steps (default 3; with --generate, warm-up generations: 1)",
    )
    p.add_argument("--min-time", type=float, default=1.0, help="minimum timed seconds (default 1)")
    p.add_argument("--budget", type=float, default=60.0, help="time budget in seconds (default 60)")
    p.add_argument("--perf", action="store_true", help="hardware counters with perf stat (when it works)")
    p.add_argument(
        "--ncu",
        action="store_true",
        help="instead of timing: one inference forward under Nsight Compute (CUDA and ncu needed), "
        "sass FLOPs and DRAM bytes per op against the static estimate",
    )
    p.add_argument("--ncu-out", default="ncu-out", help="folder for --ncu's raw CSV and comparison JSON")
    p.add_argument("--profile", action="store_true", help="per-op and per-module breakdown (torch.profiler)")
    p.add_argument("--trace", help="write the profiler trace (Chrome/Perfetto JSON) to this file")
    p.add_argument("--no-predict", action="store_true", help="skip the static prediction")
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")
    p.add_argument("--output", "-o", help="also write the Measurement record (JSON) to this file")
    add_generation_args(p, positive_int)
    p.set_defaults(run=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from nnperf.measure.bench import measure
    from nnperf.measure.views import measurement_text
    from nnperf.models import parse_shape
    from nnperf.records.jsonio import write_record
    from nnperf.records.measurement import RunSpec

    if args.output and not args.output.endswith(".json"):
        raise UsageError(f"--output {args.output!r}: the record is JSON, give a file name ending in .json")
    if wants_generation(args):
        return run_generation_bench(args)
    if args.ncu:
        from nnperf.measure.ncu_check import main as ncu_main

        return ncu_main(
            [args.ncu_out, "--model", args.model, "--batch", str(args.batch), "--dtype", args.dtype]
        )
    spec = RunSpec(
        model=args.model,
        mode=args.mode,
        device=args.device,
        batch=args.batch,
        seq=args.seq,
        context=args.context,
        dtype=args.dtype,
        autocast=args.autocast,
        compile=args.compile,
        jit=args.jit,
        channels_last=args.channels_last,
        threads=args.threads,
        workers=args.workers,
        data=args.data,
        optimizer=args.optimizer,
        warmup=args.warmup if args.warmup is not None else 3,
        min_iters=args.iters,
        min_time_s=args.min_time,
        budget_s=args.budget,
    )
    m = measure(
        spec,
        input=parse_shape(args.input) if args.input else None,
        perf=args.perf,
        profile=args.profile,
        trace_path=args.trace,
        predict=not args.no_predict,
    )
    if args.output:
        write_record(args.output, m.to_dict())
        print(f"record written to {args.output}", file=sys.stderr)
    print(json.dumps(m.to_dict(), indent=2) if args.format == "json" else measurement_text(m))
    if not m.ok:
        print(f"nnperf: run failed: {m.error}", file=sys.stderr)
        return 1
    return 0
