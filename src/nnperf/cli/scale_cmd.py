"""``nnperf scale``: thread, batch or data-parallel scaling of a model (thin: parse, call
:mod:`nnperf.measure.scaling`, print the table and fits, write the plot and the record)."""

from __future__ import annotations

import argparse
import json
import sys

from nnperf.cli.args import add_context_arg, positive_int
from nnperf.errors import UsageError


def add_scale(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scale",
        help="scaling of a model: over threads, batch sizes or DDP processes, with Amdahl/Gustafson fits",
        description="Measures a model at each thread count (strong scaling, Amdahl fit), batch size "
        "(throughput and its saturation) or number of data-parallel processes (torchrun + DDP: step, "
        "compute, all-reduce and their overlap; weak scaling by default, Gustafson fit).",
    )
    p.add_argument(
        "model", help="a name from `nnperf models`, a config.json path, file.py:factory or pkg.mod:factory"
    )
    p.add_argument(
        "--batch",
        "-b",
        type=positive_int,
        default=None,
        help="the fixed batch (default 1; with --ddp: per rank for weak scaling, global for strong, "
        "default 8)",
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--input", "-i", help="per-sample input shape, e.g. 3x224x224")
    shape.add_argument("--seq", type=positive_int, help="tokens per sample (language models)")
    add_context_arg(p)  # e.g. --batch-sweep of decode steps: how batching lifts generation throughput
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--threads", metavar="LIST", help="intra-op thread counts, e.g. 1,2,4 (strong scaling)")
    what.add_argument("--batch-sweep", metavar="LIST", help="batch sizes, e.g. 1,2,4,8,16,32 (throughput)")
    what.add_argument("--ddp", metavar="LIST", help="DDP world sizes, e.g. 1,2 (torchrun; training steps)")
    p.add_argument(
        "--mode", choices=("infer", "train"), help="default infer (train with --ddp, its only mode)"
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda (--batch-sweep, --ddp with NCCL)")
    p.add_argument("--dtype", default="fp32", help="fp32 (default), bf16, fp16 or fp64")
    p.add_argument(
        "--ddp-scaling",
        choices=("weak", "strong"),
        default="weak",
        help="weak (default): --batch per rank; strong: --batch is the global batch, split over the ranks",
    )
    p.add_argument(
        "--threads-per-rank",
        type=positive_int,
        help="with --ddp: intra-op threads per rank (default cores/N)",
    )
    p.add_argument(
        "--sweep-threads", type=positive_int, help="with --batch-sweep: intra-op threads (default PyTorch's)"
    )
    p.add_argument(
        "--iters", type=positive_int, default=10, help="minimum timed steps per point (default 10)"
    )
    p.add_argument("--warmup", type=positive_int, default=3, help="warm-up steps per point (default 3)")
    p.add_argument("--min-time", type=float, default=1.0, help="minimum timed seconds per point (default 1)")
    p.add_argument("--tolerance", type=float, default=0.05, help="batch saturation band (default 0.05 = 5%%)")
    p.add_argument("--format", "-f", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--output", "-o", help="also write the plot: a .png, .svg or .pdf file")
    p.add_argument("--record", help="also write the scaling record (JSON) to this file")
    p.set_defaults(run=run_scale)


def run_scale(args: argparse.Namespace) -> int:
    from nnperf.analysis.scaling import parse_counts
    from nnperf.measure import scaling

    # Cheap checks first: a typo must not cost a sweep.
    if args.output and not args.output.lower().endswith(scaling.PLOT_SUFFIXES):
        raise UsageError(
            f"--output {args.output!r}: the plot is a file ending in {', '.join(scaling.PLOT_SUFFIXES)}"
        )
    if args.record and not args.record.endswith(".json"):
        raise UsageError(f"--record {args.record!r}: the record is JSON, give a file name ending in .json")
    if args.ddp is not None:
        sizes = parse_counts(args.ddp, "--ddp world size")
        if args.mode == "infer":
            raise UsageError("--ddp times training steps (DDP all-reduces gradients): drop --mode infer")
        if args.context is not None:
            raise UsageError("--ddp times training steps; a decode step (--context) is inference only")
        result = scaling.ddp_scaling(
            args.model,
            sizes,
            batch=args.batch or 8,
            input=args.input,
            seq=args.seq,
            dtype=args.dtype,
            device=args.device,
            scaling=args.ddp_scaling,
            threads_per_rank=args.threads_per_rank,
            warmup=args.warmup,
            iters=args.iters,
        )
    else:
        from nnperf.models import parse_shape

        common = {
            "mode": args.mode or "infer",
            "device": args.device,
            "seq": args.seq,
            "context": args.context,
            "dtype": args.dtype,
            "warmup": args.warmup,
            "min_iters": args.iters,
            "min_time_s": args.min_time,
        }
        shape = parse_shape(args.input) if args.input else None
        if args.threads is not None:
            counts = parse_counts(args.threads, "--threads")
            result = scaling.thread_scaling(args.model, counts, input=shape, batch=args.batch or 1, **common)
        else:
            counts = parse_counts(args.batch_sweep, "--batch-sweep")
            if args.batch is not None:
                raise UsageError(
                    "--batch and --batch-sweep both given: the sweep sets the batch; drop --batch"
                )
            result = scaling.batch_scaling(
                args.model,
                counts,
                input=shape,
                tolerance=args.tolerance,
                threads=args.sweep_threads,
                **common,
            )
    if args.record:
        from nnperf.records.jsonio import write_record

        write_record(args.record, result.to_dict())
        print(f"record written to {args.record}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    elif args.format == "markdown":
        print(scaling.scaling_markdown(result, figure=args.output), end="")
    else:
        print(scaling.scaling_text(result))
    if args.output and result.ok_points():
        path = scaling.write_scaling_plot(result, args.output)
        print(f"plot written to {path}", file=sys.stderr)
    failed = [p for p in result.points if p.status == "failed"]
    if failed:
        print(f"nnperf: {len(failed)} point(s) failed: {failed[0].error}", file=sys.stderr)
        return 1
    return 0
