"""``nnperf trace``: where each step's time goes in a torch.profiler trace, and why.

Thin: parse, call :func:`nnperf.analysis.trace.analyze`, render with :mod:`nnperf.report.trace_view`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nnperf.cli.args import positive_int
from nnperf.errors import UsageError

if TYPE_CHECKING:
    pass

FORMATS: tuple[str, ...] = ("table", "json", "html")


# ---- command -------------------------------------------------------------------------------------------------


def add_trace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="analyse torch.profiler traces: time per step by thread and stream, idle and stalls, top ops, "
        "critical path, variation, stragglers",
        description="Reads Chrome/Perfetto JSON traces of a PyTorch run (nnperf bench --profile --trace FILE, "
        "torch.profiler's export_chrome_trace or tensorboard_trace_handler; one file per rank) and reports "
        "each step's time by CPU thread and GPU stream (compute, data loading, optimizer, communication, "
        "copies, synchronisation, idle), what the idle time waits for, data-loader stalls with advice, the top "
        "ops and kernels, the critical path, step-to-step variation and straggler ranks.",
    )
    p.add_argument("traces", nargs="+", metavar="TRACE.json", help="trace file(s), .json or .json.gz")
    p.add_argument("--steps", action="store_true", help="also list every step")
    p.add_argument(
        "--top", type=positive_int, default=10, help="rows of the top-op and top-kernel tables (10)"
    )
    p.add_argument("--format", "-f", choices=FORMATS, default="table")
    p.add_argument("--output", "-o", help="write the output to this file instead of printing it")
    costs = p.add_argument_group("static costs (FLOPs, intensity and roofline class of the top ops)")
    costs.add_argument(
        "--model", help="the traced model (a name from `nnperf models`, config.json, file.py:fn)"
    )
    costs.add_argument("--batch", "-b", type=positive_int, default=1, help="its batch size (default 1)")
    costs.add_argument("--input", "-i", help="per-sample input shape, e.g. 3x224x224")
    costs.add_argument("--seq", type=positive_int, help="tokens per sample (language models)")
    costs.add_argument("--mode", choices=("infer", "train"), default="train", help="what a step ran (train)")
    costs.add_argument("--dtype", default="fp32", help="fp32 (default), bf16, fp16: the costs and the roof")
    costs.add_argument(
        "--machine",
        help="machine profile JSON for the roofs (default: the nominal peaks of the trace's GPU, if known)",
    )
    costs.add_argument("--memory-level", default="dram", help="bandwidth roof with --machine (default dram)")
    p.set_defaults(run=run_trace)


def run_trace(args: argparse.Namespace) -> int:
    from nnperf.analysis.trace import analyze, load_trace

    if args.output and args.format == "html" and not args.output.lower().endswith((".html", ".htm")):
        raise UsageError(f"--output {args.output!r}: an HTML page needs a file name ending in .html")
    traces = [load_trace(p) for p in args.traces]  # a bad file fails before any model analysis
    records = None
    if args.model:
        from nnperf.static.summary import summarize

        records = summarize(
            args.model, batch=args.batch, input=args.input, seq=args.seq, dtype=args.dtype, mode=args.mode
        ).ops
    ceilings, memory_level = None, args.memory_level
    if args.machine:
        from nnperf.analysis.trace import trace_ceilings
        from nnperf.machine.profile import load_profile

        ceilings, memory_level = trace_ceilings(traces, load_profile(args.machine), args.memory_level)
    report = analyze(
        traces,
        static_records=records,
        ceilings=ceilings,
        dtype=args.dtype,
        memory_level=memory_level,
        top=args.top,
    )
    from nnperf.report.trace_view import trace_html, trace_text

    if args.format == "json":
        text = json.dumps(report.to_dict(), indent=2)
    elif args.format == "html":
        text = trace_html(report, steps=args.steps)
    else:
        text = trace_text(report, steps=args.steps)
    if args.output:
        for w in report.warnings:  # the page shows them too; said here as the terminal shows nothing else
            print(f"nnperf: warning: {w}", file=sys.stderr)
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        print(f"written to {out}", file=sys.stderr)
    else:
        print(text)
    return 0
