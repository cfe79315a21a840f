"""The digested study: the records of a results store (:class:`ReportInput`) sorted into environments and
configurations (:func:`digest` -> :class:`Study`), and each configuration's run placed under its roofs
(:class:`Placement`).

Every section builder takes the :class:`Study` as its only input, so the numbers all sections show come from
one place. It is pure bookkeeping over the records: no rendering, no measuring (the sections draw the figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnperf.analysis.roofline import ceilings_from_profile, gpu_ceilings, place, preferred_roof
from nnperf.analysis.roofline_points import roof_dtype
from nnperf.report import figures
from nnperf.report.cells import dotted_get, finite, median_or_none, setting_text

PHASE_ORDER: tuple[str, ...] = ("data", "forward", "loss", "backward", "optimizer")
# RunSpec fields that may distinguish two cases of one model; those that vary in a study name its cases.
SETTING_FIELDS: tuple[str, ...] = (
    "mode",
    "device",
    "batch",
    "seq",
    "context",
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


# ---- input ----------------------------------------------------------------------------------------------------
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
        return finite(dotted_get(self.record, "step_time_s.median"))

    def value(self, dotted: str) -> float | None:
        return finite(dotted_get(self.record, dotted))


@dataclass
class Config:
    """The ok runs of one model with one set of settings in one environment (repetitions pooled)."""

    environment: str
    model: str
    settings: dict[str, Any]  # the varying RunSpec fields
    cases: list[Case]

    @property
    def settings_text(self) -> str:
        return " ".join(setting_text(k, v) for k, v in self.settings.items())

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
        return median_or_none(c.value(dotted) for c in self.cases)

    @property
    def median_s(self) -> float | None:
        return self.value("step_time_s.median")

    @property
    def samples_per_s(self) -> float | None:
        return self.value("throughput.samples_per_s")

    @property
    def step_samples(self) -> list[float]:
        """Every timed step of every repetition (seconds): what a significance test compares."""
        out: list[float] = []
        for c in self.cases:
            samples = dotted_get(c.record, "step_time_s.samples")
            if isinstance(samples, list):
                out += [float(x) for x in samples if finite(x) is not None]
        return out

    def compared_with(self, base: Config) -> Any:
        """:class:`nnperf.analysis.compare.SampleComparison` of this config's steps against ``base``'s (speedup,
        95% interval, U test); None when either has no raw samples."""
        from nnperf.analysis.compare import compare_samples

        if self is base or not self.step_samples or not base.step_samples:
            return None
        return compare_samples(base.step_samples, self.step_samples)

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
    _roof_cache: dict[int, Roofs | str] = field(default_factory=dict)

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
            {
                str(dotted_get(c.record, "case.study"))
                for c in self.cases
                if dotted_get(c.record, "case.study")
            }
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
        return finite(self.env_specs.get(environment, {}).get("price_per_hour"))

    def compare_key(self, config: Config) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What two environments' runs must share to be compared: the model and the settings the
        environment does not fix."""
        return config.model, tuple((k, v) for k, v in config.settings.items() if k not in self.env_bound)

    def compare_name(self, key: tuple[str, tuple[tuple[str, Any], ...]]) -> str:
        model, settings = key
        return f"{model} {' '.join(setting_text(k, v) for k, v in settings)}".strip()

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

    def roofs(self, config: Config) -> Roofs | str:
        """The roofs the config's runs are placed under (its environment's, at its threads), or why none."""
        key = id(config)
        if key not in self._roof_cache:
            self._roof_cache[key] = _roofs(self, config)
        return self._roof_cache[key]

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
    what = dotted_get(record, "case.id") or f"#{index}"
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


def case_settings(study: Study, case: Case) -> str:
    return " ".join(setting_text(f, case.spec.get(f)) for f in study.varying)


def scaling_series(study: Study, axis: str) -> dict[str, list[Config]]:
    """Lines of a scaling plot: runs that differ only in ``axis``. When the environment fixes the axis (an
    environment per thread count), the line runs across environments; otherwise each environment has its own."""
    across = axis in study.env_bound
    out: dict[str, list[Config]] = {}
    for c in study.configs:
        if c.samples_per_s is None or not isinstance(c.settings.get(axis), int):
            continue
        others = " ".join(
            setting_text(k, v)
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


# ---- roofs and placements -------------------------------------------------------------------------------------
def _gemm_peak(machine: dict[str, Any], dtype: str, threads: int | None) -> tuple[float, int] | None:
    """The machine profile's best GEMM rate of ``dtype`` at the most threads not above ``threads``."""
    by_threads = dotted_get(machine, f"measured.gemm.{dtype}.threads") or {}
    usable = sorted(
        (int(t) for t, r in by_threads.items() if isinstance(r, dict) and finite(r.get("best"))),
        reverse=True,
    )
    if threads is not None:
        usable = [t for t in usable if t <= threads]
    return (float(by_threads[str(usable[0])]["best"]), usable[0]) if usable else None


def roof_dtype_of(spec: dict[str, Any]) -> str:
    """The dtype whose compute roof a run's spec runs under: its autocast dtype when there is one."""
    autocast = f" (autocast {spec['autocast']})" if spec.get("autocast") else ""
    return roof_dtype(str(spec.get("dtype") or "fp32") + autocast)


def _gpu_roofs(config: Config, machine: dict[str, Any] | None, dtype: str) -> Roofs | str:
    """A CUDA run's roofs: the GPU's (measured in its machine profile, else the spec sheet), HBM bandwidth."""
    if not machine:
        return f"no machine profile for {config.environment}: no GPU roofs"
    name = dotted_get(machine, "measured.gpu.name") or next(
        (d.get("name") for d in dotted_get(machine, "probes.gpu.devices") or [] if isinstance(d, dict)), None
    )
    if not name:
        return f"the machine profile of {config.environment} has no GPU"
    ceilings = gpu_ceilings(str(name), machine)
    own = config.value("flops.measured_peak_per_s")
    compute = preferred_roof(ceilings.compute, lambda r: r.dtype == dtype)
    hbm = preferred_roof(ceilings.bandwidth, lambda r: r.level == "hbm")
    if own is None and compute is None:
        return f"no {dtype} compute peak for {name} (neither measured nor in the spec-sheet table)"
    if hbm is None:
        return f"no HBM bandwidth for {name} (neither measured nor in the spec-sheet table)"
    if own is not None:
        peak, peak_label = own, f"{dtype} GEMM measured by the run {own / 1e12:.4g} TFLOP/s"
    else:
        peak, peak_label = (
            compute.flops_per_s,
            f"{dtype} {compute.source} {compute.flops_per_s / 1e12:.4g} TFLOP/s",
        )
    chart = [figures.Roof("compute", peak, peak_label, "nominal" not in peak_label)]
    chart += [
        figures.Roof("compute", r.flops_per_s, f"{dtype} nominal {r.flops_per_s / 1e12:.4g} TFLOP/s", False)
        for r in ceilings.compute
        if r.dtype == dtype and r.source == "nominal" and r.flops_per_s != peak
    ]
    bw_label = f"HBM {hbm.source} ({hbm.kernel}) {hbm.bytes_per_s / 1e9:.4g} GB/s"
    chart.append(figures.Roof("bandwidth", hbm.bytes_per_s, bw_label, hbm.source == "measured"))
    return Roofs(peak, peak_label, hbm.bytes_per_s, bw_label, chart)


def _roofs(study: Study, config: Config) -> Roofs | str:
    machine = study.machine(config.environment)
    spec = config.spec
    dtype = roof_dtype_of(spec)
    if str(spec.get("device") or "cpu").startswith("cuda"):
        return _gpu_roofs(config, machine, dtype)
    threads = spec.get("threads") or (machine and dotted_get(machine, "probes.cpu.cores")) or None
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
    roofs = study.roofs(config)
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
