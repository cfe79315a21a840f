"""The report of a performance study: Markdown plus one self-contained HTML page (figures embedded).

Input is plain data (:class:`ReportInput`): the case records of a results store (``Measurement.to_dict()``
plus their ``case`` section), the machine profiles, the static summaries, the parsed study spec and the
warnings the store's loader raised (a corrupt or foreign file is skipped there; its warning is shown here).
The report reads records and never measures.

How it is built: each section is a function from the digested study (:class:`Study`) to a list of blocks
(text, bullet list, table, figure); the sections are an ordered registry (:data:`SECTIONS`). Markdown and
HTML are two renderings of the same blocks, so both show the same numbers. Every finding of the discussion is
computed from the records and carries the figure that backs it, and that figure is also in a table above it.

Conventions (the same as the rest of nnperf): times are median step times, spread is the IQR; FLOPs count 2
per multiply-add; bytes are minimum traffic. Roofline-predicted time = max(FLOPs / peak, bytes / bandwidth),
with the compute peak measured at the run's thread count when the run recorded one. Speedups are ratios of
median step times of the same model and settings in two environments. Cost per sample = price per hour /
3600 / samples per second.

Where it lives: :mod:`~nnperf.report.study_digest` turns the records into the :class:`Study` (configurations,
roofs, placements); :mod:`~nnperf.report.cells` formats its values as table cells;
:mod:`~nnperf.report.likely_causes` says why a measurement differs from its estimate; the section builders are
in :mod:`~nnperf.report.sections_setup`, :mod:`~nnperf.report.sections_results`,
:mod:`~nnperf.report.sections_projection` and :mod:`~nnperf.report.sections_discussion`; :mod:`~nnperf.report.document` holds the blocks and renders them.
This module orders the sections and writes the report; the names callers import from it stay importable here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nnperf.report.document import Block, Section, render_html, render_markdown
from nnperf.report.sections_discussion import section_discussion, section_traces, section_warnings
from nnperf.report.sections_projection import section_projection
from nnperf.report.sections_results import (
    section_comparison,
    section_estimates,
    section_measurements,
    section_roofline,
    section_scaling,
)
from nnperf.report.sections_setup import section_design, section_environments, section_models
from nnperf.report.study_digest import ReportInput, Study, digest

__all__ = ["SECTIONS", "SECTION_TITLES", "ReportInput", "ReportPaths", "build_sections", "write_report"]


# ---- output ---------------------------------------------------------------------------------------------------
@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    figures: list[Path]


# ---- sections -------------------------------------------------------------------------------------------------
SectionBuilder = Callable[[Study], list[Block]]
# The report's sections in order: (anchor, title, builder). Extend here, not with if/elif on names.
SECTIONS: tuple[tuple[str, str, SectionBuilder], ...] = (
    ("design", "Experiment design and hypothesis", section_design),
    ("environments", "Environments", section_environments),
    ("models", "Models", section_models),
    ("measurements", "Measurements", section_measurements),
    ("estimates", "Estimate vs measurement", section_estimates),
    ("roofline", "Roofline", section_roofline),
    ("comparison", "Environment comparison", section_comparison),
    ("projection", "Projection onto other machines", section_projection),
    ("scaling", "Scaling", section_scaling),
    ("traces", "Trace analysis", section_traces),
    ("discussion", "Discussion", section_discussion),
    ("warnings", "Data quality and warnings", section_warnings),
)
SECTION_TITLES: tuple[str, ...] = tuple(title for _, title, _ in SECTIONS)


def build_sections(study: Study) -> list[Section]:
    return [Section(anchor, title, build(study)) for anchor, title, build in SECTIONS]


# ---- writing --------------------------------------------------------------------------------------------------
def write_report(data: ReportInput, out_dir: str | Path) -> ReportPaths:
    """Write ``out_dir/report.md`` (figures under ``out_dir/figures/``, linked relatively) and
    ``out_dir/report.html`` (self-contained: figures as base64 data URIs, CSS inline, no external URL)."""
    out = Path(out_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for old in fig_dir.glob("*.png"):  # a figure of a previous report must not be linked by accident
        old.unlink()
    study = digest(data, fig_dir)
    sections = build_sections(study)
    title = f"Performance study: {study.name}"
    subtitle = (
        f"Generated by nnperf on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} from "
        f"{len(study.cases)} case record(s), {len(data.machines)} machine profile(s) and "
        f"{len(data.statics)} static summary(ies)."
    )
    md_path = out / "report.md"
    html_path = out / "report.html"
    md_path.write_text(render_markdown(title, subtitle, sections, out), encoding="utf-8")
    html_path.write_text(render_html(title, subtitle, sections), encoding="utf-8")
    return ReportPaths(markdown=md_path, html=html_path, figures=list(study.figures))
