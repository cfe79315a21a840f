"""The report's projection section: each model's step timed at the roofs of the study's own machines (beside what
was measured there) and of spec-sheet GPUs the study did not run on (``project_to`` in the spec).

The method is :func:`nnperf.analysis.projection.time_at_roofs`, the one ``nnperf predict`` uses, on the op costs
the study stored with each model's static analysis (``cost_classes``). A study environment's roofs are the ones
its runs are placed under in the roofline section (the GEMM rate at the run's threads, DRAM or HBM bandwidth), its
per-call floor the machine profile's measured one; a card's roofs are its spec sheet's, with no floor.
"""

from __future__ import annotations

from dataclasses import dataclass

from nnperf.analysis.projection import (
    CostClass,
    classes_from_rows,
    memory_fit,
    project_target,
    time_at_roofs,
    tokens_per_step,
)
from nnperf.errors import UsageError
from nnperf.report import figures
from nnperf.report.cells import dotted_get, finite, ratio_cell, time_cell
from nnperf.report.document import Block, Bullets, Image, Subheading, Table, Text
from nnperf.report.study_digest import Config, Study, roof_dtype_of
from nnperf.units import fmt_bytes, fmt_count_short


@dataclass
class _Row:
    machine: str
    roofs: str
    estimate_s: float | None
    pass_bound_s: float | None
    measured_s: float | None
    throughput: str
    memory: str
    fits: bool
    why: str = ""  # why there is no estimate


def _cards(study: Study) -> tuple[list[str], list[str]]:
    """The spec's ``project_to`` cards (the default set when it does not say) and notes on unknown ones."""
    from nnperf.experiments.spec import DEFAULT_PROJECT_TO
    from nnperf.machine.targets import find_card

    spec = study.data.spec or {}
    raw = spec.get("project_to", list(DEFAULT_PROJECT_TO)) if isinstance(spec, dict) else []
    names = [str(x) for x in raw] if isinstance(raw, list) else []
    cards, notes = [], []
    for name in names:
        try:
            find_card(name)
        except UsageError:
            notes.append(
                f"project_to names {name!r}, which is not a card of nnperf's spec-sheet table: left out"
            )
            continue
        cards.append(name)
    return cards, notes


def _fit(required: float | None, capacity: float | None) -> tuple[str, bool]:
    """The memory cell and whether the step fits (as `nnperf predict` judges it)."""
    if required is None:
        return "-", True
    if not capacity:
        return f"{fmt_bytes(required)} / ?", True
    word = memory_fit(int(required), int(capacity))
    return f"{fmt_bytes(required)} / {fmt_bytes(capacity)}: {word}", word != "no"


def _rate(samples: int, tokens: int | None, seconds: float | None) -> str:
    if not seconds:
        return "-"
    if tokens:
        return f"{fmt_count_short(tokens / seconds)} tok/s"
    return f"{fmt_count_short(samples / seconds)} samples/s"


def _environment_row(
    study: Study, c: Config, classes: list[CostClass], required: float | None, work: tuple
) -> _Row:
    from nnperf.machine.targets import target_from_profile

    gpu = str(c.spec.get("device") or "cpu").startswith("cuda")
    # The environment's memory and per-call floor as `nnperf predict` reads them from its machine profile; its
    # roofs are the ones its runs are placed under (below), at the run's threads.
    try:
        target = target_from_profile(
            study.machine(c.environment) or {}, "gpu" if gpu else "cpu", c.environment
        )
        capacity, floor = target.memory_bytes, finite(target.call_overhead_s)
    except UsageError:  # a CUDA run on a profile without a GPU: its roofs say why there is no estimate
        capacity = floor = None
    memory, fits = _fit(required, finite(capacity))
    label = f"{c.environment} (measured here{': ' + c.settings_text if c.settings_text else ''})"
    roofs = study.roofs(c)
    if isinstance(roofs, str):
        return _Row(label, "-", None, None, c.median_s, "-", memory, fits, why=roofs)
    t = time_at_roofs(
        classes, peak=roofs.peak, gemm_peak=roofs.peak, bandwidth=roofs.bandwidth, floor=floor or 0.0
    )
    floor_text = f"; floor {time_cell(floor)}" if floor else "; no measured floor"
    return _Row(
        label,
        f"{roofs.peak_label}; {roofs.bandwidth_label}{floor_text}",
        t.estimate_s,
        t.pass_bound_s,
        c.median_s,
        _rate(*work, t.estimate_s),
        memory,
        fits,
    )


def _card_row(card: str, dtype: str, classes: list[CostClass], required: float | None, work: tuple) -> _Row:
    from nnperf.machine.targets import target_from_card

    target = target_from_card(card)
    memory, fits = _fit(required, target.memory_bytes)
    try:
        t = project_target(
            classes, target, dtype=dtype, gemm_dtype=dtype, required_bytes=0, samples=work[0], tokens=work[1]
        )
    except UsageError:
        return _Row(
            target.device, "-", None, None, None, "-", memory, fits, why=f"the spec sheet has no {dtype} rate"
        )
    compute, hbm = t.compute_roof, t.bandwidth_roof
    roofs = f"{dtype} nominal {compute.flops_per_s / 1e12:.4g} TFLOP/s; HBM nominal {hbm.bytes_per_s / 1e9:.4g} GB/s"
    return _Row(
        target.device,
        roofs + "; no floor",
        t.estimate_s,
        t.pass_bound_s,
        None,
        _rate(*work, t.estimate_s),
        memory,
        fits,
    )


def _groups(study: Study) -> tuple[dict[tuple[str, str], list[Config]], list[str]]:
    """Configs by (stored static analysis, pass): the configs that share the work to project."""
    groups: dict[tuple[str, str], list[Config]] = {}
    missing: list[str] = []
    for c in study.configs:
        key = dotted_get(c.cases[0].record, "case.static_key")
        static = study.data.statics.get(key) if isinstance(key, str) else None
        if static is None:
            missing.append(f"{c.label}: no stored static analysis for its model and input")
            continue
        rows = dotted_get(static, f"cost_classes.{'train' if c.spec.get('mode') == 'train' else 'infer'}")
        if not isinstance(rows, list):
            missing.append(
                f"{c.label}: its stored static analysis has no op costs (written by an older nnperf)"
            )
            continue
        groups.setdefault((key, str(c.spec.get("mode"))), []).append(c)
    return groups, missing


def section_projection(study: Study) -> list[Block]:
    cards, notes = _cards(study)
    groups, missing = _groups(study)
    blocks: list[Block] = [
        Text(
            "Each model's step timed at the roofs of the study's machines and of spec-sheet GPUs it did not run on: "
            "every op call at max(FLOPs / peak, bytes / bandwidth), at least the machine's measured cost of one "
            "call, summed (the method of `nnperf predict`). A lower bound for eager execution: measured ÷ "
            "estimate says how far from the roofs each run is; on the cards it is a projection, not a "
            "measurement. Pass bound: the whole step as one roofline point (perfect overlap). Memory: the "
            "step's static peak against the device's capacity. The cards have no measured cost per call: a "
            "GPU kernel launch takes a few microseconds, so a step of N op calls takes at least N times that, "
            "which their estimates leave out (`nnperf predict --assume-floor-us` adds it)."
        )
    ]
    if not groups:
        blocks.append(
            Text("No run to project: " + ("; ".join(missing[:3]) if missing else "no successful run") + ".")
        )
        return blocks
    for (key, mode), configs in groups.items():
        static = study.data.statics[key]
        classes = classes_from_rows(
            dotted_get(static, f"cost_classes.{'train' if mode == 'train' else 'infer'}")
        )
        required = finite(dotted_get(static, f"memory.{'peak_train' if mode == 'train' else 'peak_infer'}"))
        work = (int(static.get("batch") or 1), tokens_per_step(str(static.get("input") or "")))
        pass_name = (
            "training step" if mode == "train" else "decode step" if static.get("context") else "inference"
        )
        calls = sum(c.count for c in classes)
        blocks.append(
            Subheading(f"{configs[0].model}: {static.get('input')}, {pass_name}, {calls:,} op calls")
        )
        rows = [_environment_row(study, c, classes, required, work) for c in configs]
        dtype = roof_dtype_of(configs[0].spec)
        rows += [_card_row(card, dtype, classes, required, work) for card in cards]
        blocks.append(
            Table(
                [
                    "machine",
                    "roofs",
                    "estimate",
                    "pass bound",
                    "measured",
                    "measured ÷ estimate",
                    "throughput (est.)",
                    "memory needed / capacity",
                ],
                [
                    [
                        r.machine,
                        r.roofs,
                        time_cell(r.estimate_s) if r.estimate_s is not None else f"- ({r.why})",
                        time_cell(r.pass_bound_s),
                        time_cell(r.measured_s),
                        ratio_cell(r.measured_s / r.estimate_s) if r.measured_s and r.estimate_s else "-",
                        r.throughput,
                        r.memory,
                    ]
                    for r in rows
                ],
            )
        )
        path = figures.estimate_bars(
            study.fig_dir / f"projection_{len(study.figures):02d}.png",
            f"{configs[0].model}: {pass_name}, estimated at each machine's roofs",
            [r.machine for r in rows],
            [r.estimate_s for r in rows],
            [r.measured_s for r in rows],
        )
        blocks.append(
            Image(
                study.add_figure(path),
                f"{configs[0].model} ({static.get('input')}, {pass_name}): the estimate at each machine's roofs "
                "(bars) and the measured median where the study ran it (diamonds).",
            )
        )
        fitting = [r for r in rows if r.estimate_s and r.fits]
        if fitting:
            best = min(fitting, key=lambda r: r.estimate_s or 0.0)
            blocks.append(
                Text(
                    f"Fastest at its roofs (and fits): {best.machine}, {time_cell(best.estimate_s)} per step."
                )
            )
    if missing or notes:
        blocks.append(Bullets(notes + [f"not projected: {m}" for m in missing]))
    return blocks
