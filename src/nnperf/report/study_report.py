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
"""

from __future__ import annotations

import base64
import html
import math
import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nnperf.analysis.roofline import ceilings_from_profile, place
from nnperf.analysis.roofline_points import roof_dtype
from nnperf.report import figures
from nnperf.units import fmt_bytes, fmt_count, fmt_time

PHASE_ORDER: tuple[str, ...] = ("data", "forward", "loss", "backward", "optimizer")
# RunSpec fields that may distinguish two cases of one model; those that vary in a study name its cases.
SETTING_FIELDS: tuple[str, ...] = (
    "mode",
    "device",
    "batch",
    "seq",
    "dtype",
    "autocast",
    "compile",
    "jit",
    "channels_last",
    "threads",
    "workers",
    "data",
    "optimizer",
)
SCALING_AXES: tuple[str, ...] = ("batch", "threads")
# Measured memory within this ratio of the estimate counts as a match.
MEMORY_MATCH = 0.05


# ---- input and output -----------------------------------------------------------------------------------------
@dataclass
class ReportInput:
    """What a report is made from: plain dicts as the results store holds them."""

    cases: list[dict[str, Any]]
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # by fingerprint
    statics: dict[str, dict[str, Any]] = field(default_factory=dict)  # by store key
    spec: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    # Trace analyses of profiled cases: (what the trace is of, nnperf.analysis.trace.TraceReport).
    traces: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    figures: list[Path]


# ---- document blocks ------------------------------------------------------------------------------------------
@dataclass
class Text:
    text: str


@dataclass
class Subheading:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path  # the PNG written under the report's figures/ folder
    caption: str


Block = Text | Subheading | Bullets | Table | Image


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Block]


# ---- formatting -----------------------------------------------------------------------------------------------
def _finite(x: Any) -> float | None:
    """A usable number, or None (missing, NaN, infinite, not a number)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _time(x: float | None) -> str:
    return "-" if x is None else fmt_time(x)


def _bytes(x: float | None) -> str:
    return "-" if x is None else fmt_bytes(x)


def _flops(x: float | None) -> str:
    return "-" if x is None else fmt_count(x)


def _rate(x: float | None, unit: str = "FLOP/s") -> str:
    return "-" if x is None else f"{x / 1e9:.3g} G{unit}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _cores(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _money(x: float | None) -> str:
    return "-" if x is None else f"${x:.3g}"


def _get(d: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _median(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def _setting_text(name: str, value: Any) -> str:
    if name == "batch":
        return f"b{value}"
    if name == "seq":
        return f"seq{value}"
    if name in ("mode", "device", "dtype"):
        return str(value)
    return f"{name}={value}"


# ---- the digested study ---------------------------------------------------------------------------------------
@dataclass
class Case:
    """One valid case record with the figures the report uses pulled out (None where absent)."""

    record: dict[str, Any]
    environment: str
    model: str
    fingerprint: str

    @property
    def spec(self) -> dict[str, Any]:
        return self.record["spec"]

    @property
    def ok(self) -> bool:
        return self.record.get("status") == "ok" and self.median_s is not None

    @property
    def median_s(self) -> float | None:
        return _finite(_get(self.record, "step_time_s.median"))

    def value(self, dotted: str) -> float | None:
        return _finite(_get(self.record, dotted))


@dataclass
class Config:
    """The ok runs of one model with one set of settings in one environment (repetitions pooled)."""

    environment: str
    model: str
    settings: dict[str, Any]  # the varying RunSpec fields
    cases: list[Case]

    @property
    def settings_text(self) -> str:
        return " ".join(_setting_text(k, v) for k, v in self.settings.items())

    @property
    def name(self) -> str:
        """Model and settings, without the environment."""
        return f"{self.model} {self.settings_text}".strip()

    @property
    def label(self) -> str:
        return f"{self.name} [{self.environment}]"

    @property
    def spec(self) -> dict[str, Any]:
        return self.cases[0].spec

    def value(self, dotted: str) -> float | None:
        """The median over repetitions of a numeric field (the value itself when there is one run)."""
        return _median(c.value(dotted) for c in self.cases)

    @property
    def median_s(self) -> float | None:
        return self.value("step_time_s.median")

    @property
    def samples_per_s(self) -> float | None:
        return self.value("throughput.samples_per_s")

    def phase_shares(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in PHASE_ORDER:
            share = self.value(f"phases.{name}.share")
            if share is not None:
                out[name] = share
        if out:
            out["other"] = max(1.0 - sum(out.values()), 0.0)  # the harness's own time between phases
        return out


@dataclass
class Roofs:
    """The two roofs a configuration's run is placed under, and every roof drawn for its environment."""

    peak: float
    peak_label: str
    bandwidth: float
    bandwidth_label: str
    chart: list[figures.Roof]


@dataclass
class Placement:
    config: Config
    roofs: Roofs
    flops: float
    bytes: float
    intensity: float
    achieved: float
    attainable: float
    efficiency: float
    bound: str
    predicted_s: float
    measured_s: float

    @property
    def measured_over_predicted(self) -> float:
        return self.measured_s / self.predicted_s


@dataclass
class Study:
    data: ReportInput
    cases: list[Case]
    skipped: list[str]  # records this report could not read (its own warnings, beside the loader's)
    environments: list[str]
    env_specs: dict[str, dict[str, Any]]
    varying: list[str]
    env_bound: list[str]  # varying fields fixed by the environment (constant within each)
    configs: list[Config]
    fig_dir: Path
    figures: list[Path] = field(default_factory=list)
    _placements: dict[int, Placement | str] = field(default_factory=dict)

    @property
    def ok(self) -> list[Case]:
        return [c for c in self.cases if c.ok]

    @property
    def failed(self) -> list[Case]:
        return [c for c in self.cases if not c.ok]

    @property
    def name(self) -> str:
        spec_name = (self.data.spec or {}).get("name")
        studies = sorted(
            {str(_get(c.record, "case.study")) for c in self.cases if _get(c.record, "case.study")}
        )
        return str(spec_name or (", ".join(studies) if studies else "unnamed study"))

    def machine(self, environment: str) -> dict[str, Any] | None:
        for c in self.cases:
            if c.environment == environment and c.fingerprint:
                found = _machine(self.data.machines, c.fingerprint)
                if found is not None:
                    return found
        return None

    def price(self, environment: str) -> float | None:
        return _finite(self.env_specs.get(environment, {}).get("price_per_hour"))

    def compare_key(self, config: Config) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What two environments' runs must share to be compared: the model and the settings the
        environment does not fix."""
        return config.model, tuple((k, v) for k, v in config.settings.items() if k not in self.env_bound)

    def compare_name(self, key: tuple[str, tuple[tuple[str, Any], ...]]) -> str:
        model, settings = key
        return f"{model} {' '.join(_setting_text(k, v) for k, v in settings)}".strip()

    def comparisons(self) -> list[tuple[str, list[Config]]]:
        """Groups of configurations of the same model and settings in two or more environments."""
        groups: dict[tuple[str, tuple[tuple[str, Any], ...]], list[Config]] = {}
        for cfg in self.configs:
            if cfg.median_s is not None:
                groups.setdefault(self.compare_key(cfg), []).append(cfg)
        return [
            (self.compare_name(k), sorted(v, key=lambda c: self.environments.index(c.environment)))
            for k, v in groups.items()
            if len({c.environment for c in v}) > 1
        ]

    def placement(self, config: Config) -> Placement | str:
        """The config's run under its roofs, or why it cannot be placed."""
        key = id(config)
        if key not in self._placements:
            self._placements[key] = _place(self, config)
        return self._placements[key]

    def add_figure(self, path: Path) -> Path:
        self.figures.append(path)
        return path


def _machine(machines: dict[str, dict[str, Any]], fingerprint: str) -> dict[str, Any] | None:
    if fingerprint in machines:
        return machines[fingerprint]
    return next((m for m in machines.values() if m.get("fingerprint") == fingerprint), None)


def _env_specs(spec: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    envs = (spec or {}).get("environments") or []
    if isinstance(envs, dict):  # {name: {...}} as well as [{name: ..., ...}]
        return {str(k): dict(v or {}, name=k) for k, v in envs.items()}
    out: dict[str, dict[str, Any]] = {}
    for e in envs:
        if isinstance(e, dict) and e.get("name"):
            out[str(e["name"])] = e
        elif isinstance(e, str):
            out[e] = {"name": e}
    return out


def _read_case(record: Any, index: int) -> Case | str:
    """A Case, or the reason the record cannot be reported (never an exception: one bad record must not
    stop the report)."""
    if not isinstance(record, dict):
        return f"case record #{index} is a {type(record).__name__}, not a JSON object: skipped"
    what = _get(record, "case.id") or f"#{index}"
    if record.get("schema", "nnperf.measurement") != "nnperf.measurement":
        return f"case record {what} has schema {record.get('schema')!r}, not 'nnperf.measurement': skipped"
    if not isinstance(record.get("spec"), dict) or not record["spec"].get("model"):
        return f"case record {what} has no spec.model: skipped"
    if record.get("status") not in ("ok", "failed"):
        return f"case record {what} has status {record.get('status')!r} (expected 'ok' or 'failed'): skipped"
    case = record.get("case") if isinstance(record.get("case"), dict) else {}
    return Case(
        record=record,
        environment=str(case.get("environment") or "default"),
        model=str(case.get("model") or record["spec"]["model"]),
        fingerprint=str(case.get("fingerprint") or ""),
    )


def digest(data: ReportInput, fig_dir: Path) -> Study:
    """Sort the records into environments and configurations (pure bookkeeping, no rendering)."""
    cases: list[Case] = []
    skipped: list[str] = []
    for i, record in enumerate(data.cases):
        read = _read_case(record, i)
        if isinstance(read, str):
            skipped.append(read)
        else:
            cases.append(read)
    env_specs = _env_specs(data.spec)
    environments = list(env_specs)
    environments += [e for e in dict.fromkeys(c.environment for c in cases) if e not in env_specs]
    varying = [f for f in SETTING_FIELDS if len({repr(c.spec.get(f)) for c in cases}) > 1]
    env_bound = []
    for f in varying:
        by_env: dict[str, set[str]] = {}
        for c in cases:
            by_env.setdefault(c.environment, set()).add(repr(c.spec.get(f)))
        if all(len(v) == 1 for v in by_env.values()):
            env_bound.append(f)
    groups: dict[tuple[Any, ...], Config] = {}
    for c in cases:
        if not c.ok:
            continue
        settings = {f: c.spec.get(f) for f in varying}
        key = (c.environment, c.model, tuple(repr(v) for v in settings.values()))
        if key not in groups:
            groups[key] = Config(c.environment, c.model, settings, [])
        groups[key].cases.append(c)
    configs = sorted(
        groups.values(),
        key=lambda g: (
            environments.index(g.environment),
            g.model,
            [(str(type(v)), v if v is not None else 0) for v in g.settings.values()],
        ),
    )
    return Study(data, cases, skipped, environments, env_specs, varying, env_bound, configs, fig_dir)


def _case_settings(study: Study, case: Case) -> str:
    return " ".join(_setting_text(f, case.spec.get(f)) for f in study.varying)


# ---- roofs and placements -------------------------------------------------------------------------------------
def _gemm_peak(machine: dict[str, Any], dtype: str, threads: int | None) -> tuple[float, int] | None:
    """The machine profile's best GEMM rate of ``dtype`` at the most threads not above ``threads``."""
    by_threads = _get(machine, f"measured.gemm.{dtype}.threads") or {}
    usable = sorted(
        (int(t) for t, r in by_threads.items() if isinstance(r, dict) and _finite(r.get("best"))),
        reverse=True,
    )
    if threads is not None:
        usable = [t for t in usable if t <= threads]
    return (float(by_threads[str(usable[0])]["best"]), usable[0]) if usable else None


def _roofs(study: Study, config: Config) -> Roofs | str:
    machine = study.machine(config.environment)
    spec = config.spec
    dtype = roof_dtype(
        spec.get("dtype", "fp32") + (f" (autocast {spec['autocast']})" if spec.get("autocast") else "")
    )
    threads = spec.get("threads") or (machine and _get(machine, "probes.cpu.cores")) or None
    chart: list[figures.Roof] = []
    peak: tuple[float, str] | None = None
    own = config.value("flops.measured_peak_per_s")
    if own is not None:
        # The run looked up its own peak: the GEMM rate at its thread count, the fair ceiling for it.
        peak = (
            own,
            f"{dtype} GEMM measured at the run's {threads or 'default'} thread(s) {own / 1e9:.4g} GFLOP/s",
        )
    ceilings = ceilings_from_profile(machine) if machine else None
    if peak is None and machine:
        found = _gemm_peak(machine, dtype, threads)
        if found:
            peak = (found[0], f"{dtype} GEMM measured at {found[1]} thread(s) {found[0] / 1e9:.4g} GFLOP/s")
        elif ceilings:
            roof = next((r for r in ceilings.compute if r.dtype == dtype and r.source == "measured"), None)
            if roof:
                peak = (roof.flops_per_s, f"{dtype} measured {roof.flops_per_s / 1e9:.4g} GFLOP/s")
    nominal = config.value("flops.nominal_peak_per_s")
    if nominal is None and ceilings:
        roof = next((r for r in ceilings.compute if r.dtype == dtype and r.source == "nominal"), None)
        nominal = roof.flops_per_s if roof else None
    if peak is None and nominal is not None:
        peak = (nominal, f"{dtype} nominal {nominal / 1e9:.4g} GFLOP/s (no measured peak)")
    if peak is None:
        return (
            f"no {dtype} compute peak for {config.environment} (no machine profile with one, none in the run)"
        )
    chart.append(figures.Roof("compute", peak[0], peak[1], "nominal" not in peak[1]))
    if nominal is not None and nominal != peak[0]:
        chart.append(figures.Roof("compute", nominal, f"{dtype} nominal {nominal / 1e9:.4g} GFLOP/s", False))
    if not ceilings:
        return f"no machine profile for {config.environment}: no bandwidth roof"
    dram = [r for r in ceilings.bandwidth if r.level in ("dram", "hbm")]
    dram.sort(key=lambda r: (r.source != "measured", r.level != "dram"))
    if not dram:
        return f"the machine profile of {config.environment} has no DRAM/HBM bandwidth"
    bw = dram[0]
    bw_label = f"{bw.level.upper()} {bw.source} ({bw.kernel}) {bw.bytes_per_s / 1e9:.4g} GB/s"
    chart.append(figures.Roof("bandwidth", bw.bytes_per_s, bw_label, bw.source == "measured"))
    for r in ceilings.bandwidth:  # the cache levels' measured bandwidths: where a small working set runs
        if r.source == "measured" and r.level in ("l3", "l2") and r is not bw:
            chart.append(
                figures.Roof(
                    "bandwidth",
                    r.bytes_per_s,
                    f"{r.level.upper()} measured ({r.kernel}) {r.bytes_per_s / 1e9:.4g} GB/s",
                    True,
                )
            )
    return Roofs(peak[0], peak[1], bw.bytes_per_s, bw_label, chart)


def _place(study: Study, config: Config) -> Placement | str:
    flops, nbytes, median = config.value("flops.counted"), config.value("bytes.counted"), config.median_s
    if not flops or not nbytes or not median:
        return "the run has no counted FLOPs or bytes"
    roofs = _roofs(study, config)
    if isinstance(roofs, str):
        return roofs
    achieved = flops / median
    p = place(flops, nbytes, roofs.peak, roofs.bandwidth, achieved)
    predicted = max(flops / roofs.peak, nbytes / roofs.bandwidth)
    return Placement(
        config=config,
        roofs=roofs,
        flops=flops,
        bytes=nbytes,
        intensity=p.intensity,
        achieved=achieved,
        attainable=p.attainable_flops_per_s,
        efficiency=p.efficiency or 0.0,
        bound=p.bound,
        predicted_s=predicted,
        measured_s=median,
    )


def _time_cause(p: Placement) -> str:
    if p.bound == "below both roofs":
        return (
            f"below both roofs ({_pct(p.efficiency)} of the attainable rate): per-op overhead and latency "
            "(eager dispatch, small kernels, the Python loop) set the pace, while the roofline assumes every "
            "op runs at a ceiling"
        )
    if p.measured_over_predicted < 1:
        if p.bound == "memory":
            return (
                "faster than the DRAM roof: caches serve part of the traffic the estimate charges to DRAM "
                "(the working set fits in L2/L3)"
            )
        return "faster than the measured peak: the peak was measured low (contention while profiling?)"
    if p.bound == "memory":
        return (
            f"memory-bound at {_pct(p.efficiency)} of the roof: real traffic exceeds the counted minimum "
            "(re-reads, layout copies, unfused pointwise ops)"
        )
    return (
        f"compute-bound at {_pct(p.efficiency)} of the peak: convolutions, small or odd shapes and pointwise "
        "ops run below the GEMM rate the peak was measured with"
    )


def _flops_cause(c: Config) -> tuple[float | None, str]:
    predicted, counted = c.value("flops.predicted"), c.value("flops.counted")
    if predicted is None or counted is None:
        return None, "no static prediction in the record"
    err = (counted - predicted) / predicted if predicted else None
    if counted == predicted:
        return 0.0, "match: the same per-op formulas on meta tensors and on the run's real tensors"
    uncounted = _get(c.cases[0].record, "flops.uncounted_ops") or {}
    why = f"ops without a formula in the run: {', '.join(map(str, uncounted))}; " if uncounted else ""
    return err, why + "data-dependent ops or another code path (kernel choice, autocast) in the real run"


def _memory_cause(c: Config) -> tuple[float | None, str]:
    ratio = c.value("memory.measured_over_predicted")
    if ratio is None:
        live, predicted = c.value("memory.peak_live_bytes"), c.value("memory.predicted_peak_bytes")
        ratio = live / predicted if live and predicted else None
    if ratio is None:
        return None, "no measured or no predicted peak"
    if abs(ratio - 1) <= MEMORY_MATCH:
        return ratio, "match: the liveness model tracks the same tensors the run keeps alive"
    if ratio > 1:
        return ratio, (
            "more than estimated: temporaries the liveness model does not see (kernel workspaces, autograd "
            "buffers, allocator rounding)"
        )
    return ratio, "less than estimated: tensors freed earlier than the model assumes (in-place or fused ops)"


# ---- statics --------------------------------------------------------------------------------------------------
def _static_label(key: str, s: dict[str, Any]) -> str:
    """The model's label in the study: the first field of the runner's store key, else the summary's model."""
    store_key = str(s.get("store_key", key))
    return store_key.split("|", 1)[0] if "|" in store_key else str(s.get("model", key))


# ---- sections -------------------------------------------------------------------------------------------------
def _section_design(study: Study) -> list[Block]:
    spec = study.data.spec
    ok, failed = len(study.ok), len(study.failed)
    models = sorted({c.model for c in study.cases})
    blocks: list[Block] = [
        Text(
            f"{len(study.cases)} case record(s): {ok} ok, {failed} failed; {len(models)} model(s) in "
            f"{len(study.environments)} environment(s)."
        )
    ]
    if not spec:
        blocks.append(Text("No study spec in the store: the design below is read from the records."))
    else:
        if spec.get("description"):
            blocks.append(Text(str(spec["description"]).strip()))
        blocks.append(
            Text(
                f"Hypothesis: {str(spec['hypothesis']).strip()}"
                if spec.get("hypothesis")
                else "Hypothesis: none stated in the spec."
            )
        )
    rows: list[list[str]] = [["models", ", ".join(models) or "-"]]
    axes = (spec or {}).get("axes") or {}
    if isinstance(axes, dict) and axes:
        for name, values in axes.items():
            shown = ", ".join(map(str, values)) if isinstance(values, list) else str(values)
            rows.append([f"axis {name}", shown])
    for f in study.varying:
        if f not in axes:
            rows.append([f"varies: {f}", ", ".join(sorted({str(c.spec.get(f)) for c in study.cases}))])
    rows.append(["environments", ", ".join(study.environments) or "-"])
    run = (spec or {}).get("run")
    if isinstance(run, dict) and run:
        rows.append(["run", ", ".join(f"{k}={v}" for k, v in run.items())])
    if spec and isinstance(spec.get("models"), list):
        shown = []
        for m in spec["models"]:
            if isinstance(m, dict):
                extra = ", ".join(f"{k}={v}" for k, v in m.items() if k not in ("name", "label"))
                shown.append(f"{m.get('label') or m.get('name')}" + (f" ({extra})" if extra else ""))
            else:
                shown.append(str(m))
        rows.append(["model entries", "; ".join(shown)])
    blocks.append(Table(["design", "value"], rows))
    return blocks


def _section_environments(study: Study) -> list[Block]:
    hw: list[list[str]] = []
    sw: list[list[str]] = []
    ceil: list[list[str]] = []
    for env in study.environments:
        machine = study.machine(env) or {}
        cases = [c for c in study.cases if c.environment == env]
        fps = sorted({c.fingerprint for c in cases if c.fingerprint})
        cpu = _get(machine, "probes.cpu") or {}
        virt = _get(machine, "probes.virtualization") or {}
        gpu = _get(machine, "probes.gpu") or {}
        gpu_text = "-"
        if gpu.get("available"):
            devices = gpu.get("devices") or []
            gpu_text = str(
                gpu.get("name")
                or (devices[0].get("name") if devices and isinstance(devices[0], dict) else "yes")
            )
        settings = (
            ", ".join(f"{k}={v}" for k, v in study.env_specs.get(env, {}).items() if k != "name") or "-"
        )
        where = "/".join(str(x) for x in (virt.get("environment"), virt.get("cloud")) if x) or "-"
        hw.append(
            [
                env,
                ", ".join(fps) or "-",
                str(cpu.get("model") or "-"),
                f"{cpu.get('cores', '-')} cores / {cpu.get('threads', '-')} threads",
                _bytes(_finite(cpu.get("memory_bytes"))),
                where,
                gpu_text,
                settings,
            ]
        )
        envs = [c.record.get("environment") or {} for c in cases]

        def one(key: str, envs: list[dict[str, Any]] = envs) -> str:
            values = sorted({str(e.get(key)) for e in envs if e.get(key) is not None})
            return " / ".join(values) if values else "-"

        torch_cfg = _get(machine, "probes.software.torch.config") or {}
        sw.append(
            [
                env,
                one("python"),
                one("torch"),
                one("platform"),
                str(torch_cfg.get("blas") or "-"),
                str(_get(machine, "probes.software.torch.cpu_capability") or "-"),
            ]
        )
        measured = _get(machine, "measured.flops") or {}
        nominal = _get(machine, "nominal.flops") or {}
        bw = _get(machine, "measured.bandwidth") or {}
        run_peaks = sorted(
            {c.value("flops.measured_peak_per_s") for c in cases if c.value("flops.measured_peak_per_s")}
        )
        ceil.append(
            [
                env,
                ", ".join(f"{k} {_rate(_finite(v))}" for k, v in measured.items() if _finite(v)) or "-",
                ", ".join(f"{k} {_rate(_finite(v))}" for k, v in nominal.items() if _finite(v)) or "-",
                ", ".join(_rate(p) for p in run_peaks) or "-",
                _rate(
                    _finite(_get(bw, "dram.triad"))
                    or _finite(max((v for v in (bw.get("dram") or {}).values() if _finite(v)), default=None)),
                    "B/s",
                ),
                _rate(_finite(_get(bw, "l3.triad")) or _finite(_get(bw, "l3.read_sum")), "B/s"),
            ]
        )
        if len(fps) > 1:
            ceil[-1][0] += f" ({len(fps)} machines: the first profile is shown)"
    blocks: list[Block] = [
        Subheading("Hardware"),
        Table(["environment", "machine", "CPU", "cores", "memory", "virtualization", "GPU", "settings"], hw),
        Subheading("Software"),
        Table(["environment", "python", "torch", "platform", "BLAS", "CPU capability"], sw),
        Subheading("Measured ceilings"),
        Text(
            "Peaks measured by `nnperf machine` (GEMM per dtype at all cores; STREAM triad for DRAM) beside the "
            "spec-sheet figures; 'run peak' is the GEMM rate at the run's own thread count, the roof its "
            "runs are placed under."
        ),
        Table(
            ["environment", "measured peak", "nominal peak", "run peak", "DRAM bandwidth", "L3 bandwidth"],
            ceil,
        ),
    ]
    missing = [env for env in study.environments if study.machine(env) is None]
    if missing:
        blocks.append(Text(f"No machine profile in the store for: {', '.join(missing)}."))
    return blocks


def _section_models(study: Study) -> list[Block]:
    statics = study.data.statics
    if not statics:
        return [Text("No static analysis in the store: run the study again to store the models' summaries.")]
    rows: list[list[str]] = []
    mem_rows: list[list[str]] = []
    labels: list[str] = []
    parts: list[dict[str, float]] = []
    for key, s in sorted(statics.items(), key=lambda kv: (_static_label(*kv), kv[1].get("batch") or 0)):
        label = _static_label(key, s)
        name = f"{label} b{s.get('batch')} {s.get('input', '')}".strip()
        fwd, bwd, opt = (_finite(_get(s, f"{p}.flops")) for p in ("forward", "backward", "optimizer"))
        step = sum(x for x in (fwd, bwd, opt) if x is not None) if fwd is not None else None
        step_bytes = sum(_finite(_get(s, f"{p}.bytes")) or 0 for p in ("forward", "backward", "optimizer"))
        rows.append(
            [
                name,
                _flops(_finite(_get(s, "params.total"))),
                _flops(fwd),
                _flops(_finite(_get(s, "forward.macs"))),
                _flops(bwd),
                _ratio(bwd / fwd if fwd and bwd else None),
                _flops(step),
                f"{step / step_bytes:.3g}" if step and step_bytes else "-",
            ]
        )
        mem = s.get("memory") or {}
        breakdown = {
            k: float(mem[k])
            for k in ("parameters", "gradients", "optimizer", "activations", "inputs")
            if _finite(mem.get(k))
        }
        mem_rows.append(
            [name]
            + [_bytes(_finite(mem.get(k))) for k in ("parameters", "gradients", "optimizer", "activations")]
            + [_bytes(_finite(mem.get("peak_train"))), _bytes(_finite(mem.get("peak_infer")))]
        )
        total = sum(breakdown.values())
        if total > 0:  # shares, so a 20 K-parameter CNN and a ResNet share one axis
            labels.append(f"{name} ({_bytes(total)})")
            parts.append({k: v / total for k, v in breakdown.items()})
    blocks: list[Block] = [
        Text(
            "Static estimates from `nnperf summary` (dispatch-level counter over meta tensors): FLOPs count 2 "
            "per multiply-add, MACs are multiply-adds of matmul/conv/attention only; the training step is "
            "forward + backward + optimizer; intensity = step FLOPs / step minimum bytes."
        ),
        Table(
            [
                "model",
                "params",
                "forward FLOPs",
                "forward MACs",
                "backward FLOPs",
                "bwd/fwd",
                "step FLOPs",
                "step FLOP/B",
            ],
            rows,
        ),
        Subheading("Memory breakdown (training step)"),
        Table(
            [
                "model",
                "parameters",
                "gradients",
                "optimizer state",
                "activations",
                "peak (train)",
                "peak (infer)",
            ],
            mem_rows,
        ),
    ]
    if parts:
        path = figures.stacked_shares(
            study.fig_dir / "memory_breakdown.png",
            "Estimated training memory by kind (share of the sum; the label gives the sum)",
            labels,
            parts,
            figures.MEMORY_COLOURS,
            "% of the memory",
            percent=True,
        )
        blocks.append(
            Image(study.add_figure(path), "Estimated memory of the training step by kind (static analysis).")
        )
    return blocks


def _section_measurements(study: Study) -> list[Block]:
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
                    _time(median),
                    _pct(iqr / median if iqr is not None and median else None),
                    _time(c.value("step_time_s.p90")),
                    str(sum(int(c2.value("step_time_s.n") or 0) for c2 in c.cases)),
                    _num(c.samples_per_s),
                    _cores(c.value("time_s.cpu_utilization")),
                    _bytes(c.value("memory.peak_live_bytes")),
                    _bytes(c.value("memory.peak_rss_bytes")),
                    _rate(c.value("flops.achieved_per_s")),
                    _pct(c.value("flops.mfu")),
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
                        [c.label] + [_pct(c.phase_shares().get(p)) for p in (*PHASE_ORDER, "other")]
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
                        _case_settings(study, c),
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


def _section_estimates(study: Study) -> list[Block]:
    if not study.configs:
        return [Text("No successful run to compare with the estimates.")]
    flops_rows, mem_rows, time_rows = [], [], []
    for c in study.configs:
        err, why = _flops_cause(c)
        flops_rows.append(
            [
                c.label,
                _flops(c.value("flops.predicted")),
                _flops(c.value("flops.counted")),
                "-" if err is None else f"{100 * err:+.1f}%",
                why,
            ]
        )
        ratio, why = _memory_cause(c)
        mem_rows.append(
            [
                c.label,
                _bytes(c.value("memory.predicted_peak_bytes")),
                _bytes(c.value("memory.peak_live_bytes")),
                _ratio(ratio),
                _bytes(c.value("memory.peak_rss_bytes")),
                why,
            ]
        )
        p = study.placement(c)
        if isinstance(p, str):
            time_rows.append([c.label, "-", "-", "-", _time(c.median_s), "-", "-", f"not placed: {p}"])
        else:
            time_rows.append(
                [
                    c.label,
                    p.bound,
                    f"{p.intensity:.3g}",
                    _time(p.predicted_s),
                    _time(p.measured_s),
                    _ratio(p.measured_over_predicted),
                    _pct(p.efficiency),
                    _time_cause(p),
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


def _section_roofline(study: Study) -> list[Block]:
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
                        _rate(p.attainable),
                        _rate(p.achieved),
                        _pct(p.efficiency),
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


def _section_comparison(study: Study) -> list[Block]:
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
            row = [name, c.environment, _time(c.median_s), _num(c.samples_per_s), _ratio(speedup)]
            if priced:
                row += [_money(price), _money(cost), _money(cost * 1e6 if cost is not None else None)]
            rows.append(row)
    headers = ["model", "environment", "median step", "samples/s", "speedup vs baseline"]
    if priced:
        headers += ["price / hour", "cost / sample", "cost / 1M samples"]
    blocks: list[Block] = [
        Text(
            f"Speedup = median step time in the baseline environment over the median step time here (baseline: "
            f"the first environment a model ran in, {baseline_env} when it did)."
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
                notes[e].append(f"{_num(here.samples_per_s)}/s")
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


def _scaling_series(study: Study, axis: str) -> dict[str, list[Config]]:
    """Lines of a scaling plot: runs that differ only in ``axis``. When the environment fixes the axis (an
    environment per thread count), the line runs across environments; otherwise each environment has its own."""
    across = axis in study.env_bound
    out: dict[str, list[Config]] = {}
    for c in study.configs:
        if c.samples_per_s is None or not isinstance(c.settings.get(axis), int):
            continue
        others = " ".join(
            _setting_text(k, v)
            for k, v in c.settings.items()
            if k != axis and (not across or k not in study.env_bound)
        )
        name = f"{c.model} {others}".strip() + ("" if across else f" [{c.environment}]")
        out.setdefault(name, []).append(c)
    return {
        k: sorted(v, key=lambda c: c.settings[axis])
        for k, v in out.items()
        if len({c.settings[axis] for c in v}) > 1
    }


def _section_scaling(study: Study) -> list[Block]:
    axes = [a for a in SCALING_AXES if a in study.varying]
    if not axes:
        return [Text("The study varies neither batch nor threads: no scaling plot.")]
    blocks: list[Block] = []
    for axis in axes:
        series = _scaling_series(study, axis)
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
                        _time(c.median_s),
                        _num(c.samples_per_s),
                        _ratio(gain),
                        _pct(gain / scale if gain is not None else None),
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
                    f"{_num(c.samples_per_s)}/s",
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


def findings(study: Study) -> list[str]:
    """The discussion: statements computed from the records, each with the number that backs it."""
    out: list[str] = []
    for name, configs in study.comparisons():
        best = min(configs, key=lambda c: c.median_s or math.inf)
        worst = max(configs, key=lambda c: c.median_s or 0.0)
        if best.median_s and worst.median_s:
            out.append(
                f"{name}: best environment {best.environment} at {_num(best.samples_per_s)} samples/s, "
                f"{_ratio(worst.median_s / best.median_s)} the speed of {worst.environment} (median step "
                f"{_time(best.median_s)} vs {_time(worst.median_s)})."
            )
        costs = [
            (study.price(c.environment) / 3600 / c.samples_per_s, c)
            for c in configs
            if study.price(c.environment) is not None and c.samples_per_s
        ]
        if len(costs) > 1:
            cost, cheapest = min(costs, key=lambda t: t[0])
            out.append(
                f"{name}: cheapest per sample in {cheapest.environment} at {_money(cost * 1e6)} per million samples."
            )
    for c in study.configs:
        p = study.placement(c)
        if isinstance(p, str):
            continue
        what = "below both roofs" if p.bound == "below both roofs" else f"{p.bound}-bound"
        out.append(
            f"{c.label}: {what}: {_rate(p.achieved)} achieved is {_pct(p.efficiency)} of the "
            f"{_rate(p.attainable)} attainable at {p.intensity:.3g} FLOP/B; the roofline predicts "
            f"{_time(p.predicted_s)}, measured {_time(p.measured_s)} ({_ratio(p.measured_over_predicted)})."
        )
    for c in study.configs:
        shares = {k: v for k, v in c.phase_shares().items() if k != "other"}
        if shares:
            top = max(shares, key=lambda k: shares[k])
            rest = ", ".join(
                f"{k} {_pct(v)}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if k != top
            )
            out.append(f"{c.label}: {top} takes {_pct(shares[top])} of the step ({rest}).")
    for c in study.configs:
        ratio, _ = _memory_cause(c)
        if ratio is not None:
            out.append(
                f"{c.label}: measured peak of live tensors is {_ratio(ratio)} the estimate "
                f"({_bytes(c.value('memory.peak_live_bytes'))} vs {_bytes(c.value('memory.predicted_peak_bytes'))})."
            )
    for axis in SCALING_AXES:
        if axis not in study.varying:
            continue
        for name, configs in _scaling_series(study, axis).items():
            first, last = configs[0], configs[-1]
            if first.samples_per_s and last.samples_per_s:
                gain = last.samples_per_s / first.samples_per_s
                scale = last.settings[axis] / first.settings[axis]
                out.append(
                    f"{name}: {axis} {first.settings[axis]} -> {last.settings[axis]} changes throughput "
                    f"{_ratio(gain)} ({_pct(gain / scale)} of linear scaling)."
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


def _section_discussion(study: Study) -> list[Block]:
    found = findings(study)
    if not found:
        return [Text("No finding: no successful run.")]
    return [
        Text("Findings computed from the records above; each number also appears in a table."),
        Bullets(found),
    ]


def _section_warnings(study: Study) -> list[Block]:
    blocks: list[Block] = [Subheading("Results store")]
    store = list(study.data.warnings) + study.skipped
    blocks.append(Bullets(store) if store else Text("No file skipped: every record in the store was read."))
    rows = [
        [c.environment, f"{c.model} {_case_settings(study, c)}".strip(), w]
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


def _section_traces(study: Study) -> list[Block]:
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


SectionBuilder = Callable[[Study], list[Block]]
# The report's sections in order: (anchor, title, builder). Extend here, not with if/elif on names.
SECTIONS: tuple[tuple[str, str, SectionBuilder], ...] = (
    ("design", "Experiment design and hypothesis", _section_design),
    ("environments", "Environments", _section_environments),
    ("models", "Models", _section_models),
    ("measurements", "Measurements", _section_measurements),
    ("estimates", "Estimate vs measurement", _section_estimates),
    ("roofline", "Roofline", _section_roofline),
    ("comparison", "Environment comparison", _section_comparison),
    ("scaling", "Scaling", _section_scaling),
    ("traces", "Trace analysis", _section_traces),
    ("discussion", "Discussion", _section_discussion),
    ("warnings", "Data quality and warnings", _section_warnings),
)
SECTION_TITLES: tuple[str, ...] = tuple(title for _, title, _ in SECTIONS)


def build_sections(study: Study) -> list[Section]:
    return [Section(anchor, title, build(study)) for anchor, title, build in SECTIONS]


# ---- rendering ------------------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, subtitle: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", "", subtitle, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                lines += [b.text, ""]
            elif isinstance(b, Subheading):
                lines += [f"### {b.text}", ""]
            elif isinstance(b, Bullets):
                lines += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, Table):
                lines.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
                lines.append("|" + "|".join("---" for _ in b.headers) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                lines.append("")
            elif isinstance(b, Image):
                rel = b.path.relative_to(base).as_posix()
                lines += [f"![{_md_cell(b.caption)}]({rel})", "", f"*{b.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}nav ol{columns:2;font-size:.9em}.sub{color:#555}
"""


def render_html(title: str, subtitle: str, sections: list[Section]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(subtitle)}</p>',
        "<nav><ol>"
        + "".join(f'<li><a href="#{s.anchor}">{esc(s.title)}</a></li>' for s in sections)
        + "</ol></nav>",
    ]
    for s in sections:
        parts.append(f'<section><h2 id="{s.anchor}">{esc(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Text):
                parts.append(f"<p>{esc(b.text)}</p>")
            elif isinstance(b, Subheading):
                parts.append(f"<h3>{esc(b.text)}</h3>")
            elif isinstance(b, Bullets):
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Table):
                head = "".join(f"<th>{esc(h)}</th>" for h in b.headers)
                body = "".join(
                    "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in b.rows
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(b, Image):
                data = base64.b64encode(b.path.read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.caption)}">'
                    f"<figcaption>{esc(b.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


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
