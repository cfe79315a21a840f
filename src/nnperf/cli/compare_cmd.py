"""``nnperf compare BASE.json OTHER.json ...``: saved ``nnperf bench -o`` records against the first, with the
significance of each difference (U test and bootstrap interval on the raw step samples)."""

from __future__ import annotations

import argparse
import json
from typing import Any

# Others' share of the CPU above which a record is flagged as measured on a busy machine.
_BUSY = 0.10


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare saved bench records: speedup, 95%% interval and whether the difference is significant",
        description="Compares each record's step times with the first record's: ratio of medians (speedup), a "
        "bootstrap 95%% interval of it and a Mann-Whitney U test on the raw samples. Records come from "
        "`nnperf bench -o FILE`.",
    )
    p.add_argument("records", nargs="+", metavar="RECORD", help="bench records; the first is the baseline")
    p.add_argument(
        "--alpha", type=float, default=0.05, help="significance level of the U test (default 0.05)"
    )
    p.add_argument("--format", "-f", choices=("table", "json"), default="table")
    p.set_defaults(run=run_compare)


def _load(path: str) -> dict[str, Any]:
    """A bench record (step times) or a generation record (first token and per-token times), checked."""
    from nnperf.errors import UsageError
    from nnperf.measure import generation
    from nnperf.records import measurement
    from nnperf.records.jsonio import read_record

    try:
        with open(path) as f:
            schema = json.load(f).get("schema")
    except (OSError, ValueError, AttributeError):
        schema = None  # read_record says what is wrong with the file
    if schema == generation.SCHEMA:
        record = read_record(path, generation.SCHEMA, generation.SCHEMA_VERSION)
    else:
        record = read_record(path, measurement.SCHEMA, measurement.SCHEMA_VERSION)
        if record.get("status") != "ok":
            raise UsageError(
                f"{path}: the run failed ({record.get('error')}): only successful runs can be compared"
            )
    if not any(samples for _, samples in _metrics(record)):
        raise UsageError(
            f"{path}: the record holds no timed samples: measure it again with `nnperf bench -o`"
        )
    return record


def _metrics(record: dict[str, Any]) -> list[tuple[str, list[float]]]:
    """What is compared: a bench record's step times; a generation's first-token and per-token times."""
    raw = record.get("raw")
    if record.get("schema") == "nnperf.generation-measurement" and isinstance(raw, dict):
        steps = [float(x) for gen in raw.get("steps_s") or [] for x in gen]
        return [("first token", [float(x) for x in raw.get("prefill_s") or []]), ("per output token", steps)]
    return [("step", [float(x) for x in (record.get("step_time_s") or {}).get("samples") or []])]


def _label(record: dict[str, Any]) -> str:
    if record.get("key"):
        return str(record["key"])
    spec = record.get("spec") or {}
    return (
        f"{spec.get('model')} b{spec.get('batch')} {spec.get('prompt')}+{spec.get('generate')} tokens "
        f"{spec.get('dtype')} {spec.get('device')}"
        + (f" threads={spec['threads']}" if spec.get("threads") else "")
    )


def _setting_changes(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    a, b = base.get("spec") or {}, other.get("spec") or {}
    protocol = {"warmup", "min_iters", "min_time_s", "budget_s", "repeats"}
    return [f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in a if k not in protocol and a.get(k) != b.get(k)]


def comparison_rows(paths: list[str], records: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """One row per record and metric, each against the first record's samples of the same metric."""
    from nnperf.analysis.compare import compare_samples
    from nnperf.analysis.stats import describe
    from nnperf.errors import UsageError

    base = records[0]
    kinds = {r.get("schema") for r in records}
    if len(kinds) > 1:
        raise UsageError(
            "bench records and generation records time different things: compare records of one kind"
        )
    base_metrics = dict(_metrics(base))
    rows: list[dict[str, Any]] = []
    for path, record in zip(paths, records, strict=True):
        notes: list[str] = []
        others = (record.get("load") or {}).get("others_share")
        if isinstance(others, int | float) and others > _BUSY:
            notes.append(f"measured on a busy machine: other processes took {others:.0%} of the CPUs")
        changes = _setting_changes(base, record) if record is not base else []
        for metric, samples in _metrics(record):
            stats = describe(samples)
            row: dict[str, Any] = {
                "record": path,
                "key": _label(record),
                "metric": metric,
                "median_s": stats["median"] if samples else None,
                "spread": stats["spread"] if samples else None,
                "n": len(samples),
                "comparison": None,
                "notes": notes,
            }
            if record is not base and samples and base_metrics.get(metric):
                row["comparison"] = compare_samples(base_metrics[metric], samples, alpha=alpha).to_dict()
                row["changes"] = changes
            rows.append(row)
        if record is not base:
            if not changes and any(
                r["comparison"] and r["comparison"]["significant"] for r in rows if r["record"] == path
            ):
                notes.append(
                    "same settings as the baseline: the difference is the machine's state (other processes, "
                    "clocks, caches), not a setting"
                )
            fb, fo = (base.get("flops") or {}).get("counted"), (record.get("flops") or {}).get("counted")
            if fb and fo and fb != fo:
                notes.append(
                    f"counted FLOPs differ ({fb:.4g} vs {fo:.4g} per step): different work per step, compare "
                    "throughput rather than step time"
                )
    return rows


def _text(rows: list[dict[str, Any]], alpha: float) -> str:
    from nnperf.report.text_table import text_table
    from nnperf.units import fmt_time

    header = (
        "record",
        "run",
        "metric",
        "median",
        "IQR/median",
        "n",
        "speedup",
        "95% interval",
        "p",
        "verdict",
    )
    cells = []
    for r in rows:
        c = r["comparison"]
        cells.append(
            {
                "record": r["record"],
                "run": r["key"],
                "metric": r["metric"],
                "median": fmt_time(r["median_s"]),
                "IQR/median": f"{100 * r['spread']:.1f}%" if isinstance(r["spread"], int | float) else "-",
                "n": str(r["n"]),
                "speedup": f"{c['ratio']:.3g}x"
                if c
                else ("baseline" if r["record"] == rows[0]["record"] else "-"),
                "95% interval": f"[{c['ci_low']:.3g}, {c['ci_high']:.3g}]" if c else "",
                "p": f"{c['p_value']:.2g}" if c else "",
                "verdict": c["verdict"] if c else "",
            }
        )
    numeric = {"median", "IQR/median", "n", "speedup", "p"}
    lines = [
        f"nnperf compare: times against {rows[0]['record']} (speedup = its median / this median; "
        f"significant when the Mann-Whitney U test gives p < {alpha:g})",
        "",
        *text_table(header, cells, numeric),
        "",
    ]
    seen: set[str] = set()
    for r in rows:
        if r["record"] in seen:
            continue
        seen.add(r["record"])
        lines += (
            [f"note: {r['record']}: settings changed: {'; '.join(r['changes'])}"] if r.get("changes") else []
        )
        lines += [f"note: {r['record']}: {n}" for n in r["notes"]]
    return "\n".join(lines).rstrip()


def run_compare(args: argparse.Namespace) -> int:
    from nnperf.errors import UsageError

    if len(args.records) < 2:
        raise UsageError("give at least two records: the baseline first, then those to compare with it")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha:g} must be between 0 and 1, e.g. 0.05")
    records = [_load(path) for path in args.records]
    rows = comparison_rows(args.records, records, args.alpha)
    if args.format == "json":
        print(
            json.dumps(
                {"schema": "nnperf.comparison", "schema_version": 1, "alpha": args.alpha, "runs": rows},
                indent=2,
            )
        )
    else:
        print(_text(rows, args.alpha))
    return 0
