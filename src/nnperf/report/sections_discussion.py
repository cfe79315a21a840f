"""The report's closing sections: the trace analysis of profiled cases, the discussion (:func:`findings`:
statements computed from the records, each with the number that backs it) and data quality (the warnings of
the store, the runs and the machine profiles).

Each is a section builder (digested study -> blocks); :data:`nnperf.report.study_report.SECTIONS` orders them.
"""

from __future__ import annotations

import math

from nnperf.report.cells import bytes_cell, money_cell, num_cell, pct_cell, rate_cell, ratio_cell, time_cell
from nnperf.report.document import Block, Bullets, Subheading, Table, Text
from nnperf.report.likely_causes import memory_cause
from nnperf.report.study_digest import SCALING_AXES, Study, case_settings, scaling_series


# ---- sections -------------------------------------------------------------------------------------------------
def findings(study: Study) -> list[str]:
    """The discussion: statements computed from the records, each with the number that backs it."""
    out: list[str] = []
    for name, configs in study.comparisons():
        best = min(configs, key=lambda c: c.median_s or math.inf)
        worst = max(configs, key=lambda c: c.median_s or 0.0)
        if best.median_s and worst.median_s:
            sig = best.compared_with(worst)
            evidence = (
                ""
                if sig is None
                else f"; significant, U test p = {sig.p_value:.2g}"
                if sig.significant
                else f"; not significant (U test p = {sig.p_value:.2g}): these environments may not differ"
            )
            out.append(
                f"{name}: best environment {best.environment} at {num_cell(best.samples_per_s)} samples/s, "
                f"{ratio_cell(worst.median_s / best.median_s)} the speed of {worst.environment} (median step "
                f"{time_cell(best.median_s)} vs {time_cell(worst.median_s)}{evidence})."
            )
        costs = [
            (study.price(c.environment) / 3600 / c.samples_per_s, c)
            for c in configs
            if study.price(c.environment) is not None and c.samples_per_s
        ]
        if len(costs) > 1:
            cost, cheapest = min(costs, key=lambda t: t[0])
            out.append(
                f"{name}: cheapest per sample in {cheapest.environment} at {money_cell(cost * 1e6)} per million samples."
            )
    for c in study.configs:
        p = study.placement(c)
        if isinstance(p, str):
            continue
        what = "below both roofs" if p.bound == "below both roofs" else f"{p.bound}-bound"
        out.append(
            f"{c.label}: {what}: {rate_cell(p.achieved)} achieved is {pct_cell(p.efficiency)} of the "
            f"{rate_cell(p.attainable)} attainable at {p.intensity:.3g} FLOP/B; the roofline predicts "
            f"{time_cell(p.predicted_s)}, measured {time_cell(p.measured_s)} ({ratio_cell(p.measured_over_predicted)})."
        )
    for c in study.configs:
        shares = {k: v for k, v in c.phase_shares().items() if k != "other"}
        if shares:
            top = max(shares, key=lambda k: shares[k])
            rest = ", ".join(
                f"{k} {pct_cell(v)}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if k != top
            )
            out.append(f"{c.label}: {top} takes {pct_cell(shares[top])} of the step ({rest}).")
    for c in study.configs:
        ratio, _ = memory_cause(c)
        if ratio is not None:
            out.append(
                f"{c.label}: measured peak of live tensors is {ratio_cell(ratio)} the estimate "
                f"({bytes_cell(c.value('memory.peak_live_bytes'))} vs {bytes_cell(c.value('memory.predicted_peak_bytes'))})."
            )
    for axis in SCALING_AXES:
        if axis not in study.varying:
            continue
        for name, configs in scaling_series(study, axis).items():
            first, last = configs[0], configs[-1]
            if first.samples_per_s and last.samples_per_s:
                gain = last.samples_per_s / first.samples_per_s
                scale = last.settings[axis] / first.settings[axis]
                out.append(
                    f"{name}: {axis} {first.settings[axis]} -> {last.settings[axis]} changes throughput "
                    f"{ratio_cell(gain)} ({pct_cell(gain / scale)} of linear scaling)."
                )
    if study.failed:
        out.append(
            f"{len(study.failed)} of {len(study.cases)} case(s) failed; their errors are listed under Measurements."
        )
    noisy = [c for c in study.ok if c.record.get("warnings")]
    if noisy:
        out.append(
            f"{len(noisy)} of {len(study.ok)} successful run(s) carry quality warnings (noise, contention): "
            "read their spread before their medians (see Data quality)."
        )
    return out


def section_discussion(study: Study) -> list[Block]:
    found = findings(study)
    if not found:
        return [Text("No finding: no successful run.")]
    return [
        Text("Findings computed from the records above; each number also appears in a table."),
        Bullets(found),
    ]


def section_warnings(study: Study) -> list[Block]:
    blocks: list[Block] = [Subheading("Results store")]
    store = list(study.data.warnings) + study.skipped
    blocks.append(Bullets(store) if store else Text("No file skipped: every record in the store was read."))
    rows = [
        [c.environment, f"{c.model} {case_settings(study, c)}".strip(), w]
        for c in study.cases
        for w in c.record.get("warnings") or []
    ]
    blocks.append(Subheading("Runs"))
    blocks.append(
        Table(["environment", "run", "warning"], rows) if rows else Text("No run raised a warning.")
    )
    machines = []
    for env in study.environments:
        m = study.machine(env)
        if m and m.get("warnings"):
            machines.append(
                f"{env} (machine {m.get('fingerprint', '?')}): {len(m['warnings'])} warning(s) while profiling, first: {m['warnings'][0]}"
            )
    if machines:
        blocks.append(Subheading("Machine profiles"))
        blocks.append(Bullets(machines))
    return blocks


def section_traces(study: Study) -> list[Block]:
    """Where the time of each profiled case goes (nnperf trace), converted to this report's blocks."""
    if not study.data.traces:
        return [
            Text(
                "No profiler trace in the store: set `run: {profile: true}` in the study to record one per case "
                "(then `nnperf trace` analyses each: time per thread and stream, stalls, critical path)."
            )
        ]
    from nnperf.report import trace_view

    blocks: list[Block] = []
    for label, report in study.data.traces:
        blocks.append(Subheading(f"Trace of {label}"))
        for b in trace_view.report_blocks(report):
            if isinstance(b, trace_view.Heading):
                blocks.append(Subheading(f"{label}: {b.text}"))
            elif isinstance(b, trace_view.Para):
                blocks.append(Text(b.text))
            elif isinstance(b, trace_view.Items):
                blocks.append(Bullets(list(b.items)))
            else:
                blocks.append(Table(list(b.headers), [list(r) for r in b.rows]))
    return blocks
