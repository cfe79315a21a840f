"""Terminal text of a :class:`~nnperf.analysis.projection.Projection`: one row per target, then where the time
goes on each (op kinds' shares of the roofline time), then the notes."""

from __future__ import annotations

from nnperf.analysis.generation_projection import GenerationProjection, TargetGeneration
from nnperf.analysis.projection import Projection, TargetProjection
from nnperf.analysis.roofline import BandwidthRoof, ComputeRoof
from nnperf.report.text_table import text_table
from nnperf.units import fmt_bytes, fmt_count_short, fmt_time

_SOURCE = {"measured": "m", "nominal": "n"}
# Columns of the targets table; the right-aligned ones hold numbers.
_COLUMNS = (
    "target",
    "device",
    "compute roof",
    "memory roof",
    "ridge",
    "estimate",
    "roofline",
    "pass bound",
    "throughput",
    "speedup",
    "mem-bound",
    "memory needed / capacity",
)
_NUMERIC = {"ridge", "estimate", "roofline", "pass bound", "throughput", "speedup", "mem-bound"}
# Kinds below this share on every target are folded into "other" in the time-split table.
_MIN_KIND_SHARE = 0.01


def _roof(roof: ComputeRoof | BandwidthRoof) -> str:
    tag = _SOURCE.get(roof.source, roof.source)
    if isinstance(roof, ComputeRoof):
        return f"{roof.dtype} {_rate(roof.flops_per_s)}FLOP/s ({tag})"
    return f"{roof.level} {fmt_bytes(roof.bytes_per_s)}/s ({tag})"


def _rate(x: float) -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if x >= scale:
            return f"{x / scale:.3g} {prefix}"
    return f"{x:.3g} "


def _throughput(t: TargetProjection) -> str:
    if t.tokens_per_s is not None:
        return f"{fmt_count_short(t.tokens_per_s)} tok/s"
    return f"{fmt_count_short(t.samples_per_s)} samples/s"


def _speedup(x: float) -> str:
    return f"{x:,.0f}x" if x >= 100 else f"{x:.3g}x"


def _memory(t: TargetProjection) -> str:
    need = fmt_bytes(t.required_bytes)
    if not t.memory_bytes:
        return f"{need} / unknown"
    return f"{need} / {fmt_bytes(t.memory_bytes)}: {t.fits}"


def _compute(t: TargetProjection) -> str:
    text = _roof(t.compute_roof)
    if t.gemm_roof != t.compute_roof:
        text += f", GEMMs {_roof(t.gemm_roof)}"
    return text


def _cells(t: TargetProjection) -> dict[str, str]:
    return {
        "target": t.target,
        "device": t.device,
        "compute roof": _compute(t),
        "memory roof": _roof(t.bandwidth_roof),
        "ridge": f"{t.ridge_flops_per_byte:.3g}",
        "estimate": fmt_time(t.estimate_s),
        "roofline": fmt_time(t.roofline_s),
        "pass bound": fmt_time(t.pass_bound_s),
        "throughput": _throughput(t),
        "speedup": _speedup(t.speedup),
        "mem-bound": f"{100 * t.memory_bound_share:.0f}%",
        "memory needed / capacity": _memory(t),
    }


_PRICE_COLUMNS = ("$/hour", "$ per 1M")


def _price_cells(price: float | None, cost: float | None) -> dict[str, str]:
    return {
        "$/hour": "-" if price is None else f"{price:.3g}",
        "$ per 1M": "-" if cost is None else f"{cost:.3g}",
    }


def _cheapest(costs: list[tuple[str, str, float | None]], per: str) -> list[str]:
    """The line naming the cheapest priced target the work fits, when any target has a price."""
    priced = [(cost, name) for name, fits, cost in costs if cost is not None and fits != "no"]
    if not priced:
        return []
    cost, name = min(priced)
    return [f"cheapest: {name}, ${cost:.3g} per {per} (price per hour / 3600 / estimated rate)"]


def _kind_split(p: Projection) -> list[str]:
    """Op kinds as rows, targets as columns: each kind's share of that target's roofline time."""
    shares = [
        {k: v / t.roofline_s for k, v in t.by_kind_s.items()} if t.roofline_s > 0 else {} for t in p.targets
    ]
    kinds = [k for k in p.targets[0].by_kind_s if any(s.get(k, 0) >= _MIN_KIND_SHARE for s in shares)]
    kinds += sorted({k for s in shares for k, v in s.items() if v >= _MIN_KIND_SHARE} - set(kinds))
    header = ("op kind", *[t.target for t in p.targets])
    rows = [
        {
            "op kind": k,
            **{t.target: f"{100 * s.get(k, 0):.1f}%" for t, s in zip(p.targets, shares, strict=True)},
        }
        for k in kinds
    ]
    rest = [1 - sum(s.get(k, 0) for k in kinds) for s in shares]
    if any(r > 0.0005 for r in rest):
        rows.append(
            {
                "op kind": "other",
                **{t.target: f"{100 * r:.1f}%" for t, r in zip(p.targets, rest, strict=True)},
            }
        )
    return text_table(header, rows, set(header[1:]))


def projection_text(p: Projection) -> str:
    lines = [
        f"nnperf predict: {p.model}, {p.input}, {p.scope}, {p.dtype}: the step timed at each target's roofs",
        "estimate = sum over op calls of max(FLOPs / peak, bytes / bandwidth, measured per-call floor); "
        "roofline = the same without the floor; pass bound = the whole pass as one roofline point "
        "(perfect overlap). Roofs: (m) measured, (n) nominal spec sheet.",
        "",
    ]
    priced = any(t.price_per_hour is not None for t in p.targets)
    columns = (*_COLUMNS, *_PRICE_COLUMNS) if priced else _COLUMNS
    unit = "tokens" if p.targets and p.targets[0].tokens_per_s is not None else "samples"
    rows = [{**_cells(t), **_price_cells(t.price_per_hour, t.cost_per_million)} for t in p.targets]
    lines += text_table(columns, rows, _NUMERIC | set(_PRICE_COLUMNS))
    if p.best is not None:
        best = next(t for t in p.targets if t.target == p.best)
        lines += ["", f"best: {best.target} ({best.device}), {fmt_time(best.estimate_s)} per step"]
    lines += _cheapest([(t.target, t.fits, t.cost_per_million) for t in p.targets], f"1M {unit}")
    lines += ["", "share of the roofline time per op kind:"]
    lines += _kind_split(p)
    lines.append("")
    lines += [f"note: {n}" for n in p.notes]
    for t in p.targets:
        lines += _target_notes(t)
    return "\n".join(lines)


def _target_notes(t: TargetProjection) -> list[str]:
    """A target's notes, and the per-call floor it was timed with."""
    lines = [f"note: {t.target}: {n}" for n in t.notes]
    if t.call_overhead_s is not None:
        lines.append(
            f"note: {t.target}: per-call floor {fmt_time(t.call_overhead_s)} ({t.call_overhead_source})"
        )
    return lines


# ---- a whole generation -------------------------------------------------------------------------------------
_GEN_COLUMNS = (
    "target",
    "device",
    "compute roof",
    "memory roof",
    "first token",
    "per output token",
    "decode",
    "total",
    "tokens/s",
    "speedup",
    "memory needed / capacity",
)
_GEN_NUMERIC = {"first token", "per output token", "decode", "total", "tokens/s", "speedup"}


def _per_token(t: TargetGeneration) -> str:
    d = t.decode
    if not d.steps:
        return "-"
    if fmt_time(d.first_s) == fmt_time(d.last_s):
        return fmt_time(d.first_s)
    return f"{fmt_time(d.first_s)} -> {fmt_time(d.last_s)}"


def _gen_cells(t: TargetGeneration) -> dict[str, str]:
    p = t.prefill
    return {
        "target": p.target,
        "device": p.device,
        "compute roof": _compute(p),
        "memory roof": _roof(p.bandwidth_roof),
        "first token": fmt_time(p.estimate_s),
        "per output token": _per_token(t),
        "decode": fmt_time(t.decode.total_s) if t.decode.steps else "-",
        "total": fmt_time(t.total_s),
        "tokens/s": fmt_count_short(t.tokens_per_s),
        "speedup": _speedup(t.speedup),
        "memory needed / capacity": _memory(p),
    }


def generation_text(g: GenerationProjection) -> str:
    steps = g.generate - 1
    lines = [
        f"nnperf predict: {g.model}, batch {g.batch}, {g.prompt}-token prompt + {g.generate} generated tokens, "
        f"{g.dtype}, {g.cache} KV cache: the generation timed at each target's roofs",
        f"first token = the prefill of the prompt; then {steps} decode step(s), one per further token, at the "
        "context each sees; every op call at max(FLOPs / peak, bytes / bandwidth, per-call floor). tokens/s = "
        f"batch x generated / total. KV cache at the end: {fmt_bytes(g.kv_cache_bytes)}. Roofs: (m) measured, "
        "(n) nominal spec sheet.",
        "",
    ]
    priced = any(t.price_per_hour is not None for t in g.targets)
    columns = (*_GEN_COLUMNS, *_PRICE_COLUMNS) if priced else _GEN_COLUMNS
    rows = [{**_gen_cells(t), **_price_cells(t.price_per_hour, t.cost_per_million)} for t in g.targets]
    lines += text_table(columns, rows, _GEN_NUMERIC | set(_PRICE_COLUMNS))
    if g.best is not None:
        best = next(t for t in g.targets if t.target == g.best)
        lines += ["", f"best: {best.target} ({best.prefill.device}), {fmt_time(best.total_s)} in all"]
    lines += _cheapest(
        [(t.target, t.prefill.fits, t.cost_per_million) for t in g.targets], "1M generated tokens"
    )
    lines += ["", "share of the time at the roofs in memory-bound ops:"]
    lines += text_table(
        ("target", "prefill", "decode"),
        [
            {
                "target": t.target,
                "prefill": f"{100 * t.prefill.memory_bound_share:.0f}%",
                "decode": f"{100 * t.decode.memory_bound_share:.0f}%" if t.decode.steps else "-",
            }
            for t in g.targets
        ],
        {"prefill", "decode"},
    )
    lines.append("")
    lines += [f"note: {n}" for n in g.notes]
    for t in g.targets:
        lines += _target_notes(t.prefill)
    return "\n".join(lines)
