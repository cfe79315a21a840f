"""Roofline views of :class:`~nnperf.analysis.roofline_points.RooflinePoints`: a terminal table, a log-log
chart (PNG or SVG through matplotlib) and a self-contained interactive HTML page (hand-written inline SVG,
hover tooltips from ``<title>`` elements, no script and no external asset).

All three take their numbers from :func:`point_cells`, so the table, the tooltips and the chart's labels
show the same figures. Estimated points sit *on* the roof (their attainable rate); measured points, once
the measurement engine exists, will sit below it.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import TYPE_CHECKING

from nnperf.errors import UsageError
from nnperf.units import fmt_bytes, fmt_flops, fmt_time

if TYPE_CHECKING:
    from nnperf.analysis.roofline import BandwidthRoof, ComputeRoof
    from nnperf.analysis.roofline_points import RooflinePoint, RooflinePoints

CHART_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".html")
BOUND_COLOURS = {"memory": "#1f77b4", "compute": "#d62728", "below both roofs": "#7f7f7f"}
LEVEL_COLOURS = {"l1": "#2ca02c", "l2": "#9467bd", "l3": "#8c564b", "dram": "#1f77b4", "hbm": "#17becf"}
_PHASE_SHORT = {"forward": "fwd", "loss": "loss", "backward": "bwd", "optimizer": "opt"}
# Points labelled on the static chart: the largest by time share (the HTML shows every label on hover).
_MAX_LABELS = 12
_MIN_LABEL_SHARE = 0.005


# ---- shared cells -------------------------------------------------------------------------------------------
def point_name(p: RooflinePoint) -> str:
    """A short, unique-within-its-group name: aten's overload suffix dropped, the phase in training."""
    name = p.label
    if p.group == "op" and name.startswith("aten."):
        name = name.removeprefix("aten.").removesuffix(".default")
    if p.phase not in ("all", "forward") or (p.scope == "training step" and p.level != "model"):
        name += f" [{_PHASE_SHORT.get(p.phase, p.phase)}]"
    return name


COLUMNS: tuple[str, ...] = (
    "point",
    "FLOPs",
    "bytes",
    "FLOP/B",
    "attainable",
    "bound",
    "est. time",
    "share",
    "what would move it",
)


MEASURED_COLUMNS: tuple[str, ...] = (
    "point",
    "FLOPs",
    "bytes",
    "FLOP/B",
    "attainable",
    "achieved",
    "efficiency",
    "bound",
    "time",
    "share",
    "what would move it",
)


def columns(r: RooflinePoints) -> tuple[str, ...]:
    return MEASURED_COLUMNS if r.kind == "measured" else COLUMNS


def point_cells(p: RooflinePoint) -> dict[str, str]:
    """The formatted figures of a point, one per column: the only formatting the views use.

    Every point has every column (a table may mix estimated and measured points): a measured point's time is
    measured and it has no estimated time; an estimated point has no achieved rate or efficiency.
    """
    measured = p.source == "measured"
    achieved = p.achieved_flops_per_s if measured else None
    efficiency = p.efficiency if measured else None
    return {
        "point": point_name(p),
        "FLOPs": fmt_flops(p.flops).strip(),
        "bytes": fmt_bytes(p.bytes),
        "FLOP/B": f"{p.intensity_flops_per_byte:.3g}",
        "attainable": f"{p.attainable_flops_per_s / 1e9:.3g} GFLOP/s",
        "achieved": "-" if achieved is None else f"{achieved / 1e9:.3g} GFLOP/s",
        "efficiency": "-" if efficiency is None else f"{100 * efficiency:.1f}%",
        "bound": p.bound,
        "time": fmt_time(p.time_s) if measured else fmt_time(p.time_s) + " (est.)",
        "est. time": "-" if measured else fmt_time(p.time_s),
        "share": f"{100 * p.time_share:.1f}%",
        "what would move it": p.hint,
    }


def _point_label(p: RooflinePoint, cells: dict[str, str]) -> str:
    """A chart label: a measured point says how close to its roof it got, an estimated one its time share."""
    if p.source == "measured" and p.efficiency is not None:
        return f"{cells['point']} {cells['efficiency']} of roof"
    return f"{cells['point']} {cells['share']}"


def _roof_text(roof: ComputeRoof | BandwidthRoof) -> str:
    if hasattr(roof, "dtype"):
        return f"{roof.dtype} {roof.source} {roof.flops_per_s / 1e9:.4g} GFLOP/s"
    return f"{roof.level.upper()} {roof.source} ({roof.kernel}) {roof.bytes_per_s / 1e9:.4g} GB/s"


def _sources(r: RooflinePoints) -> set[str]:
    return {p.source for p in r.points} or {"estimated"}


def _title(r: RooflinePoints) -> str:
    depth = f" depth {r.depth}" if r.depth is not None else ""
    what = " and ".join(sorted(_sources(r)))  # "estimated", "measured" or "estimated and measured"
    return f"{r.model}: {what} roofline, {r.level} level{depth} ({r.dtype}, {r.memory_level.upper()})"


def _header_lines(r: RooflinePoints) -> list[str]:
    lines = [
        _title(r),
        f"roofs: {_roof_text(r.compute_roof)}; {_roof_text(r.bandwidth_roof)}; "
        f"ridge {r.ridge_flops_per_byte:.3g} FLOP/B",
    ]
    if "estimated" in _sources(r):
        lines.append(
            "estimated points: FLOPs and minimum bytes as counted, time at the roof = max(FLOPs/peak, bytes/bandwidth)"
        )
    if "measured" in _sources(r):
        lines.append(
            "measured points: counted FLOPs and bytes over the measured time, drawn at the achieved FLOP/s"
        )
    return lines


def _sections(r: RooflinePoints) -> list[tuple[str, list[RooflinePoint]]]:
    """Points split by (scope, group), in the order they were computed: each section's shares sum to 1."""
    out: dict[tuple[str, str], list[RooflinePoint]] = {}
    for p in r.points:
        out.setdefault((p.scope, p.group), []).append(p)
    return [(f"{scope}, by {group}", pts) for (scope, group), pts in out.items()]


# ---- terminal table -----------------------------------------------------------------------------------------
def _table_line(
    cells: dict[str, str], widths: dict[str, int], numeric: set[str], cols: tuple[str, ...] = COLUMNS
) -> str:
    parts = [cells[c].rjust(widths[c]) if c in numeric else cells[c].ljust(widths[c]) for c in cols[:-1]]
    return "  ".join(parts) + "  " + cells[cols[-1]]


def roofline_table(r: RooflinePoints) -> str:
    """Plain text: the roofs, then one table per (scope, group), then the notes."""
    lines = _header_lines(r)
    numeric = {
        "FLOPs",
        "bytes",
        "FLOP/B",
        "attainable",
        "achieved",
        "efficiency",
        "est. time",
        "time",
        "share",
    }
    cols = columns(r)
    for heading, pts in _sections(r):
        rows = [point_cells(p) for p in pts]
        widths = {c: max([len(c)] + [len(row[c]) for row in rows]) for c in cols[:-1]}

        lines += ["", heading, _table_line({c: c for c in cols}, widths, numeric, cols)]
        lines += [_table_line(row, widths, numeric, cols) for row in rows]
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


# ---- geometry shared by both charts -------------------------------------------------------------------------
def _decade_floor(x: float) -> float:
    return 10 ** math.floor(math.log10(x))


def _decade_ceil(x: float) -> float:
    return 10 ** math.ceil(math.log10(x))


def _extent(r: RooflinePoints) -> tuple[float, float, float, float]:
    """x (FLOP/B) and y (FLOP/s) limits, whole decades, that hold every plotted point, roof and ridge."""
    peaks = [c.flops_per_s for c in r.ceilings.compute] or [r.compute_roof.flops_per_s]
    xs = [p.intensity_flops_per_byte for p in r.points if p.plotted]
    xs += [r.compute_roof.flops_per_s / b.bytes_per_s for b in r.ceilings.bandwidth]
    xs.append(r.ridge_flops_per_byte)
    x_lo = _decade_floor(min(xs) / 2)
    x_hi = _decade_ceil(max(xs) * 2)
    ys = [p.y_flops_per_s for p in r.points if p.plotted and p.y_flops_per_s > 0]
    ys += [min(b.bytes_per_s for b in r.ceilings.bandwidth) * x_lo] if r.ceilings.bandwidth else []
    y_lo = _decade_floor(max(min(ys + peaks) / 2, 1.0))
    y_hi = _decade_ceil(max(peaks) * 1.5)
    return x_lo, x_hi, y_lo, y_hi


def _compute_roofs(r: RooflinePoints) -> list[ComputeRoof]:
    """The chosen dtype's roofs (measured and nominal) first, then the other dtypes'."""
    roofs = list(r.ceilings.compute) or [r.compute_roof]
    return sorted(roofs, key=lambda c: (c.dtype != r.dtype, c.source != "measured", -c.flops_per_s))


def _marker_size(share: float) -> float:
    """Marker area in points^2: grows with the share of time, never vanishes."""
    return 25 + 900 * share


def _labelled(r: RooflinePoints) -> set[int]:
    ranked = sorted((i for i, p in enumerate(r.points) if p.plotted), key=lambda i: -r.points[i].time_share)
    return {i for i in ranked[:_MAX_LABELS] if r.points[i].time_share >= _MIN_LABEL_SHARE}


def _label_offsets(r: RooflinePoints, labelled: set[int]) -> dict[int, tuple[float, float, str]]:
    """Where each label goes, in points from its point (y up), and its alignment.

    Estimated compute-bound points all sit on the flat compute roof, so their labels are stacked below it,
    one line each, in order of intensity. Memory-bound points sit on the diagonal: op-kind labels go
    below-right of it, the others above-left, so the two groups of one chart do not collide.
    """
    out: dict[int, tuple[float, float, str]] = {}
    on_roof = sorted(
        (i for i in labelled if r.points[i].bound == "compute"),
        key=lambda i: r.points[i].intensity_flops_per_byte,
    )
    for k, i in enumerate(on_roof):
        out[i] = (-6.0, -18.0 - 11.0 * k, "right")
    for i in labelled - set(on_roof):
        out[i] = (7.0, -11.0, "left") if r.points[i].group == "op kind" else (-7.0, 5.0, "right")
    return out


# ---- matplotlib chart ---------------------------------------------------------------------------------------
def write_chart(r: RooflinePoints, path: str | Path) -> Path:
    """Write the chart to ``path``: PNG or SVG (matplotlib) or a self-contained HTML page, by the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CHART_SUFFIXES:
        raise UsageError(
            f"unknown chart format {path.suffix or '(none)'!r} in {str(path)!r}: use a file name ending in "
            + ", ".join(CHART_SUFFIXES)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        path.write_text(roofline_html(r), encoding="utf-8")
    else:
        _matplotlib_chart(r, path)
    return path


def _matplotlib_chart(r: RooflinePoints, path: Path) -> None:
    # The object API with an Agg canvas: no pyplot, no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from nnperf.report.figures import roofline_axes

    x_lo, x_hi, y_lo, y_hi = _extent(r)
    fig = Figure(figsize=(10, 6.5), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    roofline_axes(ax, (x_lo, x_hi, y_lo, y_hi), _title(r))

    peak = r.compute_roof.flops_per_s
    handles: list = []
    for c in _compute_roofs(r):
        chosen = c.dtype == r.dtype
        style = "-" if c.source == "measured" else "--"
        colour = "#222222" if chosen else "#aaaaaa"
        # A compute roof starts where the steepest bandwidth roof meets it.
        bws = [b.bytes_per_s for b in r.ceilings.bandwidth]
        x_start = max(x_lo, c.flops_per_s / max(bws)) if bws else x_lo
        (line,) = ax.plot(
            [x_start, x_hi], [c.flops_per_s] * 2, style, color=colour, linewidth=2 if chosen else 1
        )
        if chosen:  # the chosen dtype's roofs are named, with their values, in the legend
            line.set_label(_roof_text(c))
            handles.append(line)
        else:
            ax.annotate(
                _roof_text(c),
                (x_start, c.flops_per_s),
                xytext=(2, 3),
                textcoords="offset points",
                fontsize=8,
                color=colour,
            )
    for b in r.ceilings.bandwidth:
        chosen = b.level == r.memory_level and b == r.bandwidth_roof
        style = "-" if b.source == "measured" else "--"
        colour = LEVEL_COLOURS.get(b.level, "#555555")
        x_ridge = peak / b.bytes_per_s
        (line,) = ax.plot(
            [x_lo, x_ridge],
            [x_lo * b.bytes_per_s, peak],
            style,
            color=colour,
            linewidth=2 if chosen else 1,
            alpha=1.0 if chosen else 0.7,
            label=_roof_text(b),
        )
        handles.append(line)
        ax.plot([x_ridge], [peak], "o", color=colour, markersize=5, markerfacecolor="white")
        if chosen:
            ax.axvline(x_ridge, color=colour, linestyle=":", linewidth=1)
            ax.annotate(
                f"ridge {x_ridge:.3g} FLOP/B",
                (x_ridge, y_lo),
                xytext=(3, 4),
                textcoords="offset points",
                fontsize=8,
                color=colour,
                rotation=90,
                va="bottom",
            )

    markers = {"op kind": "s", "op": "o", "module": "o", "pass": "D"}
    labelled = _labelled(r)
    offsets = _label_offsets(r, labelled)
    for i, p in enumerate(r.points):
        if not p.plotted:
            continue
        ax.scatter(
            [p.intensity_flops_per_byte],
            [p.y_flops_per_s],
            s=_marker_size(p.time_share),
            c=BOUND_COLOURS.get(p.bound, "#7f7f7f"),
            marker=markers.get(p.group, "o"),
            alpha=0.6 if p.group != "op kind" else 0.35,
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
        if i in labelled:
            cells = point_cells(p)
            dx, dy, ha = offsets[i]
            ax.annotate(
                _point_label(p, cells),
                (p.intensity_flops_per_byte, p.y_flops_per_s),
                xytext=(dx, dy),
                ha=ha,
                textcoords="offset points",
                fontsize=7,
                zorder=4,
                arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.5} if dy < -12 else None,
            )
    shown = {p.bound for p in r.points if p.plotted}
    for bound, colour in BOUND_COLOURS.items():
        if bound == "below both roofs" and bound not in shown:
            continue  # only measured points can be below both roofs
        label = bound if bound.startswith("below") else f"{bound}-bound"
        handles.append(Line2D([], [], marker="o", linestyle="", color=colour, alpha=0.6, label=label))
    groups = sorted({p.group for p in r.points if p.plotted})
    if len(groups) > 1:
        for g in groups:
            handles.append(
                Line2D([], [], marker=markers.get(g, "o"), linestyle="", color="#7f7f7f", label=f"by {g}")
            )
    handles.append(Line2D([], [], linestyle="", label="marker area: share of the time of its pass"))
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
    fig.savefig(path, format=path.suffix.lower().lstrip("."))


# ---- self-contained HTML ------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
svg { background: #fff; border: 1px solid #ccc; }
svg .pt:hover { stroke-width: 2.5; fill-opacity: 0.9; }
svg text { font-size: 11px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; }
td:first-child, th:first-child, td:last-child, th:last-child { text-align: left; }
.memory { color: #1f77b4; } .compute { color: #d62728; }
p.note { color: #555; font-size: 13px; }
"""


class _LogAxes:
    """Maps FLOP/B and FLOP/s to SVG pixels on log scales."""

    def __init__(self, r: RooflinePoints, width: int, height: int, margin: tuple[int, int, int, int]) -> None:
        self.x_lo, self.x_hi, self.y_lo, self.y_hi = _extent(r)
        self.left, self.top, self.right, self.bottom = margin
        self.w = width - self.left - self.right
        self.h = height - self.top - self.bottom

    def x(self, v: float) -> float:
        return self.left + self.w * math.log10(v / self.x_lo) / math.log10(self.x_hi / self.x_lo)

    def y(self, v: float) -> float:
        return self.top + self.h * (1 - math.log10(v / self.y_lo) / math.log10(self.y_hi / self.y_lo))


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _decades(lo: float, hi: float) -> list[float]:
    return [10.0**e for e in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]


def _fmt_tick(v: float, unit: str) -> str:
    if unit == "FLOP/s":
        return fmt_flops(v).strip() + "FLOP/s"
    return f"{v:g}"


def roofline_svg(r: RooflinePoints, width: int = 960, height: int = 600) -> str:
    """The chart as an inline SVG: roofs, ridges and points; each point's ``<title>`` is its hover text."""
    a = _LogAxes(r, width, height, (80, 40, 30, 60))
    out: list[str] = [
        # No xmlns: the HTML parser puts inline <svg> in the SVG namespace, and the page names no URL at all.
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(_title(r))}">',
        f'<text x="{width / 2}" y="22" text-anchor="middle" style="font-size:14px">{_esc(_title(r))}</text>',
    ]
    for v in _decades(a.x_lo, a.x_hi):
        out.append(
            f'<line x1="{a.x(v):.1f}" y1="{a.top}" x2="{a.x(v):.1f}" y2="{a.top + a.h}" stroke="#e5e5e5"/>'
            f'<text x="{a.x(v):.1f}" y="{a.top + a.h + 16}" text-anchor="middle">{_fmt_tick(v, "")}</text>'
        )
    for v in _decades(a.y_lo, a.y_hi):
        out.append(
            f'<line x1="{a.left}" y1="{a.y(v):.1f}" x2="{a.left + a.w}" y2="{a.y(v):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{a.left - 6}" y="{a.y(v) + 4:.1f}" text-anchor="end">{_fmt_tick(v, "FLOP/s")}</text>'
        )
    out.append(
        f'<rect x="{a.left}" y="{a.top}" width="{a.w}" height="{a.h}" fill="none" stroke="#888"/>'
        f'<text x="{a.left + a.w / 2}" y="{height - 18}" text-anchor="middle">arithmetic intensity '
        "(FLOPs per byte of minimum traffic)</text>"
        f'<text transform="translate(16 {a.top + a.h / 2}) rotate(-90)" text-anchor="middle">FLOP/s</text>'
    )
    peak = r.compute_roof.flops_per_s
    for c in _compute_roofs(r):
        chosen = c.dtype == r.dtype
        colour = "#222" if chosen else "#aaa"
        dash = "" if c.source == "measured" else ' stroke-dasharray="6 4"'
        y = a.y(c.flops_per_s)
        bws = [b.bytes_per_s for b in r.ceilings.bandwidth]
        x0 = a.x(max(a.x_lo, c.flops_per_s / max(bws)) if bws else a.x_lo)
        # Labelled at the left end (compute-bound points sit at the right), measured above, nominal below.
        y_text = y - 4 if c.source == "measured" else y + 12
        out.append(
            f'<g class="roof"><title>{_esc(_roof_text(c))}</title>'
            f'<line x1="{x0:.1f}" y1="{y:.1f}" x2="{a.left + a.w}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="{2 if chosen else 1}"{dash}/>'
            f'<text x="{x0 + 4:.1f}" y="{y_text:.1f}" fill="{colour}">{_esc(_roof_text(c))}</text></g>'
        )
    for b in r.ceilings.bandwidth:
        chosen = b == r.bandwidth_roof
        colour = LEVEL_COLOURS.get(b.level, "#555")
        dash = "" if b.source == "measured" else ' stroke-dasharray="6 4"'
        x_ridge = peak / b.bytes_per_s
        x0 = a.x_lo
        y0 = x0 * b.bytes_per_s
        if y0 < a.y_lo:  # start where the line enters the plot
            x0, y0 = a.y_lo / b.bytes_per_s, a.y_lo
        out.append(
            f'<g class="roof"><title>{_esc(_roof_text(b))}; ridge {x_ridge:.3g} FLOP/B</title>'
            f'<line x1="{a.x(x0):.1f}" y1="{a.y(y0):.1f}" x2="{a.x(x_ridge):.1f}" y2="{a.y(peak):.1f}" '
            f'stroke="{colour}" stroke-width="{2 if chosen else 1}"{dash}/>'
            f'<circle cx="{a.x(x_ridge):.1f}" cy="{a.y(peak):.1f}" r="4" fill="#fff" stroke="{colour}"/>'
            f'<text x="{a.x(x0) + 6:.1f}" y="{a.y(y0) - 6:.1f}" fill="{colour}">{_esc(_roof_text(b))}</text>'
            "</g>"
        )
        if chosen:
            out.append(
                f'<line x1="{a.x(x_ridge):.1f}" y1="{a.top}" x2="{a.x(x_ridge):.1f}" y2="{a.top + a.h}" '
                f'stroke="{colour}" stroke-dasharray="2 3"/>'
                f'<text x="{a.x(x_ridge) + 4:.1f}" y="{a.top + a.h - 6}" fill="{colour}">ridge '
                f"{x_ridge:.3g} FLOP/B</text>"
            )
    labelled = _labelled(r)
    offsets = _label_offsets(r, labelled)
    # Largest first, so small points stay on top and can be hovered.
    order = sorted((i for i, p in enumerate(r.points) if p.plotted), key=lambda i: -r.points[i].time_share)
    for i in order:
        p = r.points[i]
        cells = point_cells(p)
        tip = "\n".join(
            [f"{cells['point']} ({p.level}, by {p.group}, {p.scope})"]
            + [f"{c}: {cells[c]}" for c in columns(r)[1:]]
        )
        cx, cy = a.x(p.intensity_flops_per_byte), a.y(p.y_flops_per_s)
        radius = math.sqrt(_marker_size(p.time_share) / math.pi) * 1.2
        colour = BOUND_COLOURS.get(p.bound, "#7f7f7f")
        shape = (
            f'<rect x="{cx - radius:.1f}" y="{cy - radius:.1f}" width="{2 * radius:.1f}" '
            f'height="{2 * radius:.1f}"'
            if p.group == "op kind"
            else f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius:.1f}"'
        )
        label = ""
        if i in labelled:
            dx, dy, ha = offsets[i]  # points (1/72 in), y up: the SVG's y grows downwards
            tx, ty = cx + dx * 1.3, cy - dy * 1.3
            anchor = "start" if ha == "left" else "end"
            leader = (
                f'<line x1="{cx:.1f}" y1="{cy:.1f}" x2="{tx:.1f}" y2="{ty - 4:.1f}" stroke="#999" '
                'stroke-width="0.5"/>'
                if dy < -12
                else ""
            )
            label = (
                f'{leader}<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}">'
                f"{_esc(_point_label(p, cells))}</text>"
            )
        out.append(
            f'<g class="point"><title>{_esc(tip)}</title>{shape} class="pt" fill="{colour}" '
            f'fill-opacity="0.55" stroke="#000" stroke-width="0.7"/>{label}</g>'
        )
    out.append("</svg>")
    return "\n".join(out)


def roofline_html(r: RooflinePoints) -> str:
    """One self-contained page: the SVG chart (hover a point for its figures), the table, the notes."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_esc(_title(r))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h2>{_esc(_title(r))}</h2>",
        "".join(f"<p>{_esc(line)}</p>" for line in _header_lines(r)[1:]),
        "<p>Hover a point for its figures. Squares: op kinds; circles: ops, modules or passes. "
        "Area: share of the estimated time.</p>",
        roofline_svg(r),
    ]
    for heading, pts in _sections(r):
        parts.append(f"<h3>{_esc(heading)}</h3><table><tr>")
        parts.append("".join(f"<th>{_esc(c)}</th>" for c in columns(r)) + "</tr>")
        for p in pts:
            cells = point_cells(p)
            parts.append(
                f'<tr class="{_esc(p.bound)}">'
                + "".join(f"<td>{_esc(cells[c])}</td>" for c in columns(r))
                + "</tr>"
            )
        parts.append("</table>")
    parts += [f'<p class="note">note: {_esc(n)}</p>' for n in r.notes]
    parts.append("</body></html>")
    return "\n".join(parts)
