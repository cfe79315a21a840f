"""The study report's charts: PNG files drawn with matplotlib's object API on an Agg canvas.

Each function takes plain numbers (already computed by the report's sections and digest) and a path, and
writes one PNG. The figures never compute a figure the report's tables do not show: a chart is a picture
of a table. matplotlib is imported inside the functions (heavy), no pyplot (no global state, no display), and
the PNG carries no "Software" text chunk, so an embedded figure holds no URL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One colour per series (model or environment), in order; cycled when there are more series.
PALETTE: tuple[str, ...] = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
)
PHASE_COLOURS = {
    "data": "#8c564b",
    "forward": "#1f77b4",
    "loss": "#bcbd22",
    "backward": "#d62728",
    "optimizer": "#2ca02c",
    "other": "#cccccc",
}
MEMORY_COLOURS = {
    "parameters": "#1f77b4",
    "buffers": "#17becf",
    "gradients": "#d62728",
    "optimizer": "#2ca02c",
    "activations": "#ff7f0e",
    "inputs": "#8c564b",
    "kv_cache": "#9467bd",
}


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass(frozen=True)
class Roof:
    """One ceiling of a roofline chart: a compute roof (FLOP/s) or a bandwidth roof (bytes/s)."""

    kind: str  # "compute" or "bandwidth"
    value: float  # FLOP/s or bytes/s
    label: str  # what the legend says, value included
    measured: bool  # solid when measured, dashed when nominal (spec sheet)


@dataclass(frozen=True)
class RoofPoint:
    """A measured run and, above it, where the roofline puts the same work (its attainable rate)."""

    series: str  # the model: one colour per series
    label: str  # short annotation: the varying settings
    intensity: float  # FLOPs per byte
    achieved: float  # FLOP/s measured
    attainable: float  # FLOP/s on the roof at that intensity


def _canvas(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def roofline_axes(
    ax: Any,
    extent: tuple[float, float, float, float],
    title: str,
    xlabel: str = "arithmetic intensity (FLOPs per byte of minimum traffic)",
) -> None:
    """Set up the log-log axes every nnperf roofline is drawn on (``extent`` = x_lo, x_hi, y_lo, y_hi)."""
    x_lo, x_hi, y_lo, y_hi = extent
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("FLOP/s")
    ax.set_title(title, fontsize=11)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software" chunk: matplotlib writes its home page there, and the report holds no URL.
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def roofline(path: str | Path, title: str, roofs: Sequence[Roof], points: Sequence[RoofPoint]) -> Path:
    """Log-log roofline: every roof of one environment, each run's measured point (filled) and its
    estimated position on the roof (hollow), joined by a dotted line whose length is the gap.

    The first compute roof given is the one the points are placed under: drawn bold, and the bandwidth roofs
    rise to it. Other compute roofs (nominal, other thread counts) are thin and dashed."""
    from matplotlib.lines import Line2D

    path = Path(path)
    compute = [r for r in roofs if r.kind == "compute"]
    bandwidth = sorted((r for r in roofs if r.kind == "bandwidth"), key=lambda r: r.value)
    if not compute or not bandwidth:
        raise ValueError("a roofline chart needs at least one compute roof and one bandwidth roof")
    primary = compute[0].value
    xs = [p.intensity for p in points] + [c.value / b.value for c in compute for b in bandwidth]
    ys = [p.achieved for p in points if p.achieved > 0] + [r.value for r in compute]
    x_lo = 10 ** math.floor(math.log10(min(xs) / 3))
    x_hi = 10 ** math.ceil(math.log10(max(xs) * 3))
    y_lo = 10 ** math.floor(math.log10(max(min(ys) / 3, 1.0)))
    y_hi = 10 ** math.ceil(math.log10(max(r.value for r in compute) * 1.5))

    fig, ax = _canvas(10, 6.2)
    roofline_axes(ax, (x_lo, x_hi, y_lo, y_hi), title)
    handles: list[Any] = []
    steepest = bandwidth[-1].value
    for i, c in enumerate(compute):
        # A compute roof starts where the steepest bandwidth roof meets it.
        (line,) = ax.plot(
            [max(x_lo, c.value / steepest), x_hi],
            [c.value, c.value],
            "-" if c.measured and i == 0 else "--",
            color="#111111" if i == 0 else "#999999",
            linewidth=2 if i == 0 else 1,
            label=c.label,
        )
        handles.append(line)
    # Bandwidth roofs in greys, darkest for the slowest (DRAM), so the models' colours stay distinct.
    greys = ("#444444", "#888888", "#aaaaaa", "#cccccc")
    styles = ("-", "-.", ":", ":")
    for j, b in enumerate(bandwidth):
        (line,) = ax.plot(
            [x_lo, primary / b.value],
            [x_lo * b.value, primary],
            styles[min(j, 3)] if b.measured else "--",
            color=greys[min(j, 3)],
            linewidth=1.5,
            label=b.label,
        )
        handles.append(line)
    series = list(dict.fromkeys(p.series for p in points))
    for k, name in enumerate(series):
        c = colour(k)
        for p in (p for p in points if p.series == name):
            ax.plot([p.intensity, p.intensity], [p.achieved, p.attainable], ":", color=c, linewidth=1)
            ax.scatter([p.intensity], [p.attainable], s=45, facecolors="white", edgecolors=c, zorder=3)
            ax.scatter(
                [p.intensity], [p.achieved], s=60, color=c, edgecolors="black", linewidths=0.5, zorder=4
            )
            ax.annotate(
                f"{p.label} {100 * p.achieved / p.attainable:.1f}%",
                (p.intensity, p.achieved),
                xytext=(6, -4),
                textcoords="offset points",
                fontsize=7,
            )
        handles.append(Line2D([], [], marker="o", linestyle="", color=c, label=f"{name} (measured)"))
    handles.append(
        Line2D(
            [], [], marker="o", linestyle="", markerfacecolor="white", color="#555555", label="on the roof"
        )
    )
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    return _save(fig, path)


def grouped_bars(
    path: str | Path,
    title: str,
    categories: Sequence[str],
    series: dict[str, Sequence[float | None]],
    ylabel: str,
    notes: dict[str, Sequence[str]] | None = None,
    reference: float | None = None,
) -> Path:
    """One group of bars per category (a model's configuration), one bar per series (an environment); each
    bar carries its note (default: its value), and ``reference`` draws a horizontal line (1.0 for speedups)."""
    path = Path(path)
    fig, ax = _canvas(10, 5.0)
    n = max(len(series), 1)
    width = 0.8 / n
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(categories))]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width=width, color=colour(k), label=name)
        texts = (notes or {}).get(name) or [f"{v:.3g}" if v is not None else "" for v in values]
        for bar, text in zip(bars, texts, strict=True):
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )
    if reference is not None:
        ax.axhline(reference, color="#555555", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(
        categories,
        rotation=20 if len(categories) > 4 else 0,
        ha="right" if len(categories) > 4 else "center",
        fontsize=8,
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.margins(y=0.15)
    ax.legend(fontsize=8)
    return _save(fig, path)


def stacked_shares(
    path: str | Path,
    title: str,
    labels: Sequence[str],
    parts: Sequence[dict[str, float]],
    colours: dict[str, str],
    xlabel: str,
    percent: bool,
) -> Path:
    """Horizontal stacked bars, one per label: the phases of a step (shares) or a memory breakdown (bytes)."""
    path = Path(path)
    fig, ax = _canvas(10, 1.6 + 0.45 * max(len(labels), 2))
    names = list(dict.fromkeys(k for p in parts for k in p))
    for k, name in enumerate(names):
        lefts = [sum(v for n, v in p.items() if names.index(n) < k) for p in parts]
        widths = [p.get(name, 0.0) for p in parts]
        scale = 100.0 if percent else 1.0
        ax.barh(
            range(len(labels)),
            [w * scale for w in widths],
            left=[x * scale for x in lefts],
            color=colours.get(name, colour(k)),
            label=name,
            edgecolor="white",
            linewidth=0.5,
        )
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    fig.legend(fontsize=8, ncols=min(len(names), 6), loc="outside lower center")
    return _save(fig, path)


def scaling(
    path: str | Path,
    title: str,
    xlabel: str,
    series: dict[str, Sequence[tuple[float, float, str]]],
    ylabel: str,
) -> Path:
    """Throughput gain against a swept setting (batch or threads), one line per series, the setting on a log-2 axis:
    points are (setting, gain over the smallest setting, note); the dashed line is linear scaling."""
    from matplotlib.ticker import FuncFormatter

    path = Path(path)
    fig, ax = _canvas(9, 5.2)
    ax.set_xscale("log", base=2)
    xs_all = sorted({x for pts in series.values() for x, _, _ in pts})
    ax.plot(xs_all, [x / xs_all[0] for x in xs_all], "--", color="#999999", linewidth=1, label="linear")
    for k, (name, pts) in enumerate(series.items()):
        pts = sorted(pts)
        ax.plot([x for x, _, _ in pts], [y for _, y, _ in pts], "o-", color=colour(k), label=name)
        for x, y, note in pts:  # one line of offset per series: lines often start at the same point
            ax.annotate(note, (x, y), xytext=(4, 4 + 9 * k), textcoords="offset points", fontsize=7)
    ax.set_xticks(xs_all)
    ax.set_xticklabels([f"{x:g}" for x in xs_all])
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}x"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    ax.legend(fontsize=8)
    return _save(fig, path)


def estimate_bars(
    path: str | Path,
    title: str,
    labels: Sequence[str],
    estimates: Sequence[float | None],
    measured: Sequence[float | None],
) -> Path:
    """Horizontal bars of estimated step times per machine (log axis: machines differ by orders of magnitude),
    with the measured time as a marker where the machine ran the step."""
    path = Path(path)
    fig, ax = _canvas(10, 1.4 + 0.45 * max(len(labels), 2))
    ys = list(range(len(labels)))
    ax.barh(ys, [e if e else float("nan") for e in estimates], color=colour(0), label="estimate at the roofs")
    points = [(y, m) for y, m in zip(ys, measured, strict=True) if m]
    if points:
        ax.plot(
            [m for _, m in points], [y for y, _ in points], "D", color=colour(1), label="measured (median)"
        )
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("step time (s, log)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, axis="x", which="major", color="#dddddd", linewidth=0.6)
    ax.legend(fontsize=8)
    return _save(fig, path)
