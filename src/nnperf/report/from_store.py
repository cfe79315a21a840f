"""The study report of a results store: load the store (skipping what it cannot read, with warnings), render."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def report_store(results: str | Path, out_dir: str | Path) -> Any:
    """Write ``out_dir/report.md`` and ``out_dir/report.html`` for the store at ``results``."""
    import yaml

    from nnperf.errors import UsageError
    from nnperf.experiments.store import ResultStore
    from nnperf.report.study_report import ReportInput, write_report

    root = Path(results)
    if not root.is_dir():
        raise UsageError(f"results directory {str(root)!r} does not exist: give the --results of a study")
    contents = ResultStore(root).load()
    warnings = list(contents.warnings)
    spec = None
    if contents.spec_text:
        try:
            spec = yaml.safe_load(contents.spec_text)
        except yaml.YAMLError as exc:
            warnings.append(
                f"study.yaml is not valid YAML ({exc.__class__.__name__}): design section left out"
            )
    if not contents.cases:
        raise UsageError(
            f"{str(root)!r} holds no case records: run a study into it first (`nnperf study run`)"
        )
    data = ReportInput(
        cases=contents.cases,
        machines=contents.machines,
        statics=contents.statics,
        spec=spec if isinstance(spec, dict) else None,
        warnings=warnings,
    )
    return write_report(data, out_dir)
