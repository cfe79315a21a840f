"""The report's first sections, what ran where: the experiment design and hypothesis, the environments
(hardware, software, measured ceilings) and the models (static FLOPs and memory estimates).

Each is a section builder (digested study -> blocks); :data:`nnperf.report.study_report.SECTIONS` orders them.
"""

from __future__ import annotations

from typing import Any

from nnperf.report import figures
from nnperf.report.cells import bytes_cell, dotted_get, finite, flops_cell, rate_cell, ratio_cell
from nnperf.report.document import Block, Image, Subheading, Table, Text
from nnperf.report.study_digest import Study


# ---- statics --------------------------------------------------------------------------------------------------
def _static_label(key: str, s: dict[str, Any]) -> str:
    """The model's label in the study: the first field of the runner's store key, else the summary's model."""
    store_key = str(s.get("store_key", key))
    return store_key.split("|", 1)[0] if "|" in store_key else str(s.get("model", key))


# ---- sections -------------------------------------------------------------------------------------------------
def section_design(study: Study) -> list[Block]:
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


def section_environments(study: Study) -> list[Block]:
    hw: list[list[str]] = []
    sw: list[list[str]] = []
    ceil: list[list[str]] = []
    for env in study.environments:
        machine = study.machine(env) or {}
        cases = [c for c in study.cases if c.environment == env]
        fps = sorted({c.fingerprint for c in cases if c.fingerprint})
        cpu = dotted_get(machine, "probes.cpu") or {}
        virt = dotted_get(machine, "probes.virtualization") or {}
        gpu = dotted_get(machine, "probes.gpu") or {}
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
                bytes_cell(finite(cpu.get("memory_bytes"))),
                where,
                gpu_text,
                settings,
            ]
        )
        envs = [c.record.get("environment") or {} for c in cases]

        def one(key: str, envs: list[dict[str, Any]] = envs) -> str:
            values = sorted({str(e.get(key)) for e in envs if e.get(key) is not None})
            return " / ".join(values) if values else "-"

        torch_cfg = dotted_get(machine, "probes.software.torch.config") or {}
        sw.append(
            [
                env,
                one("python"),
                one("torch"),
                one("platform"),
                str(torch_cfg.get("blas") or "-"),
                str(dotted_get(machine, "probes.software.torch.cpu_capability") or "-"),
            ]
        )
        measured = dotted_get(machine, "measured.flops") or {}
        nominal = dotted_get(machine, "nominal.flops") or {}
        bw = dotted_get(machine, "measured.bandwidth") or {}
        run_peaks = sorted(
            {c.value("flops.measured_peak_per_s") for c in cases if c.value("flops.measured_peak_per_s")}
        )
        ceil.append(
            [
                env,
                ", ".join(f"{k} {rate_cell(finite(v))}" for k, v in measured.items() if finite(v)) or "-",
                ", ".join(f"{k} {rate_cell(finite(v))}" for k, v in nominal.items() if finite(v)) or "-",
                ", ".join(rate_cell(p) for p in run_peaks) or "-",
                rate_cell(
                    finite(dotted_get(bw, "dram.triad"))
                    or finite(max((v for v in (bw.get("dram") or {}).values() if finite(v)), default=None)),
                    "B/s",
                ),
                rate_cell(finite(dotted_get(bw, "l3.triad")) or finite(dotted_get(bw, "l3.read_sum")), "B/s"),
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


def section_models(study: Study) -> list[Block]:
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
        fwd, bwd, opt = (finite(dotted_get(s, f"{p}.flops")) for p in ("forward", "backward", "optimizer"))
        step = sum(x for x in (fwd, bwd, opt) if x is not None) if fwd is not None else None
        step_bytes = sum(
            finite(dotted_get(s, f"{p}.bytes")) or 0 for p in ("forward", "backward", "optimizer")
        )
        rows.append(
            [
                name,
                flops_cell(finite(dotted_get(s, "params.total"))),
                flops_cell(fwd),
                flops_cell(finite(dotted_get(s, "forward.macs"))),
                flops_cell(bwd),
                ratio_cell(bwd / fwd if fwd and bwd else None),
                flops_cell(step),
                f"{step / step_bytes:.3g}" if step and step_bytes else "-",
            ]
        )
        mem = dict(s.get("memory") or {})
        if s.get("training", {}) is None:  # a decode step: no training memory was analysed (not zero)
            for k in ("gradients", "optimizer", "activations", "peak_train"):
                mem[k] = None
        breakdown = {
            k: float(mem[k])
            for k in ("parameters", "gradients", "optimizer", "activations", "inputs", "kv_cache")
            if finite(mem.get(k))
        }
        mem_rows.append(
            [name]
            + [
                bytes_cell(finite(mem.get(k)))
                for k in ("parameters", "gradients", "optimizer", "activations")
            ]
            + [bytes_cell(finite(mem.get("kv_cache")) or None)]
            + [bytes_cell(finite(mem.get("peak_train"))), bytes_cell(finite(mem.get("peak_infer")))]
        )
        total = sum(breakdown.values())
        if total > 0:  # shares, so a 20 K-parameter CNN and a ResNet share one axis
            labels.append(f"{name} ({bytes_cell(total)})")
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
        Subheading("Memory breakdown (training step; a decode step's KV cache)"),
        Table(
            [
                "model",
                "parameters",
                "gradients",
                "optimizer state",
                "activations",
                "KV cache",
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
