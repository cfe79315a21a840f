"""The report's result sections: the measurements (step times, throughput, phases, failed cases), estimate
vs measurement, a roofline per environment, the environment comparison (speedups, costs) and scaling with
batch and threads.

Each is a section builder (digested study -> blocks); :data:`nnperf.report.study_report.SECTIONS` orders them.
"""

from __future__ import annotations

import re

from nnperf.report import figures
from nnperf.report.cells import (
    bytes_cell,
    cores_cell,
    flops_cell,
    money_cell,
    num_cell,
    pct_cell,
    rate_cell,
    ratio_cell,
    time_cell,
)
from nnperf.report.document import Block, Bullets, Image, Subheading, Table, Text
from nnperf.report.likely_causes import flops_cause, memory_cause, time_cause
from nnperf.report.study_digest import PHASE_ORDER, SCALING_AXES, Study, case_settings, scaling_series


# ---- sections -------------------------------------------------------------------------------------------------
def section_measurements(study: Study) -> list[Block]:
    blocks: list[Block] = []
    if study.configs:
        protocol = study.configs[0].cases[0].record.get("protocol") or {}
        blocks.append(
            Text(
                "Median step time over the timed steps with its spread (IQR as a share of the median, p90, "
                f"number of steps n; warm-up {protocol.get('warmup', '-')} step(s), at least "
                f"{protocol.get('min_iters', '-')} timed). Repetitions of a case are pooled by their median. "
                "CPU utilisation is CPU seconds per wall second (busy cores); MFU is achieved FLOP/s over the "
                "measured peak at the run's thread count."
            )
        )
        rows = []
        for c in study.configs:
            median = c.median_s
            iqr = c.value("step_time_s.iqr")
            rows.append(
                [
                    c.environment,
                    c.name,
                    time_cell(median),
                    pct_cell(iqr / median if iqr is not None and median else None),
                    time_cell(c.value("step_time_s.p90")),
                    str(sum(int(c2.value("step_time_s.n") or 0) for c2 in c.cases)),
                    num_cell(c.samples_per_s),
                    cores_cell(c.value("time_s.cpu_utilization")),
                    bytes_cell(c.value("memory.peak_live_bytes")),
                    bytes_cell(c.value("memory.peak_rss_bytes")),
                    rate_cell(c.value("flops.achieved_per_s")),
                    pct_cell(c.value("flops.mfu")),
                ]
            )
        blocks.append(
            Table(
                [
                    "environment",
                    "model",
                    "median step",
                    "IQR",
                    "p90",
                    "n",
                    "samples/s",
                    "CPU util. (cores)",
                    "peak live",
                    "peak RSS",
                    "achieved",
                    "MFU",
                ],
                rows,
            )
        )
        with_phases = [c for c in study.configs if c.phase_shares()]
        if with_phases:
            blocks.append(Subheading("Where the time goes"))
            blocks.append(
                Table(
                    ["run", *PHASE_ORDER, "other"],
                    [
                        [c.label] + [pct_cell(c.phase_shares().get(p)) for p in (*PHASE_ORDER, "other")]
                        for c in with_phases
                    ],
                )
            )
            path = figures.stacked_shares(
                study.fig_dir / "phases.png",
                "Share of the step per phase",
                [c.label for c in with_phases],
                [c.phase_shares() for c in with_phases],
                figures.PHASE_COLOURS,
                "% of the step",
                percent=True,
            )
            blocks.append(
                Image(
                    study.add_figure(path),
                    "Share of the timed steps spent in each phase ('other': the harness between phases).",
                )
            )
    else:
        blocks.append(Text("No successful run: nothing measured."))
    blocks.append(Subheading("Failed cases"))
    if study.failed:
        blocks.append(
            Table(
                ["environment", "model", "settings", "stage", "error"],
                [
                    [
                        c.environment,
                        c.model,
                        case_settings(study, c),
                        str(c.record.get("failed_stage") or "-"),
                        str(c.record.get("error") or "no step time recorded"),
                    ]
                    for c in study.failed
                ],
            )
        )
    else:
        blocks.append(Text("None: every case ran."))
    return blocks


def section_estimates(study: Study) -> list[Block]:
    if not study.configs:
        return [Text("No successful run to compare with the estimates.")]
    flops_rows, mem_rows, time_rows = [], [], []
    for c in study.configs:
        err, why = flops_cause(c)
        flops_rows.append(
            [
                c.label,
                flops_cell(c.value("flops.predicted")),
                flops_cell(c.value("flops.counted")),
                "-" if err is None else f"{100 * err:+.1f}%",
                why,
            ]
        )
        ratio, why = memory_cause(c)
        mem_rows.append(
            [
                c.label,
                bytes_cell(c.value("memory.predicted_peak_bytes")),
                bytes_cell(c.value("memory.peak_live_bytes")),
                ratio_cell(ratio),
                bytes_cell(c.value("memory.peak_rss_bytes")),
                why,
            ]
        )
        p = study.placement(c)
        if isinstance(p, str):
            time_rows.append([c.label, "-", "-", "-", time_cell(c.median_s), "-", "-", f"not placed: {p}"])
        else:
            time_rows.append(
                [
                    c.label,
                    p.bound,
                    f"{p.intensity:.3g}",
                    time_cell(p.predicted_s),
                    time_cell(p.measured_s),
                    ratio_cell(p.measured_over_predicted),
                    pct_cell(p.efficiency),
                    time_cause(p),
                ]
            )
    return [
        Subheading("FLOPs"),
        Text(
            "Predicted: the static analysis of the model before the run; counted: the same counter over one real step."
        ),
        Table(["run", "predicted", "counted", "error", "likely cause"], flops_rows),
        Subheading("Memory"),
        Text(
            "Peak of live tensors measured in the run against the liveness estimate. Peak RSS is the whole "
            "process (the Python and PyTorch runtime, allocator caches), shown for scale, not compared."
        ),
        Table(
            [
                "run",
                "estimated peak",
                "measured peak live",
                "measured / estimate",
                "peak RSS",
                "likely cause",
            ],
            mem_rows,
        ),
        Subheading("Time: roofline prediction vs measurement"),
        Text(
            "Roofline time = max(counted FLOPs / compute peak, counted bytes / DRAM bandwidth): the step's time "
            "if it ran exactly at the roof. The ratio is measured over predicted; efficiency is achieved FLOP/s "
            "over the attainable rate at the run's intensity."
        ),
        Table(
            [
                "run",
                "bound",
                "FLOP/B",
                "roofline time",
                "measured",
                "measured / roofline",
                "efficiency",
                "likely cause",
            ],
            time_rows,
        ),
    ]


def section_roofline(study: Study) -> list[Block]:
    blocks: list[Block] = [
        Text(
            "One chart per environment with every model: filled markers are measured (counted FLOPs over the "
            "median step), hollow ones the same work on the roof; the dotted line between them is the gap the "
            "previous section explains. Bytes are minimum traffic, not measured DRAM traffic."
        )
    ]
    for k, env in enumerate(study.environments):
        configs = [c for c in study.configs if c.environment == env]
        placed = [p for p in (study.placement(c) for c in configs) if not isinstance(p, str)]
        blocks.append(Subheading(f"Roofline: {env}"))
        if not placed:
            reasons = sorted({p for p in (study.placement(c) for c in configs) if isinstance(p, str)})
            blocks.append(
                Text("No run placed: " + ("; ".join(reasons) if reasons else "no successful run") + ".")
            )
            continue
        roofs: dict[str, figures.Roof] = {}
        for p in placed:
            for r in p.roofs.chart:
                roofs.setdefault(r.label, r)
        points = [
            figures.RoofPoint(p.config.model, p.config.settings_text, p.intensity, p.achieved, p.attainable)
            for p in placed
        ]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", env)
        path = figures.roofline(
            study.fig_dir / f"roofline_{k:02d}_{slug}.png", f"Roofline: {env}", list(roofs.values()), points
        )
        blocks.append(
            Image(
                study.add_figure(path),
                f"Roofline of {env}: every model's measured step and its place on the roof.",
            )
        )
        blocks.append(
            Table(
                ["run", "FLOP/B", "attainable", "achieved", "efficiency", "bound", "roofs"],
                [
                    [
                        p.config.name,
                        f"{p.intensity:.3g}",
                        rate_cell(p.attainable),
                        rate_cell(p.achieved),
                        pct_cell(p.efficiency),
                        p.bound,
                        f"{p.roofs.peak_label}; {p.roofs.bandwidth_label}",
                    ]
                    for p in placed
                ],
            )
        )
        not_placed = [(c, study.placement(c)) for c in configs if isinstance(study.placement(c), str)]
        if not_placed:
            blocks.append(Bullets([f"{c.name}: not placed ({why})" for c, why in not_placed]))
    return blocks


def section_comparison(study: Study) -> list[Block]:
    comparisons = study.comparisons()
    if not comparisons:
        return [Text("No model ran with the same settings in two environments: nothing to compare.")]
    priced = any(study.price(e) is not None for e in study.environments)
    baseline_env = study.environments[0]
    rows = []
    for name, configs in comparisons:
        base = next((c for c in configs if c.environment == baseline_env), configs[0])
        for c in configs:
            speedup = base.median_s / c.median_s if base.median_s and c.median_s else None
            price = study.price(c.environment)
            cost = price / 3600 / c.samples_per_s if price is not None and c.samples_per_s else None
            sig = c.compared_with(base)
            row = [
                name,
                c.environment,
                time_cell(c.median_s),
                num_cell(c.samples_per_s),
                ratio_cell(speedup),
                f"[{sig.ci_low:.3g}, {sig.ci_high:.3g}]" if sig else "-",
                f"{sig.p_value:.2g}: {sig.verdict}"
                if sig
                else ("baseline" if c is base else "no raw samples"),
            ]
            if priced:
                row += [
                    money_cell(price),
                    money_cell(cost),
                    money_cell(cost * 1e6 if cost is not None else None),
                ]
            rows.append(row)
    headers = [
        "model",
        "environment",
        "median step",
        "samples/s",
        "speedup vs baseline",
        "95% interval",
        "U test p: verdict",
    ]
    if priced:
        headers += ["price / hour", "cost / sample", "cost / 1M samples"]
    blocks: list[Block] = [
        Text(
            f"Speedup = median step time in the baseline environment over the median step time here (baseline: "
            f"the first environment a model ran in, {baseline_env} when it did). Whether it is real: a bootstrap "
            "95% interval of the speedup and a Mann-Whitney U test on every timed step (repetitions pooled); "
            "significant when p < 0.05."
            + (
                " Cost per sample = price per hour / 3600 / samples per second."
                if priced
                else " No environment has a price_per_hour: no costs."
            )
        ),
        Table(headers, rows),
    ]
    envs = [e for e in study.environments if any(c.environment == e for _, cs in comparisons for c in cs)]
    series: dict[str, list[float | None]] = {e: [] for e in envs}
    notes: dict[str, list[str]] = {e: [] for e in envs}
    for _, configs in comparisons:
        base = next((c for c in configs if c.environment == baseline_env), configs[0])
        for e in envs:
            here = next((c for c in configs if c.environment == e), None)
            if here is not None and here.median_s and base.median_s:
                series[e].append(base.median_s / here.median_s)
                notes[e].append(f"{num_cell(here.samples_per_s)}/s")
            else:
                series[e].append(None)
                notes[e].append("")
    path = figures.grouped_bars(
        study.fig_dir / "comparison.png",
        f"Speedup over {baseline_env} (label: samples/s)",
        [n for n, _ in comparisons],
        series,
        "speedup (ratio of median step times)",
        notes=notes,
        reference=1.0,
    )
    blocks.append(
        Image(
            study.add_figure(path),
            "Speedup of each model and settings per environment over the baseline (higher is better), "
            "with its throughput.",
        )
    )
    return blocks


def section_scaling(study: Study) -> list[Block]:
    axes = [a for a in SCALING_AXES if a in study.varying]
    if not axes:
        return [Text("The study varies neither batch nor threads: no scaling plot.")]
    blocks: list[Block] = []
    for axis in axes:
        series = scaling_series(study, axis)
        blocks.append(Subheading(f"Scaling with {axis}"))
        if not series:
            blocks.append(Text(f"No model ran at two {axis} values with its other settings fixed."))
            continue
        rows = []
        for name, configs in series.items():
            first = configs[0]
            for c in configs:
                gain = (
                    c.samples_per_s / first.samples_per_s if c.samples_per_s and first.samples_per_s else None
                )
                scale = c.settings[axis] / first.settings[axis]
                rows.append(
                    [
                        name,
                        c.environment,
                        str(c.settings[axis]),
                        time_cell(c.median_s),
                        num_cell(c.samples_per_s),
                        ratio_cell(gain),
                        pct_cell(gain / scale if gain is not None else None),
                    ]
                )
        eff = "parallel efficiency" if axis == "threads" else "per-step efficiency"
        blocks.append(
            Text(
                f"Throughput gain = samples/s over samples/s at the smallest {axis}; {eff} = gain / ({axis} ratio)"
                + (
                    ": 100% is perfect scaling."
                    if axis == "threads"
                    else ": 100% means the step time did not grow with the batch."
                )
            )
        )
        blocks.append(Table(["series", "environment", axis, "median step", "samples/s", "gain", eff], rows))
        points = {
            name: [
                (
                    float(c.settings[axis]),
                    (c.samples_per_s or 0) / (cs[0].samples_per_s or 1),
                    f"{num_cell(c.samples_per_s)}/s",
                )
                for c in cs
            ]
            for name, cs in series.items()
        }
        path = figures.scaling(
            study.fig_dir / f"scaling_{axis}.png",
            f"Throughput gain vs {axis}",
            axis,
            points,
            f"samples/s over samples/s at the smallest {axis}",
        )
        blocks.append(
            Image(
                study.add_figure(path),
                f"Throughput gain against {axis} (label: samples/s), the setting on a log-2 axis; dashed: linear scaling.",
            )
        )
    return blocks
