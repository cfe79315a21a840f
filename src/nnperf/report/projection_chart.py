"""The chart of ``nnperf predict -o chart.png|.svg``: a picture of the terminal tables, nothing more.

A single pass: on the left each target's estimated step time (log axis: targets differ by orders of magnitude;
hatched when the target's roofs are spec-sheet ones), on the right how that time splits across op kinds (the
"share of the roofline time per op kind" table), so the shift from compute- to memory-bound kinds on faster
machines shows. A generation: per target, the time to first token, the mean time per output token and the
total, grouped on one log axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nnperf.analysis.generation_projection import GenerationProjection
from nnperf.analysis.projection import Projection
from nnperf.errors import UsageError
from nnperf.report.figures import _canvas, _save, colour

CHART_SUFFIXES = (".png", ".svg")
# Op kinds below this share on every target are drawn together as "other".
_MIN_SHARE = 0.01


def _time_label(seconds: float) -> str:
    from nnperf.units import fmt_time

    return fmt_time(seconds)


def _nominal(roofs: tuple[Any, ...]) -> bool:
    return any(r.source != "measured" for r in roofs)


def _pass_chart(p: Projection, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 2.2 + 0.5 * max(len(p.targets), 2)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.2))
    names = [t.target for t in p.targets]
    ys = list(range(len(names)))
    for y, t in zip(ys, p.targets, strict=True):
        nominal = _nominal((t.compute_roof, t.gemm_roof, t.bandwidth_roof))
        left.barh(y, t.estimate_s, color=colour(0), hatch="//" if nominal else None, edgecolor="white")
        left.annotate(
            _time_label(t.estimate_s),
            (t.estimate_s, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    left.set_xscale("log")
    left.set_yticks(ys)
    left.set_yticklabels(names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("estimated step time at the roofs (s, log); hatched: spec-sheet roofs")
    left.grid(True, axis="x", which="major", color="#dddddd", linewidth=0.6)
    left.margins(x=0.25)
    shares = [
        {k: v / t.roofline_s for k, v in t.by_kind_s.items()} if t.roofline_s > 0 else {} for t in p.targets
    ]
    kinds = [
        k
        for k in dict.fromkeys(k for s in shares for k in s)
        if any(s.get(k, 0) >= _MIN_SHARE for s in shares)
    ]
    starts = [0.0] * len(p.targets)
    for i, kind in enumerate([*kinds, "other"]):
        widths = [
            (1 - sum(s.get(k, 0) for k in kinds)) if kind == "other" else s.get(kind, 0.0) for s in shares
        ]
        widths = [max(w, 0.0) * 100 for w in widths]
        right.barh(
            ys,
            widths,
            left=starts,
            color="#cccccc" if kind == "other" else colour(i),
            label=kind,
            edgecolor="white",
            linewidth=0.5,
        )
        starts = [a + w for a, w in zip(starts, widths, strict=True)]
    right.set_yticks(ys)
    right.set_yticklabels([])
    right.invert_yaxis()
    right.set_xlim(0, 100)
    right.set_xlabel("share of the roofline time per op kind (%)")
    right.legend(fontsize=7, ncols=min(len(kinds) + 1, 5), loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"nnperf predict: {p.model}, {p.input}, {p.scope}, {p.dtype}", fontsize=11)
    _save_any(fig, path)


def _generation_chart(g: GenerationProjection, path: Path) -> None:
    fig, ax = _canvas(11, 4.8)
    names = [t.target for t in g.targets]
    series = [
        ("time to first token", [t.prefill.estimate_s for t in g.targets]),
        ("per output token (mean)", [t.decode.mean_s or 0.0 for t in g.targets]),
        ("total", [t.total_s for t in g.targets]),
    ]
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(
            xs, [v if v > 0 else float("nan") for v in values], width=width, color=colour(k), label=label
        )
        for bar, v in zip(bars, values, strict=True):
            if v > 0:
                ax.annotate(
                    _time_label(v),
                    (bar.get_x() + bar.get_width() / 2, v),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                )
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8)
    ax.set_ylabel("estimated time at the roofs (s, log)")
    ax.grid(True, axis="y", which="major", color="#dddddd", linewidth=0.6)
    ax.legend(fontsize=8)
    ax.set_title(
        f"nnperf predict: {g.model}, batch {g.batch}, {g.prompt}-token prompt + {g.generate} tokens, {g.dtype}",
        fontsize=11,
    )
    _save_any(fig, path)


def _save_any(fig: Any, path: Path) -> None:
    if path.suffix.lower() == ".png":
        _save(fig, path)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", metadata={"Creator": None})


def check_chart_path(path: str | Path) -> Path:
    """The chart path, or a UsageError naming the formats (checked before any analysis)."""
    path = Path(path)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise UsageError(
            f"unknown chart format {path.suffix or '(none)'!r} in {str(path)!r}: use a file name ending in "
            + " or ".join(CHART_SUFFIXES)
        )
    return path


def write_projection_chart(p: Projection | GenerationProjection, path: str | Path) -> Path:
    path = check_chart_path(path)
    if isinstance(p, GenerationProjection):
        _generation_chart(p, path)
    else:
        _pass_chart(p, path)
    return path
