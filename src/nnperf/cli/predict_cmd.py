"""``nnperf predict MODEL --on cpu,h100-sxm5-80gb,lab.json``: a step's time at the roofs of several machines."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from nnperf.cli.args import add_cache_arg, positive_int


def add_predict(
    sub: argparse._SubParsersAction,
    add_model_args: Callable[..., None],
    add_context_arg: Callable[[argparse.ArgumentParser], None],
    summarize: Callable[..., Any],
    this_profile: Callable[[str | None], Any],
) -> None:
    p = sub.add_parser(
        "predict",
        help="project a model's static costs onto machines: estimated step time, throughput, memory fit",
        description="Times the static analysis's op calls at the roofs of each target (this machine's measured "
        "ones, a saved machine profile, or a spec-sheet GPU) and says which serves the model best. The figures "
        "are lower bounds from one stated method; `nnperf bench` measures a real run.",
    )
    add_model_args(p, optional=True)  # --list-cards needs no model
    add_context_arg(p)
    add_cache_arg(p)
    p.add_argument(
        "--on",
        help="comma-separated targets: cpu, gpu (this machine's), a card (e.g. h100-sxm5-80gb, "
        "a100-sxm4-40gb, l4; see --list-cards), or FILE.json[:cpu|:gpu] (a saved machine profile). Default: cpu, and gpu when this machine has one",
    )
    p.add_argument(
        "--dtype", default="fp32", help="fp32 (default), bf16, fp16 or fp64: the pass and its roof"
    )
    p.add_argument("--mode", choices=("infer", "train"), default="infer", help="inference or a training step")
    p.add_argument(
        "--autocast",
        choices=("bf16", "fp16"),
        help="mixed precision: forward and loss under autocast, timed at that dtype's roof",
    )
    p.add_argument(
        "--tf32", action="store_true", help="fp32 GEMMs (conv, matmul, attention) at GPUs' TF32 roof"
    )
    p.add_argument(
        "--assume-floor-us",
        type=float,
        help="a per-op-call floor in microseconds for targets without a measured one (e.g. 5 for a GPU kernel "
        "launch); labelled assumed",
    )
    p.add_argument(
        "--prompt",
        type=positive_int,
        help="a whole generation (causal LMs): the prompt's tokens (with --generate; replaces --seq/--context)",
    )
    p.add_argument(
        "--generate",
        type=positive_int,
        help="tokens generated after the prompt: time to first token, per output token, total, tokens/s",
    )
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")
    p.add_argument("--output", "-o", help="also write the chart: a .png or .svg file")
    p.add_argument(
        "--price",
        help="what each target costs per hour, e.g. h100-sxm5-80gb=2.9,l4=0.8: adds the cost of a million "
        "samples (or tokens) at the estimated rate",
    )
    p.add_argument(
        "--list-cards", action="store_true", help="list the spec-sheet GPUs --on can name, and stop"
    )
    p.set_defaults(run=lambda args: run_predict(args, summarize, this_profile))


def run_predict(
    args: argparse.Namespace,
    summarize: Callable[..., Any],
    this_profile: Callable[[str | None], Any],
) -> int:
    from nnperf.analysis.projection import check_targets, project
    from nnperf.errors import UsageError
    from nnperf.machine.targets import assume_floor, card_names, find_card, parse_targets
    from nnperf.models.inputs import parse_dtype
    from nnperf.report.projection_view import projection_text

    if args.list_cards:
        for name in card_names():
            card = find_card(name)
            print(f"{name:24s} {card['model']}: {card['source']}")
        return 0
    if not args.model:
        raise UsageError("give a MODEL to project, e.g. `nnperf predict resnet50 --on cpu,h100-sxm5-80gb`")
    generation = _generation_args(args)
    if args.output:
        from nnperf.report.projection_chart import check_chart_path

        check_chart_path(args.output)
    # Targets first: a typo in --on must not cost a model analysis.
    if args.assume_floor_us is not None and not 0 <= args.assume_floor_us < 1e6:
        raise UsageError(
            f"--assume-floor-us {args.assume_floor_us:g} is not a per-call time in microseconds: use e.g. 5"
        )
    targets = parse_targets(args.on or _this_machine(), lambda: this_profile(None))
    prices = parse_prices(args.price, [t.name for t in targets]) if args.price else {}
    if args.assume_floor_us is not None:
        targets = [assume_floor(t, args.assume_floor_us * 1e-6) for t in targets]
    check_targets(targets, args.autocast or parse_dtype(args.dtype), tf32=args.tf32)
    if generation is not None:
        if args.autocast:
            raise UsageError("a generation runs in one --dtype: drop --autocast (use --dtype bf16)")
        return _run_generation(args, targets, prices, *generation)
    projection = project(summarize(args, autocast=args.autocast), targets, tf32=args.tf32)
    for t in projection.targets:
        t.price_per_hour = prices.get(t.target)
    print(
        json.dumps(projection.to_dict(), indent=2) if args.format == "json" else projection_text(projection)
    )
    _chart(args, projection)
    return 0


def _chart(args: argparse.Namespace, projection: Any) -> None:
    if args.output:
        import sys

        from nnperf.report.projection_chart import write_projection_chart

        print(f"chart written to {write_projection_chart(projection, args.output)}", file=sys.stderr)


def _generation_args(args: argparse.Namespace) -> tuple[int, int] | None:
    """(prompt, generate) when a whole generation is asked for; a usage error when half of it or a clash."""
    from nnperf.errors import UsageError

    if args.prompt is None and args.generate is None:
        return None
    if args.prompt is None or args.generate is None:
        raise UsageError(
            "a generation needs both --prompt N (its tokens) and --generate N (tokens to generate)"
        )
    for flag, value in (("--seq", args.seq), ("--context", args.context), ("--input", args.input)):
        if value is not None:
            raise UsageError(f"--prompt/--generate set the tokens of every step: drop {flag}")
    if args.mode != "infer":
        raise UsageError("a generation is inference only: drop --mode train")
    return args.prompt, args.generate


def _run_generation(
    args: argparse.Namespace, targets: list, prices: dict[str, float], prompt: int, generate: int
) -> int:
    from nnperf.analysis.generation_projection import project_generation
    from nnperf.report.projection_view import generation_text
    from nnperf.static.generation import analyse_generation

    gen = analyse_generation(
        args.model,
        prompt=prompt,
        generate=generate,
        batch=args.batch,
        dtype=args.dtype,
        cache=args.cache or "dynamic",
    )
    projection = project_generation(gen, targets, tf32=args.tf32)
    for t in projection.targets:
        t.price_per_hour = prices.get(t.target)
    print(
        json.dumps(projection.to_dict(), indent=2) if args.format == "json" else generation_text(projection)
    )
    _chart(args, projection)
    return 0


def _this_machine() -> str:
    """The default targets: this machine's CPU, and its GPU when torch sees one."""
    import torch

    return "cpu,gpu" if torch.cuda.is_available() else "cpu"


def parse_prices(text: str, targets: list[str]) -> dict[str, float]:
    """``"h100-sxm5-80gb=2.9,l4=0.8"`` -> {target: dollars per hour}; every name must be one of ``targets``."""
    from nnperf.errors import UsageError

    prices: dict[str, float] = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        name, sep, value = item.rpartition("=")
        try:
            price = float(value) if sep else -1.0
        except ValueError:
            price = -1.0
        if not name or price <= 0 or price != price or price == float("inf"):
            raise UsageError(
                f"--price {item!r}: give TARGET=DOLLARS_PER_HOUR with a positive price, e.g. l4=0.8"
            )
        if name not in targets:
            raise UsageError(
                f"--price names {name!r}, which is not in --on ({', '.join(targets)}): price those"
            )
        prices[name] = price
    return prices
