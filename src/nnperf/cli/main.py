"""The ``nnperf`` command line: parse, call one library function, print a view. Errors: one line, exit 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from nnperf import __version__
from nnperf.cli.args import add_cache_arg, add_context_arg, positive_int
from nnperf.errors import NnperfError

FORMATS = ("table", "torchsummary", "tree", "json", "csv")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _add_model_args(p: argparse.ArgumentParser, optional: bool = False) -> None:
    """The model and its input, as every command that analyses a model takes them."""
    p.add_argument(
        "model",
        nargs="?" if optional else None,
        help="a name from `nnperf models`, a config.json path, file.py:factory or pkg.mod:factory",
    )
    p.add_argument("--batch", "-b", type=positive_int, default=1, help="batch size (default 1)")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument(
        "--input", "-i", help="per-sample input shape, e.g. 3x224x224 (vision and custom models)"
    )
    shape.add_argument("--seq", type=positive_int, help="tokens per sample (language models, default 128)")


def _add_summary(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "summary",
        help="estimate params, FLOPs, bytes and memory of a model without running it",
        description="Static analysis on meta tensors: nothing is allocated or computed.",
    )
    _add_model_args(p)
    add_context_arg(p)
    add_cache_arg(p)
    p.add_argument("--dtype", default="fp32", help="fp32 (default), bf16, fp16 or fp64")
    p.add_argument("--mode", choices=("infer", "train"), default="infer", help="which forward pass to report")
    p.add_argument("--optimizer", help="sgd, sgd-momentum, adam, adamw or none (default by family)")
    p.add_argument(
        "--attn", dest="attn_implementation", choices=("sdpa", "eager"), help="HF attention implementation"
    )
    p.add_argument(
        "--autocast", choices=("bf16", "fp16"), help="mixed precision: forward and loss under autocast"
    )
    p.add_argument("--depth", type=int, default=2, help="module depth of the table and tree (default 2)")
    p.add_argument("--format", "-f", choices=FORMATS, default="table")
    p.add_argument("--ops", action="store_true", help="with --format json: include every op record")
    p.set_defaults(run=_run_summary)


def _summarize(args: argparse.Namespace, **options: Any) -> Any:
    """The static analysis of the model and input that `_add_model_args` and `--context` parsed."""
    from nnperf.errors import UsageError
    from nnperf.static.summary import summarize

    if getattr(args, "cache", None) and args.context is None:
        raise UsageError(f"--cache {args.cache} applies to a decode step: give --context N as well")
    return summarize(
        args.model,
        batch=args.batch,
        input=args.input,
        seq=args.seq,
        dtype=args.dtype,
        mode=args.mode,
        context=args.context,
        **({"cache": args.cache} if getattr(args, "cache", None) else {}),
        **options,
    )


def _run_summary(args: argparse.Namespace) -> int:
    result = _summarize(
        args, optimizer=args.optimizer, attn_implementation=args.attn_implementation, autocast=args.autocast
    )
    if args.format == "table" and sys.stdout.isatty():
        from rich.console import Console

        from nnperf.static import views

        console = Console()
        console.print(views.layer_table(result, args.depth).to_rich())
        console.print(views.totals_text(result), highlight=False, markup=False)
        return 0
    print(render_summary(result, args.format, args.depth, include_ops=args.ops))
    return 0


def render_summary(result, fmt: str, depth: int = 2, include_ops: bool = False) -> str:
    from nnperf.static import export, views

    if fmt == "json":
        return json.dumps(result.to_dict(include_ops=include_ops), indent=2)
    if fmt == "csv":
        return export.modules_csv(result, depth).rstrip("\n")
    if fmt == "torchsummary":
        return views.torchsummary_text(result)
    if fmt == "tree":
        return views.tree_text(result, depth)
    return views.layer_table(result, depth).to_text() + "\n" + views.totals_text(result)


def _add_models(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models nnperf can build")
    p.add_argument("--source", help="only this source (torchvision, huggingface, builtin)")
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")
    p.set_defaults(run=_run_models)


def _run_models(args: argparse.Namespace) -> int:
    from nnperf.models import list_models

    entries = [e for e in list_models() if args.source is None or e.source == args.source]
    if args.format == "json":
        print(json.dumps([e.__dict__ if hasattr(e, "__dict__") else e._asdict() for e in entries], indent=2))
        return 0
    width = max((len(e.name) for e in entries), default=10)
    for e in entries:
        print(f"{e.name:<{width}}  {e.source:<12} {e.family:<11} {e.description}")
    print(
        f"\n{len(entries)} models. Also: a transformers config.json path, file.py:factory or package.module:factory."
    )
    return 0


def _thread_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of thread counts") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: thread counts must be positive, e.g. 1,2")
    return values


def _add_machine(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "machine",
        help="measured roofline ceilings of this machine beside its nominal peaks (cached per machine)",
        description="Shows this machine's cached profile, or measures it (GEMM per dtype, STREAM, cache sweep).",
    )
    p.add_argument("--json", action="store_true", help="print the profile as one JSON object")
    p.add_argument("--refresh", action="store_true", help="measure again even if a cached profile exists")
    p.add_argument("--quick", action="store_true", help="a short measurement (under a minute)")
    p.add_argument("--threads", type=_thread_list, help="thread counts to measure, e.g. 1,2 (default 1..N)")
    p.add_argument("--file", help="show a saved profile (e.g. another machine's) instead of this machine's")
    p.set_defaults(run=_run_machine)


def _run_machine(args: argparse.Namespace) -> int:
    from nnperf.machine.profile import load_profile, machine_profile
    from nnperf.machine.views import machine_text

    if args.file:
        profile = load_profile(args.file)
    else:
        with _progress_bar() as progress:
            profile = machine_profile(
                refresh=args.refresh, quick=args.quick, threads=args.threads, progress=progress
            )
    print(json.dumps(profile.to_dict(), indent=2) if args.json else machine_text(profile))
    return 0


class _progress_bar:
    """A rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __enter__(self):
        self._progress = None
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(transient=True, console=Console(stderr=True))
        self._progress.start()
        self._task = self._progress.add_task("measuring", total=1.0)

        def update(label: str, fraction: float) -> None:
            self._progress.update(self._task, completed=fraction, description=label)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job on built-in defaults: static analysis, machine ceilings, roofline, a measured run",
    )
    p.set_defaults(run=_run_demo)


# The main job on built-in defaults: static analysis of the demo models, this machine's ceilings (a quick
# measurement, cached), one model placed against them and projected onto spec-sheet GPUs. Each step is the CLI
# command it prints.
DEMO_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("summary", "mnist-cnn", "--format", "torchsummary"),
    ("summary", "resnet50", "--batch", "32", "--depth", "1"),
    ("summary", "gpt2", "--batch", "4", "--seq", "128", "--mode", "train", "--depth", "1"),
    ("summary", "gpt2", "--context", "512", "--depth", "1"),
    ("machine", "--quick"),
    ("roofline", "resnet50", "--batch", "32", "--level", "op", "-o", "demo-out/roofline_resnet50.png"),
    ("predict", "resnet50", "--batch", "32", "--on", "cpu,t4,a100-sxm4-80gb,h100-sxm5-80gb"),
    ("study", "run", "--demo", "--results", "demo-out/results"),
)


def _run_demo(args: argparse.Namespace) -> int:
    parser = build_parser()
    for command in DEMO_COMMANDS:
        print(f"\n$ nnperf {' '.join(command)}", flush=True)
        step = parser.parse_args(list(command))
        step.run(step)
    return 0


def _add_roofline(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "roofline",
        help="place a model, its modules or its ops against this machine's measured roofs (estimated points)",
        description="Estimated roofline: FLOPs and minimum bytes from the static analysis, placed under the "
        "compute roof of the dtype and the bandwidth roof of a memory level of a machine profile.",
    )
    _add_model_args(p, optional=True)  # `nnperf roofline --kernels` places calibration kernels, no model
    add_context_arg(p)
    add_cache_arg(p)
    p.add_argument(
        "--dtype",
        help="fp32 (default; with --ncu, the recorded run's), bf16, fp16 or fp64: also picks the roof",
    )
    p.add_argument("--mode", default="infer", help="infer (default) or train: which pass the points cover")
    p.add_argument(
        "--machine",
        help="a machine profile JSON (default: this machine's cached one, else a quick measurement)",
    )
    p.add_argument("--level", default="op", help="model, module or op (default op: by op kind and by op)")
    p.add_argument("--depth", type=int, default=1, help="module depth for --level module (default 1)")
    p.add_argument(
        "--memory-level", default="dram", help="bandwidth roof the points are placed under (default dram)"
    )
    p.add_argument("--output", "-o", help="also write the chart: a .png, .svg or .html file")
    from nnperf.cli.kernels_cmd import add_kernels_args

    add_kernels_args(p)
    from nnperf.cli.hierarchical_cmd import add_hierarchical_args

    add_hierarchical_args(p)
    measured = p.add_mutually_exclusive_group()
    measured.add_argument(
        "--measure",
        action="store_true",
        help="also run the model (nnperf bench, with the profiler below model level) and add measured points",
    )
    measured.add_argument(
        "--run", dest="run_record", help="add measured points from a saved `nnperf bench -o` record"
    )
    p.set_defaults(run=_run_roofline)


def _run_roofline(args: argparse.Namespace) -> int:
    if args.kernels:
        from nnperf.cli.kernels_cmd import run_kernels

        return run_kernels(args)
    if args.ncu_record:
        from nnperf.cli.hierarchical_cmd import run_hierarchical

        return run_hierarchical(args)
    args.dtype = args.dtype or "fp32"
    from nnperf.analysis.roofline import ceilings_from_profile
    from nnperf.analysis.roofline_points import LEVELS, MEMORY_LEVELS, roofline_points, select_roofs
    from nnperf.errors import UsageError
    from nnperf.report.roofline_chart import CHART_SUFFIXES, roofline_table, write_chart

    # Cheap checks first: a typo must not cost a model analysis or a machine measurement.
    if not args.model:
        raise UsageError("give a MODEL to place on the roofline, or --kernels for the calibration kernels")
    if args.level not in LEVELS:
        raise UsageError(f"unknown roofline level {args.level!r}: use one of {', '.join(LEVELS)}")
    if args.memory_level not in MEMORY_LEVELS:
        raise UsageError(f"unknown memory level {args.memory_level!r}: use one of {', '.join(MEMORY_LEVELS)}")
    if args.mode not in ("infer", "train"):
        raise UsageError(f"unknown mode {args.mode!r}: use 'infer' or 'train'")
    if args.depth < 0:
        raise UsageError(f"module depth must be at least 0, got {args.depth}")
    if args.context is not None and (args.measure or args.run_record):
        raise UsageError("a decode step (--context) has estimated points only: drop --measure / --run")
    if args.output and not args.output.lower().endswith(CHART_SUFFIXES):
        raise UsageError(
            f"unknown chart format for {args.output!r}: use a file name ending in {', '.join(CHART_SUFFIXES)}"
        )
    ceilings = ceilings_from_profile(_roofline_profile(args.machine))
    select_roofs(ceilings, args.dtype, args.memory_level)  # a missing roof fails before the analysis
    result = _summarize(args)
    points = roofline_points(
        result,
        ceilings,
        level=args.level,
        depth=args.depth,
        dtype=args.dtype,
        memory_level=args.memory_level,
    )
    run = _roofline_run(args)
    if run is not None:
        from nnperf.analysis.roofline_measured import measured_points

        extra = measured_points(
            run,
            ceilings,
            level=args.level,
            depth=args.depth,
            dtype=args.dtype,
            memory_level=args.memory_level,
        )
        points.points.extend(extra.points)
        points.notes.extend(f"measured: {n}" for n in extra.notes)
    print(roofline_table(points))
    if args.output:
        path = write_chart(points, args.output)
        print(f"chart written to {path}", file=sys.stderr)
    return 0


def _roofline_run(args: argparse.Namespace):
    """The measured run for --measure (run now) or --run (a saved record), else None."""
    from nnperf.errors import UsageError

    if args.run_record:
        from nnperf.records.jsonio import read_record
        from nnperf.records.measurement import SCHEMA, SCHEMA_VERSION

        return read_record(args.run_record, SCHEMA, SCHEMA_VERSION)
    if not args.measure:
        return None
    from nnperf.measure.bench import measure
    from nnperf.models import parse_shape
    from nnperf.records.measurement import RunSpec

    spec = RunSpec(
        model=args.model, mode=args.mode, batch=args.batch, seq=args.seq, dtype=args.dtype, min_iters=5
    )
    print("nnperf: measuring the model (nnperf bench) for the measured points", file=sys.stderr)
    m = measure(
        spec,
        input=parse_shape(args.input) if args.input else None,
        profile=args.level != "model",
        peaks=False,
    )
    if not m.ok:
        raise UsageError(f"the measured run failed: {m.error}")
    return m.to_dict()


def _roofline_profile(path: str | None):
    """The --machine profile, else this machine's cached one, else a quick measurement (said on stderr)."""
    from nnperf.machine.probes import collect_probes, fingerprint
    from nnperf.machine.profile import load_cached, load_profile, machine_profile

    if path:
        return load_profile(path)
    cached = load_cached(fingerprint(collect_probes()))
    if cached is not None:
        return cached
    print(
        "nnperf: no machine profile cached for this machine: measuring a quick one (under a minute; "
        "`nnperf machine` measures the full one)",
        file=sys.stderr,
    )
    with _progress_bar() as progress:
        return machine_profile(refresh=True, quick=True, progress=progress)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.bench_cmd import add_bench

    add_bench(sub, _add_model_args, positive_int)


def _add_study(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.study_cmd import add_report, add_study

    add_study(sub)
    add_report(sub)


def _add_scale(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.scale_cmd import add_scale

    add_scale(sub)


def _add_predict(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.predict_cmd import add_predict

    add_predict(sub, _add_model_args, add_context_arg, _summarize, _roofline_profile)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.compare_cmd import add_compare

    add_compare(sub)


def _add_trace(sub: argparse._SubParsersAction) -> None:
    from nnperf.cli.trace_cmd import add_trace

    add_trace(sub)


COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_summary,
    _add_models,
    _add_machine,
    _add_demo,
    _add_roofline,
    _add_predict,
    _add_bench,
    _add_compare,
    _add_study,
    _add_trace,
    _add_scale,
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnperf", description="How a deep-learning model performs and why.")
    parser.add_argument("--version", action="version", version=f"nnperf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except NnperfError as exc:
        print(f"nnperf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnperf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
