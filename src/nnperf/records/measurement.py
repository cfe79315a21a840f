"""The ``Measurement`` record: one measured run of a model (its :class:`RunSpec`), raw samples kept.

Plain data (no torch). Everything a reader needs to recompute a statistic is stored raw: per-step wall
times, per-phase wall and main-thread CPU times, warm-up times, the timed region's real/user/system time,
counted FLOPs and bytes, memory peaks. Statistics (median, IQR, p90, p99), throughput and achieved rates are
derived from them in :meth:`Measurement.to_dict`, never stored as the only copy. A run that failed is a
record too (``status`` "failed", ``error`` naming the setting), so a study never loses track of it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from nnperf.analysis.stats import describe

SCHEMA = "nnperf.measurement"
SCHEMA_VERSION = 1

MODES = ("infer", "train")
PHASES = ("data", "forward", "loss", "backward", "optimizer")


@dataclass(frozen=True)
class RunSpec:
    """What is measured: the identity (and merge key) of a :class:`Measurement`."""

    model: str
    mode: str = "infer"
    device: str = "cpu"
    batch: int = 1
    seq: int | None = None
    context: int | None = None  # tokens in the KV cache: each step is one decode step (causal LMs, inference)
    dtype: str = "fp32"
    autocast: str | None = None  # "bf16"/"fp16": forward and loss under torch.autocast
    compile: str | None = None  # torch.compile mode ("default", "reduce-overhead", ...); None = eager
    jit: bool = False  # torch.jit.trace
    channels_last: bool = False
    threads: int | None = None  # torch intra-op threads; None = PyTorch's default
    workers: int = 0  # DataLoader workers (real data only)
    data: str = "synthetic"  # "synthetic" (on the device), "generated" (JPEGs nnperf writes) or a directory
    optimizer: str | None = None  # None = the family default (SGD momentum for vision, AdamW otherwise)
    warmup: int = 3
    min_iters: int = 10
    min_time_s: float = 1.0
    budget_s: float = 60.0

    def key(self) -> str:
        """A short stable text naming the settings that differ from the defaults (for tables and files)."""
        default = RunSpec(model=self.model)
        parts = [self.model, self.mode, self.device, f"b{self.batch}"]
        for f in fields(self):
            if f.name in ("model", "mode", "device", "batch"):
                continue
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                parts.append(f"{f.name}={value}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Measurement:
    """Raw results of one run; see the module docstring. Units are in the field names."""

    spec: RunSpec
    status: str = "ok"  # "ok" or "failed"
    error: str | None = None  # one line naming the setting that failed and what to do
    failed_stage: str | None = None  # "build", "compile", "warmup", "timed", "count", ...
    created: str = ""
    nnperf_version: str = ""
    environment: dict[str, Any] = field(default_factory=dict)
    samples_per_step: int = 0
    tokens_per_step: int | None = None
    stopped_by: str = ""
    steps_per_sample: int = 1  # above 1: tiny steps timed in blocks; each sample is a block's mean step time
    warmup_time_s: list[float] = field(default_factory=list)
    step_time_s: list[float] = field(default_factory=list)
    phase_time_s: dict[str, list[float]] = field(default_factory=dict)  # wall, per step
    phase_cpu_s: dict[str, list[float]] = field(default_factory=dict)  # main thread's CPU, per step
    device_phase_time_s: dict[str, list[float]] = field(default_factory=dict)  # CUDA events, per step
    time_s: dict[str, float] = field(default_factory=dict)  # real, user, system, workers_cpu, main_thread_cpu
    load: dict[str, float | None] = field(default_factory=dict)  # other processes' and the hypervisor's share
    memory: dict[str, Any] = field(default_factory=dict)
    flops: dict[str, Any] = field(default_factory=dict)  # counted, predicted, by_phase, uncounted_ops, peaks
    bytes: dict[str, Any] = field(default_factory=dict)  # counted (minimum traffic), by_phase
    counters: dict[str, Any] | None = None  # perf stat / ncu results
    ops: dict[str, Any] | None = None  # profiler breakdown joined with counted costs
    trace_path: str | None = None
    data_description: str = ""
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    # -- derived -------------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def median_step_s(self) -> float:
        return describe(self.step_time_s)["median"]

    @property
    def compile_time_s(self) -> float | None:
        """First warm-up call minus the steady-state median: the one-off cost of compiling or tracing."""
        if (
            (self.spec.compile is None and not self.spec.jit)
            or not self.warmup_time_s
            or not self.step_time_s
        ):
            return None
        return max(self.warmup_time_s[0] - self.median_step_s, 0.0)

    def throughput(self) -> dict[str, float | None]:
        med = self.median_step_s
        if not med or math.isnan(med) or med <= 0:
            return {"samples_per_s": None, "tokens_per_s": None}
        return {
            "samples_per_s": self.samples_per_step / med,
            "tokens_per_s": self.tokens_per_step / med if self.tokens_per_step else None,
        }

    def time_accounting(self) -> dict[str, float | None]:
        """real, user, system and non-CPU time of the timed region (seconds), as ``time`` reports them.

        non_cpu = real - user - system, floored at 0: the time no CPU of this process was running it
        (waiting on I/O, the GPU, the data-loader workers, the hypervisor). With several busy threads
        user + system exceeds real and the difference hides inside them; ``cpu_utilization`` (CPU seconds
        per real second, i.e. busy cores) and the main thread's own wait tell that case apart.
        """
        t = self.time_s
        if "real" not in t:
            return {}
        real, user, system = t["real"], t.get("user", 0.0), t.get("system", 0.0)
        out: dict[str, float | None] = {
            "real": real,
            "user": user,
            "system": system,
            "non_cpu": max(real - user - system, 0.0),
            "cpu_utilization": (user + system) / real if real > 0 else None,
        }
        for key in ("workers_cpu", "main_thread_cpu"):
            if key in t:
                out[key] = t[key]
        if "main_thread_cpu" in t:
            out["main_thread_wait"] = max(real - t["main_thread_cpu"], 0.0)
        return out

    def phases(self) -> dict[str, dict[str, Any]]:
        """Per phase: wall statistics, share of the step, main-thread CPU and wait (medians per step)."""
        total = sum(self.step_time_s)
        out: dict[str, dict[str, Any]] = {}
        for name, samples in self.phase_time_s.items():
            wall = describe(samples)
            cpu = self.phase_cpu_s.get(name, [])
            entry: dict[str, Any] = {
                "time_s": {**wall, "samples": list(samples)},
                "share": sum(samples) / total if total > 0 else None,
            }
            if cpu:
                entry["cpu_s"] = {"median": describe(cpu)["median"], "samples": list(cpu)}
                waits = [max(w - c, 0.0) for w, c in zip(samples, cpu, strict=False)]
                entry["wait_share"] = sum(waits) / sum(samples) if sum(samples) > 0 else None
            device = self.device_phase_time_s.get(name)
            if device:
                entry["device_time_s"] = {**describe(device), "samples": list(device)}
            out[name] = entry
        return out

    @property
    def data_wait_share(self) -> float | None:
        """Share of the timed steps spent getting the next batch (loading, decoding, waiting for workers)."""
        data = self.phase_time_s.get("data")
        total = sum(self.step_time_s)
        if data is None or total <= 0:
            return None
        return sum(data) / total

    def rates(self) -> dict[str, Any]:
        """Achieved FLOP/s and bytes/s over the median step, and their shares of the machine's peaks."""
        med = self.median_step_s
        counted = self.flops.get("counted")
        out: dict[str, Any] = {"achieved_flops_per_s": None, "achieved_bytes_per_s": None}
        if counted and med and med > 0 and not math.isnan(med):
            out["achieved_flops_per_s"] = counted / med
            for peak_key, share_key in (
                ("measured_peak_per_s", "mfu"),
                ("nominal_peak_per_s", "share_of_nominal"),
            ):
                peak = self.flops.get(peak_key)
                out[share_key] = counted / med / peak if peak else None
        moved = self.bytes.get("counted")
        if moved and med and med > 0 and not math.isnan(med):
            out["achieved_bytes_per_s"] = moved / med
        return out

    # -- JSON ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        rates = self.rates()
        memory = dict(self.memory)
        live, predicted = memory.get("peak_live_bytes"), memory.get("predicted_peak_bytes")
        memory["measured_over_predicted"] = live / predicted if live and predicted else None
        flops = dict(self.flops)
        flops["achieved_per_s"] = rates["achieved_flops_per_s"]
        flops["mfu"] = rates.get("mfu")
        flops["share_of_nominal"] = rates.get("share_of_nominal")
        moved = dict(self.bytes)
        moved["achieved_per_s"] = rates["achieved_bytes_per_s"]
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "nnperf_version": self.nnperf_version,
            "spec": self.spec.to_dict(),
            "key": self.spec.key(),
            "status": self.status,
            "error": self.error,
            "failed_stage": self.failed_stage,
            "environment": self.environment,
            "data": self.data_description,
            "protocol": {
                "warmup": self.spec.warmup,
                "min_iters": self.spec.min_iters,
                "min_time_s": self.spec.min_time_s,
                "budget_s": self.spec.budget_s,
                "stopped_by": self.stopped_by,
                "steps_per_sample": self.steps_per_sample,
            },
            "samples_per_step": self.samples_per_step,
            "tokens_per_step": self.tokens_per_step,
            "warmup_time_s": list(self.warmup_time_s),
            "compile_time_s": self.compile_time_s,
            "step_time_s": {**describe(self.step_time_s), "samples": list(self.step_time_s)},
            "throughput": self.throughput(),
            "time_s": self.time_accounting(),
            "raw_time_s": dict(self.time_s),
            "phases": self.phases(),
            "data_wait_share": self.data_wait_share,
            "load": dict(self.load),
            "memory": memory,
            "flops": flops,
            "bytes": moved,
            "counters": self.counters,
            "ops": self.ops,
            "trace_path": self.trace_path,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        """Rebuild from :meth:`to_dict` output: only raw fields are read, derived ones recomputed."""
        phases = data.get("phases", {})
        memory = {k: v for k, v in data.get("memory", {}).items() if k != "measured_over_predicted"}
        derived_flops = ("achieved_per_s", "mfu", "share_of_nominal")
        return cls(
            spec=RunSpec.from_dict(data["spec"]),
            status=data.get("status", "ok"),
            error=data.get("error"),
            failed_stage=data.get("failed_stage"),
            created=data.get("created", ""),
            nnperf_version=data.get("nnperf_version", ""),
            environment=data.get("environment", {}),
            samples_per_step=data.get("samples_per_step", 0),
            tokens_per_step=data.get("tokens_per_step"),
            stopped_by=data.get("protocol", {}).get("stopped_by", ""),
            steps_per_sample=data.get("protocol", {}).get("steps_per_sample", 1),
            warmup_time_s=list(data.get("warmup_time_s", [])),
            step_time_s=list(data.get("step_time_s", {}).get("samples", [])),
            phase_time_s={k: list(v["time_s"]["samples"]) for k, v in phases.items()},
            phase_cpu_s={k: list(v["cpu_s"]["samples"]) for k, v in phases.items() if "cpu_s" in v},
            device_phase_time_s={
                k: list(v["device_time_s"]["samples"]) for k, v in phases.items() if "device_time_s" in v
            },
            time_s=dict(data.get("raw_time_s", {})),
            load=dict(data.get("load", {})),
            memory=memory,
            flops={k: v for k, v in data.get("flops", {}).items() if k not in derived_flops},
            bytes={k: v for k, v in data.get("bytes", {}).items() if k != "achieved_per_s"},
            counters=data.get("counters"),
            ops=data.get("ops"),
            trace_path=data.get("trace_path"),
            data_description=data.get("data", ""),
            notes=list(data.get("notes", [])),
            warnings=list(data.get("warnings", [])),
        )
