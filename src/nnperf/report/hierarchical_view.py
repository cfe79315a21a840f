"""Views of a hierarchical roofline: a terminal table and a log-log chart (PNG or SVG).

The chart is the classic hierarchical roofline picture: each op is one row of points at its achieved FLOP/s,
one marker per memory level (L1 circle, L2 triangle, HBM square) at that level's intensity, joined by a thin
line; the roofs of the levels that have one, in the levels' colours. Table and chart show the same numbers.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from nnperf.errors import UsageError
from nnperf.units import fmt_bytes, fmt_flops, fmt_time

if TYPE_CHECKING:
    from nnperf.analysis.roofline_hierarchical import HierarchicalRoofline

CHART_SUFFIXES = (".png", ".svg")
_MARKERS = {"l1": "o", "l2": "^", "hbm": "s"}
_COLOURS = {"l1": "#2ca02c", "l2": "#ff7f0e", "hbm": "#1f77b4"}
_MAX_LABELS = 8


def _short(op: str) -> str:
    return op.removeprefix("aten::")


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def hierarchical_table(r: HierarchicalRoofline) -> str:
    from nnperf.analysis.roofline_hierarchical import LEVEL_NAMES, LEVELS

    roofs = ", ".join(
        f"{LEVEL_NAMES[b.level]} {fmt_bytes(b.bytes_per_s)}/s ({b.source})" for b in r.bandwidth
    )
    lines = [
        f"Hierarchical roofline of {r.device}, {r.dtype}: compute roof {fmt_flops(r.compute.flops_per_s)}FLOP/s "
        f"({r.compute.source}); bandwidth roofs: {roofs or 'none'}",
        "",
        f"{'op':28} {'time':>10} {'share':>6} {'FLOP/s':>10} "
        + " ".join(f"{'I ' + LEVEL_NAMES[lv]:>9}" for lv in LEVELS)
        + f" {'binds':>6} {'eff.':>6}  FLOPs from",
    ]
    for p in r.points:
        intens = []
        for lv in LEVELS:
            lp = p.level(lv)
            intens.append(f"{_num(lp.intensity if lp else None):>9}")
        lines.append(
            f"{_short(p.op)[:28]:28} {fmt_time(p.time_s):>10} {p.time_share:>6.1%} "
            f"{fmt_flops(p.achieved_flops_per_s):>10} " + " ".join(intens) + f" "
            f"{LEVEL_NAMES.get(p.binding_level or '', '-'):>6} "
            f"{'-' if p.efficiency is None else f'{p.efficiency:.0%}':>6}  {p.flops_source}"
        )
    lines.append("")
    lines.append("I = FLOPs per byte through that level; binds = the level whose roof allows the least.")
    lines.extend(f"note: {n}" for n in r.notes)
    lines.extend(f"not placed: {_short(op)}: {why}" for op, why in r.skipped)
    return "\n".join(lines)


def write_hierarchical_chart(r: HierarchicalRoofline, path: str | Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from nnperf.analysis.roofline_hierarchical import LEVEL_NAMES
    from nnperf.report.figures import roofline_axes

    path = Path(path)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(
            f"unknown chart format {path.suffix or '(none)'!r} in {str(path)!r}: use a file name ending in "
            + ", ".join(CHART_SUFFIXES)
        )
    peak = r.compute.flops_per_s
    xs = [lp.intensity for p in r.points for lp in p.levels if lp.intensity]
    xs += [peak / b.bytes_per_s for b in r.bandwidth]
    ys = [p.achieved_flops_per_s for p in r.points if p.achieved_flops_per_s > 0] + [peak]
    x_lo = 10 ** math.floor(math.log10(min(xs) / 3)) if xs else 0.01
    x_hi = 10 ** math.ceil(math.log10(max(xs) * 3)) if xs else 1000.0
    y_lo = 10 ** math.floor(math.log10(min(ys) / 3))
    y_hi = 10 ** math.ceil(math.log10(peak * 1.5))
    fig = Figure(figsize=(10, 6.5), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    roofline_axes(
        ax,
        (x_lo, x_hi, y_lo, y_hi),
        f"Hierarchical roofline: {r.device}, {r.dtype} (ncu)",
        xlabel="arithmetic intensity (FLOPs per byte through each memory level, measured by ncu)",
    )
    handles: list = []
    style = "-" if r.compute.source == "measured" else "--"
    steepest = max((b.bytes_per_s for b in r.bandwidth), default=None)
    x_start = max(x_lo, peak / steepest) if steepest else x_lo
    (line,) = ax.plot([x_start, x_hi], [peak, peak], style, color="#222222", linewidth=2)
    line.set_label(f"{r.compute.source} {r.dtype} peak {fmt_flops(peak)}FLOP/s")
    handles.append(line)
    for b in r.bandwidth:
        (line,) = ax.plot(
            [x_lo, peak / b.bytes_per_s],
            [x_lo * b.bytes_per_s, peak],
            "-" if b.source == "measured" else "--",
            color=_COLOURS.get(b.level, "#555555"),
            linewidth=1.5,
            label=f"{LEVEL_NAMES[b.level]} {fmt_bytes(b.bytes_per_s)}/s ({b.source})",
        )
        handles.append(line)
    for k, p in enumerate(r.points):
        pts = [(lp.intensity, lp.level) for lp in p.levels if lp.intensity]
        if not pts:
            continue
        y = p.achieved_flops_per_s
        ax.plot([x for x, _ in pts], [y] * len(pts), "-", color="#999999", linewidth=0.6, zorder=2)
        for x, level in pts:
            ax.scatter([x], [y], marker=_MARKERS[level], s=36, color=_COLOURS[level], edgecolors="black",
                       linewidths=0.4, zorder=3)  # fmt: skip
        if k < _MAX_LABELS:  # points are sorted by time: label the ones that matter
            ax.annotate(_short(p.op), (pts[0][0], y), xytext=(-5, 0), textcoords="offset points", ha="right",
                        va="center", fontsize=7)  # fmt: skip
    for level in ("l1", "l2", "hbm"):
        handles.append(Line2D([], [], marker=_MARKERS[level], linestyle="", color=_COLOURS[level],
                              label=f"op at {LEVEL_NAMES[level]} intensity"))  # fmt: skip
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(
        path,
        format=path.suffix.lower().lstrip("."),
        metadata={"Software": None} if path.suffix.lower() == ".png" else None,
    )
    return path
