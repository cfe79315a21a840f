"""``nnperf bench MODEL --prompt P --generate N``: a measured generation beside its roofline estimate."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nnperf.errors import UsageError

# bench options a generation does not take, with what they are for (a generation is its own protocol).
_NOT_FOR_GENERATION = (
    ("seq", "--seq"),
    ("context", "--context"),
    ("input", "--input"),
    ("autocast", "--autocast"),
    ("compile", "--compile"),
    ("jit", "--jit"),
    ("channels_last", "--channels-last"),
    ("perf", "--perf"),
    ("profile", "--profile"),
    ("trace", "--trace"),
    ("ncu", "--ncu"),
)


def add_generation_args(p: argparse.ArgumentParser, positive_int: Any) -> None:
    p.add_argument(
        "--prompt", type=positive_int, help="measure a whole generation (causal LMs): the prompt's tokens"
    )
    p.add_argument(
        "--generate",
        type=positive_int,
        help="tokens to generate after the prompt: time to first token, per output token, total",
    )
    p.add_argument(
        "--repeats", type=positive_int, default=3, help="timed generations with --generate (default 3)"
    )


def wants_generation(args: argparse.Namespace) -> bool:
    return args.prompt is not None or args.generate is not None


def _check(args: argparse.Namespace) -> None:
    if args.prompt is None or args.generate is None:
        raise UsageError(
            "a generation needs both --prompt N (its tokens) and --generate N (tokens to generate)"
        )
    if args.mode != "infer":
        raise UsageError("a generation is inference only: drop --mode train")
    for attr, flag in _NOT_FOR_GENERATION:
        if getattr(args, attr, None):
            raise UsageError(f"a generation is timed as generate() runs it: drop {flag}")
    if args.data != "synthetic":
        raise UsageError("a generation runs on random prompt tokens: drop --data")


def _estimate(args: argparse.Namespace, device: str) -> tuple[Any, str | None]:
    """The generation projected onto this machine's cached profile, or why there is none (never measures)."""
    if args.no_predict:
        return None, "--no-predict: no estimate"
    from nnperf.analysis.generation_projection import project_generation
    from nnperf.machine.probes import collect_probes, fingerprint
    from nnperf.machine.profile import load_cached
    from nnperf.machine.targets import target_from_profile
    from nnperf.static.generation import analyse_generation

    profile = load_cached(fingerprint(collect_probes()))
    if profile is None:
        return None, "no machine profile cached: run `nnperf machine` to set the estimate at its roofs beside"
    which = "gpu" if device.startswith("cuda") else "cpu"
    target = target_from_profile(profile, which, f"this machine ({which})")
    gen = analyse_generation(
        args.model, prompt=args.prompt, generate=args.generate, batch=args.batch, dtype=args.dtype
    )
    return project_generation(gen, [target]).targets[0], None


def _text(d: dict[str, Any], estimate: Any, why: str | None) -> str:
    from nnperf.report.text_table import text_table
    from nnperf.units import fmt_time

    s, t = d["spec"], d["time_s"]
    lines = [
        f"nnperf bench: {s['model']} generation, batch {s['batch']}, {s['prompt']}-token prompt + {s['generate']} "
        f"tokens, {s['dtype']} on {s['device']} ({s['repeats']} timed, {s['warmup']} warm-up)",
        "",
    ]
    header = ("", "measured (median)", "IQR/median", "estimate at the roofs", "measured / estimate")
    rows: list[dict[str, str]] = []

    def row(name: str, measured: float | None, spread: float | None, est: float | None) -> None:
        ratio = f"{measured / est:.2f}x" if measured and est else "-"
        spread_text = f"{100 * spread:.1f}%" if isinstance(spread, int | float) else "-"
        rows.append(
            dict(zip(header, (name, fmt_time(measured), spread_text, fmt_time(est), ratio), strict=True))
        )

    e = estimate
    row(
        "time to first token",
        t["first_token"]["median"],
        t["first_token"]["spread"],
        e and e.prefill.estimate_s,
    )
    per = t["per_output_token"] or {}
    row("per output token", per.get("median"), per.get("spread"), e and e.decode.mean_s)
    row("  first decode step", t["first_step"], None, e and (e.decode.first_s if e.decode.steps else None))
    row("  last decode step", t["last_step"], None, e and (e.decode.last_s if e.decode.steps else None))
    row("total", t["total"]["median"], t["total"]["spread"], e and e.total_s)
    lines += text_table(header, rows, set(header[1:]))
    tp = d["throughput"]
    lines += [
        "",
        f"throughput: {tp['tokens_per_s']:.4g} tokens/s over the whole generation"
        + (f", {tp['decode_tokens_per_s']:.4g} tokens/s while decoding" if tp["decode_tokens_per_s"] else ""),
    ]
    if e is not None:
        p = e.prefill
        lines.append(
            f"estimate: {p.target} roofs {p.compute_roof.dtype} {p.compute_roof.flops_per_s / 1e9:.4g} GFLOP/s "
            f"({p.compute_roof.source}), {p.bandwidth_roof.level} {p.bandwidth_roof.bytes_per_s / 1e9:.4g} GB/s "
            f"({p.bandwidth_roof.source}); a lower bound (nnperf predict's method)"
        )
    elif why:
        lines.append(f"estimate: {why}")
    lines += [f"note: {n}" for n in d["notes"]]
    return "\n".join(lines)


def run_generation_bench(args: argparse.Namespace) -> int:
    from nnperf.measure.generation import GenerationSpec, measure_generation
    from nnperf.records.jsonio import write_record

    _check(args)
    spec = GenerationSpec(
        model=args.model,
        prompt=args.prompt,
        generate=args.generate,
        batch=args.batch,
        dtype=args.dtype,
        device=args.device,
        threads=args.threads,
        warmup=args.warmup if args.warmup is not None else 1,
        repeats=args.repeats,
    )
    m = measure_generation(spec)
    estimate, why = _estimate(args, args.device)
    data = m.to_dict()
    data["estimate"] = estimate.to_dict() if estimate is not None else None
    if args.output:
        write_record(args.output, data)
        print(f"record written to {args.output}", file=sys.stderr)
    print(json.dumps(data, indent=2) if args.format == "json" else _text(data, estimate, why))
    return 0
