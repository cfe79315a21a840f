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
    traces = _analysed_traces(ResultStore(root), contents.cases, warnings)
    data = ReportInput(
        cases=contents.cases,
        machines=contents.machines,
        statics=contents.statics,
        spec=spec if isinstance(spec, dict) else None,
        warnings=warnings,
        traces=traces,
    )
    return write_report(data, out_dir)


def _analysed_traces(store: Any, cases: list[dict[str, Any]], warnings: list[str]) -> list[tuple[str, Any]]:
    """Each profiled case's trace analysed (nnperf trace), labelled by its case; unreadable ones warned."""
    from nnperf.analysis.trace import analyze, load_trace
    from nnperf.errors import NnperfError

    by_file = {
        f"{c['case']['id']}@{c['case']['fingerprint']}.json": c
        for c in cases
        if isinstance(c.get("case"), dict) and "id" in c["case"] and "fingerprint" in c["case"]
    }
    out: list[tuple[str, Any]] = []
    for path in store.trace_files():
        case = by_file.get(path.name)
        if case is None:
            warnings.append(f"{path}: a trace with no case record beside it: skipped")
            continue
        try:
            report = analyze(load_trace(path))
        except NnperfError as exc:
            warnings.append(f"{path}: {exc}: skipped")
            continue
        spec = case.get("spec", {})
        label = f"{case['case'].get('model', spec.get('model'))} {spec.get('mode')} b{spec.get('batch')} [{case['case'].get('environment')}]"
        out.append((label, report))
    return out
