"""Views of a trace analysis (:class:`nnperf.analysis.trace.TraceReport`): terminal text, Markdown, one
self-contained HTML page, and a study-report section. All are built from the same blocks
(:func:`report_blocks`), so they show the same numbers. Reads the report; never measures.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nnperf.units import fmt_time

if TYPE_CHECKING:
    from nnperf.analysis.trace import CriticalPath, OpTime, RankReport, TraceReport

CATEGORY_COLOURS: dict[str, str] = {
    "compute": "#1f77b4",
    "data loading": "#8c564b",
    "optimizer": "#2ca02c",
    "communication": "#9467bd",
    "memcpy": "#ff7f0e",
    "sync": "#d62728",
    "idle": "#dddddd",
}
_MAX_PATH_RUNS = 24  # rows of the critical-path listing (consecutive spans on one lane are one row)
_NAME_WIDTH = 60


# ---- blocks --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: tuple[int, ...] = ()  # right-aligned (numeric) columns


Block = Heading | Para | Items | Grid


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _time_share(seconds: float, share: float) -> str:
    return f"{fmt_time(seconds)} {_pct(share)}" if seconds > 0 else "-"


def _count(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def _rate(x: float | None) -> str:
    from nnperf.units import fmt_flops

    return "-" if x is None else f"{fmt_flops(x)}FLOP/s"


def short_name(name: str, width: int = _NAME_WIDTH) -> str:
    """A kernel's C++ signature cut to its function name ('void ns::kernel<4, ...>(...)' -> 'ns::kernel<...>')."""
    s = name.removeprefix("void ").replace("(anonymous namespace)::", "")
    cut = min((i for i in (s.find("<"), s.find("(")) if i > 0), default=-1)
    if cut > 0 and len(s) > width:
        s = s[:cut] + ("<...>" if s[cut] == "<" else "(...)")
    return s if len(s) <= width else s[: width - 3] + "..."


def _runs(path: CriticalPath) -> list[tuple[str, str, float, float, float, list[str]]]:
    """Consecutive path segments on one lane merged: (lane, categories, start, end, busy, names)."""
    runs: list[tuple[str, str, float, float, float, list[str]]] = []
    for s in path.segments:
        name = short_name(s.name, 40)
        if runs and runs[-1][0] == s.lane:
            lane, cats, start, _, busy, names = runs[-1]
            if s.category not in cats.split(", "):
                cats += f", {s.category}"
            if name not in names:
                names.append(name)
            runs[-1] = (lane, cats, start, s.end_s, busy + s.end_s - s.start_s, names)
        else:
            runs.append((s.lane, s.category, s.start_s, s.end_s, s.end_s - s.start_s, [name]))
    return runs


def _op_rows(ops: Sequence[OpTime], gpu: bool) -> Grid:
    costed = any(o.costed_as for o in ops)  # the roofline columns only when static costs were joined
    headers = ["kernel" if gpu else "op", "calls", "time" if gpu else "self time", "% step"]
    if gpu:
        headers.append("launched by")
    if costed:
        headers += ["costed as", "roofline", "efficiency"]
    rows = []
    for o in ops:
        row = [short_name(o.name), _count(o.calls_per_step), fmt_time(o.time_s), _pct(o.share)]
        if gpu:
            row.append(o.launched_by or "-")
        if costed:
            row += [o.costed_as or "-", o.bound or "-", _pct(o.efficiency)]
        rows.append(tuple(row))
    return Grid(tuple(headers), tuple(rows), right=(1, 2, 3, len(headers) - 1) if costed else (1, 2, 3))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _rank_blocks(r: RankReport, steps: bool, several: bool, top: int) -> list[Block]:
    from nnperf.analysis.trace import CATEGORIES

    v = r.variation
    title = f"{r.label}: {r.source}" if several else r.source
    out: list[Block] = [
        Heading(title, 2),
        Para(
            f"Device: {r.device}. Steps: {v.steps} ({r.step_marker} on {r.step_thread}); mean step "
            f"{fmt_time(v.mean_s)}, median {fmt_time(v.median_s)}, CV {_pct(v.cv)}."
        ),
    ]
    if r.findings:
        first = r.findings[0]
        out.append(
            Para(f"Cause: {first.cause} ({_pct(first.share)} of the step time). {_sentence(first.message)}")
        )
    else:
        out.append(
            Para(
                "Cause: none stands out (no cause reaches 5% of the step time): the time goes to the ops themselves."
            )
        )

    used = [c for c in CATEGORIES if any(lane.seconds[c] > 0 for lane in r.lanes)]
    out.append(Heading("Time per step by thread and stream (mean; share of the step)", 3))
    out.append(
        Grid(
            ("lane", *used),
            tuple(
                (lane.lane, *(_time_share(lane.seconds[c], lane.shares[c]) for c in used)) for lane in r.lanes
            ),
            right=tuple(range(1, len(used) + 1)),
        )
    )
    if r.gpu_idle_share:
        out.append(
            Para(
                "GPU idle (no stream busy): "
                + ", ".join(f"{k} {_pct(x)} of the step" for k, x in r.gpu_idle_share.items())
                + "."
            )
        )
    if r.idle:
        out.append(Heading("Idle and waiting time, by what it waits for", 3))
        out.append(
            Grid(
                ("who", "waits for", "per step", "% step"),
                tuple((i.subject, i.cause, fmt_time(i.seconds_per_step), _pct(i.share)) for i in r.idle),
                right=(2, 3),
            )
        )
    out.append(Heading("Findings (causes over 5% of the step time, largest first)", 3))
    if r.findings:
        for n, f in enumerate(r.findings, 1):
            out.append(
                Para(
                    f"{n}. {f.cause}: {_pct(f.share)} ({fmt_time(f.seconds_per_step)} per step). {_sentence(f.message)}"
                )
            )
            out.append(Items(f.advice))
    else:
        out.append(Para("None."))
    out.append(
        Heading(f"Top ops by self time (CPU, per step; data-loader stall share {_pct(r.stall_share)})", 3)
    )
    out.append(_op_rows(r.top_ops, gpu=False) if r.top_ops else Para("No CPU ops in the steps."))
    if r.top_kernels:
        out.append(Heading("Top GPU kernels and copies (per step)", 3))
        out.append(_op_rows(r.top_kernels, gpu=True))
    if r.costed_ops:
        from nnperf.units import fmt_flops

        out.append(
            Heading("Costed ops by time (static FLOPs and minimum bytes joined by op name, per step)", 3)
        )
        out.append(
            Grid(
                ("op", "calls", "time", "FLOPs", "FLOP/B", "achieved", "roofline", "efficiency"),
                tuple(
                    (
                        c.name,
                        _count(c.calls_per_step),
                        f"{fmt_time(c.time_s)} ({c.time_source})",
                        "-" if c.flops is None else fmt_flops(c.flops) + ("+" if c.uncounted_calls else ""),
                        "-" if c.intensity is None else f"{c.intensity:.3g}",
                        _rate(c.achieved_flops_per_s),
                        c.bound or "-",
                        _pct(c.efficiency),
                    )
                    for c in r.costed_ops[:top]
                ),
                right=(1, 2, 3, 4, 5, 7),
            )
        )
        if len(r.costed_ops) > top:
            out.append(Para(f"... and {len(r.costed_ops) - top} more costed ops (--top, or --format json)."))
    cp = r.critical_path
    out.append(Heading("Critical path (see nnperf.analysis.critical_path for the definition)", 3))
    out.append(
        Para(
            f"Mean per step: {fmt_time(cp.length_s)} busy along the path, over a {fmt_time(cp.span_s)} span of a "
            f"{fmt_time(v.mean_s)} step. By lane: "
            + ", ".join(f"{k} {fmt_time(x)}" for k, x in sorted(cp.by_lane.items(), key=lambda kv: -kv[1]))
            + ". By category: "
            + ", ".join(
                f"{k} {fmt_time(x)}" for k, x in sorted(cp.by_category.items(), key=lambda kv: -kv[1])
            )
            + "."
        )
    )
    runs = _runs(cp)
    rows = tuple(
        (
            f"{fmt_time(a)} - {fmt_time(b)}",
            lane,
            cats,
            fmt_time(busy),
            ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else ""),
        )
        for lane, cats, a, b, busy, names in runs[:_MAX_PATH_RUNS]
    )
    out.append(Para("The median step's path (consecutive spans on one lane merged):"))
    out.append(Grid(("when", "lane", "category", "busy", "what"), rows, right=(3,)))
    if len(runs) > _MAX_PATH_RUNS:
        out.append(Para(f"... and {len(runs) - _MAX_PATH_RUNS} more runs (--format json lists every span)."))
    if v.steps >= 2:
        why = f"; {v.slowest_cause}" if v.slowest_cause else ""
        out.append(
            Para(
                f"Variation: min {fmt_time(v.min_s)}, max {fmt_time(v.max_s)}, standard deviation "
                f"{fmt_time(v.stdev_s)}; slowest step {v.slowest_step}: {v.slowest_ratio:.2f}x the median{why}."
            )
        )
    if steps:
        out.append(Heading("Steps", 3))
        out.append(
            Grid(
                (
                    "#",
                    "name",
                    "time",
                    "step thread: busy / data / sync",
                    "GPU idle",
                    "stall",
                    "critical path",
                ),
                tuple(
                    (
                        str(s.index),
                        s.name,
                        fmt_time(s.duration_s),
                        " / ".join(
                            fmt_time(x)
                            for x in (
                                s.duration_s - s.lanes[r.step_thread]["idle"],
                                s.lanes[r.step_thread]["data loading"],
                                s.lanes[r.step_thread]["sync"],
                            )
                        ),
                        ", ".join(fmt_time(x) for x in s.device_idle_s.values()) or "-",
                        fmt_time(s.stall_s),
                        fmt_time(s.critical_path.length_s),
                    )
                    for s in r.steps
                ),
                right=(0, 2, 4, 5, 6),
            )
        )
    return out


def report_blocks(report: TraceReport, *, steps: bool = False) -> list[Block]:
    several = len(report.ranks) > 1
    blocks: list[Block] = []
    for r in report.ranks:
        top = max(len(r.top_ops), len(r.top_kernels), 1)  # the costed table as long as the top-op tables
        blocks.extend(_rank_blocks(r, steps, several, top))
    if report.rank_times:
        blocks.append(Heading("Ranks", 2))
        blocks.append(
            Grid(
                ("rank", "steps", "median step", "communication", "work", "work / median rank"),
                tuple(
                    (
                        str(t.rank),
                        str(t.steps),
                        fmt_time(t.step_s),
                        fmt_time(t.communication_s),
                        fmt_time(t.work_s),
                        f"{t.ratio:.2f}",
                    )
                    for t in report.rank_times
                ),
                right=(0, 1, 2, 3, 4, 5),
            )
        )
        if report.stragglers:
            for f in report.stragglers:
                blocks.append(Para(_sentence(f.message)))
                blocks.append(Items(f.advice))
        else:
            blocks.append(Para("No straggler: every rank works within 10% of the median rank."))
    if report.warnings:
        blocks.append(Heading("Notes", 3))
        blocks.append(Items(report.warnings))
    return blocks


# ---- renderings ----------------------------------------------------------------------------------------------
def _text_grid(g: Grid) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in g.rows)) if g.rows else len(h) for i, h in enumerate(g.headers)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in g.right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(g.headers), "  ".join("-" * w for w in widths), *(line(r) for r in g.rows)]


def render_text(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            if lines:
                lines.append("")
            lines.append(b.text)
            if b.level <= 2:
                lines.append("=" * min(len(b.text), 100))
        elif isinstance(b, Para):
            lines.append(b.text)
        elif isinstance(b, Items):
            lines.extend(f"  - {item}" for item in b.items)
        else:
            lines.extend(_text_grid(b))
    return "\n".join(lines)


def _md(text: str) -> str:
    """Markdown-safe text: op names hold underscores and asterisks (aten::_foreach_add_, __next__)."""
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*").replace("|", "\\|")


def render_markdown(blocks: Sequence[Block], base_level: int = 2) -> str:
    """Markdown; a Heading of level n becomes a heading of level n + base_level - 2."""
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append("#" * (b.level + base_level - 2) + " " + _md(b.text))
        elif isinstance(b, Para):
            parts.append(_md(b.text))
        elif isinstance(b, Items):
            parts.append("\n".join(f"- {_md(item)}" for item in b.items))
        else:
            align = ["---:" if i in b.right else "---" for i in range(len(b.headers))]
            rows = [b.headers, tuple(align), *b.rows]
            parts.append("\n".join("| " + " | ".join(_md(c) for c in r) + " |" for r in rows))
    return "\n\n".join(parts)


def trace_text(report: TraceReport, *, steps: bool = False) -> str:
    return render_text(report_blocks(report, steps=steps))


def trace_section(report: TraceReport) -> tuple[str, str]:
    """A study-report section: (title, Markdown body whose headings start at level 3)."""
    return "Trace analysis", render_markdown(report_blocks(report), base_level=3)


def _html_block(b: Block) -> str:
    esc = html.escape
    if isinstance(b, Heading):
        return f"<h{b.level}>{esc(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{esc(b.text)}</p>"
    if isinstance(b, Items):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>"
    head = "".join(f"<th>{esc(h)}</th>" for h in b.headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if i in b.right else ''}>{esc(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in b.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;font-size:90%}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f3f3f3}img{max-width:100%}"
)


def trace_html(report: TraceReport, *, steps: bool = False) -> str:
    """One self-contained page: the tables and, per rank, a figure embedded as a base64 PNG."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>nnperf trace</title>',
        f"<style>{_CSS}</style></head><body>",
        "<h1>nnperf trace analysis</h1>",
    ]
    for r in report.ranks:
        png = base64.b64encode(trace_figure(r)).decode("ascii")
        alt = f"time per step by lane, critical path of the median step and step times of {r.label}"
        parts.append(f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{png}"></p>')
    parts.extend(_html_block(b) for b in report_blocks(report, steps=steps))
    parts.append("</body></html>")
    return "\n".join(parts)


def trace_figure(r: RankReport) -> bytes:
    """PNG: the lanes' mean breakdown per step, the median step's critical path, the step times."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from nnperf.analysis.trace import CATEGORIES

    lanes = [lane.lane for lane in r.lanes]
    height = 3.0 + 0.35 * len(lanes) * 2
    fig = Figure(figsize=(11, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1, height_ratios=[max(len(lanes), 1), max(len(lanes), 1), 2])
    scale, unit = (1e3, "ms") if r.variation.mean_s < 2 else (1.0, "s")
    for y, lane in enumerate(r.lanes):
        left = 0.0
        for c in CATEGORIES:
            w = lane.seconds[c] * scale
            if w > 0:
                ax1.barh(y, w, left=left, color=CATEGORY_COLOURS[c], edgecolor="white", linewidth=0.5)
                left += w
    ax1.set_yticks(range(len(lanes)), [short_name(x, 30) for x in lanes])
    ax1.invert_yaxis()
    ax1.set_xlabel(f"mean time per step ({unit})")
    ax1.set_title("Time per step by thread and stream")
    ax1.legend(
        handles=[Patch(color=CATEGORY_COLOURS[c], label=c) for c in CATEGORIES],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize="small",
    )
    row = {lane: i for i, lane in enumerate(lanes)}
    for s in r.critical_path.segments:
        y = row.setdefault(s.lane, len(row))
        ax2.barh(
            y,
            (s.end_s - s.start_s) * scale,
            left=s.start_s * scale,
            color=CATEGORY_COLOURS.get(s.category, "#999999"),
            edgecolor="black",
            linewidth=0.4,
        )
    ax2.set_yticks(range(len(row)), [short_name(x, 30) for x in row])
    ax2.invert_yaxis()
    ax2.set_xlabel(f"time from the step's start ({unit})")
    ax2.set_title(
        f"Critical path of the median step (mean over steps: {fmt_time(r.critical_path.length_s)} busy)"
    )
    times = [s.duration_s * scale for s in r.steps]
    ax3.bar(range(len(times)), times, color="#1f77b4")
    ax3.axhline(r.variation.median_s * scale, color="black", linewidth=0.8, linestyle="--", label="median")
    ax3.set_xticks(range(len(times)))
    ax3.set_xlabel("step")
    ax3.set_ylabel(unit)
    ax3.set_title(f"Step times (CV {_pct(r.variation.cv)})")
    ax3.legend(fontsize="small")
    buf = io.BytesIO()
    # No "Software" chunk: matplotlib writes its home page there, and the page holds no URL.
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
