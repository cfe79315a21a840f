"""Flat tables of a results store: one row per case, dotted column names, as CSV, Parquet or a DataFrame.

Raw samples stay in the JSON records; a row holds the case's identity, its settings and the derived figures
a comparison needs (median and tail step times, throughput, time accounting, memory, FLOPs). A statistic that
does not exist (a failed case has no step times) is empty, never NaN or 0. pandas and pyarrow are imported
only inside the functions that need them.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnperf.experiments.store import StoreContents

if TYPE_CHECKING:
    import pandas

# (column prefix, record section, keys): the figures copied from each record, in column order.
_SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("step_time_s", "step_time_s", ("median", "mean", "min", "max", "iqr", "p90", "p99", "spread")),
    ("throughput", "throughput", ("samples_per_s", "tokens_per_s")),
    ("time_s", "time_s", ("real", "user", "system", "non_cpu", "cpu_utilization")),
]
_TAIL_SECTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "memory",
        "memory",
        (
            "peak_live_bytes",
            "predicted_peak_bytes",
            "measured_over_predicted",
            "peak_rss_bytes",
            "cuda_max_allocated_bytes",
        ),
    ),
    ("flops", "flops", ("counted", "predicted", "achieved_per_s", "mfu", "share_of_nominal")),
    ("bytes", "bytes", ("counted", "achieved_per_s")),
]
_CASE_KEYS = ("id", "study", "environment", "model")


def _scalar(value: Any) -> Any:
    """A value fit for one cell: NaN becomes empty (missing), containers become JSON text."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return value


def _flatten(prefix: str, data: Any, out: dict[str, Any]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            _flatten(f"{prefix}.{key}", value, out)
    else:
        out[prefix] = _scalar(data)


def case_row(record: dict[str, Any]) -> dict[str, Any]:
    """One flat row (dotted column names) for one case record."""
    case = record.get("case", {})
    row: dict[str, Any] = {f"case.{k}": case.get(k) for k in _CASE_KEYS}
    row["fingerprint"] = case.get("fingerprint")
    row["status"] = record.get("status")
    row["error"] = record.get("error")
    row["failed_stage"] = record.get("failed_stage")
    row["key"] = record.get("key")
    for name, value in record.get("spec", {}).items():
        row[f"spec.{name}"] = _scalar(value)
    for prefix, section, keys in _SECTIONS:
        values = record.get(section) or {}
        for key in keys:
            row[f"{prefix}.{key}"] = _scalar(values.get(key))
    samples = (record.get("step_time_s") or {}).get("samples") or []
    row["step_time_s.n"] = len(samples)
    row["protocol.stopped_by"] = (record.get("protocol") or {}).get("stopped_by")
    row["data_wait_share"] = _scalar(record.get("data_wait_share"))
    for prefix, section, keys in _TAIL_SECTIONS:
        values = record.get(section) or {}
        for key in keys:
            row[f"{prefix}.{key}"] = _scalar(values.get(key))
    row["compile_time_s"] = _scalar(record.get("compile_time_s"))
    row["warnings"] = " | ".join(record.get("warnings") or [])
    row["created"] = record.get("created")
    row["nnperf_version"] = record.get("nnperf_version")
    _flatten("environment", record.get("environment") or {}, row)
    return row


def case_rows(contents: StoreContents) -> list[dict[str, Any]]:
    """One flat dict per case of the store, in the store's (file name) order."""
    return [case_row(record) for record in contents.cases]


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every column of ``rows`` in first-seen order (spec and environment keys vary between records)."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def to_dataframe(contents: StoreContents) -> pandas.DataFrame:
    """A pandas DataFrame with one row per case (see :func:`case_rows`)."""
    import pandas as pd

    rows = case_rows(contents)
    cols = columns(rows) or columns([case_row({})])
    return pd.DataFrame(rows, columns=cols)


def export_csv(contents: StoreContents, path: str | Path) -> Path:
    """Write one CSV row per case (empty cells for missing values); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = case_rows(contents)
    cols = columns(rows) or columns([case_row({})])
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def export_parquet(contents: StoreContents, path: str | Path) -> Path:
    """Write one Parquet row per case (needs pyarrow); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = to_dataframe(contents)
    for col in df.columns:
        # Parquet columns hold one type: a column whose records disagree (an int in one environment, a
        # string in another) is written as text rather than failing the whole export.
        kinds = {type(v) for v in df[col] if v is not None and not (isinstance(v, float) and math.isnan(v))}
        if df[col].dtype == object and len(kinds - {int, float}) > 0 and len(kinds) > 1:
            df[col] = [None if v is None else str(v) for v in df[col]]
    df.to_parquet(path, index=False, engine="pyarrow")
    return path
