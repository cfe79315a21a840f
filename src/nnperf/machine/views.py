"""Text view of a MachineProfile: nominal beside measured, per dtype and per memory level."""

from __future__ import annotations

from typing import Any

from nnperf.records.machine_profile import MachineProfile
from nnperf.units import fmt_bytes, fmt_count

LEVELS = ("l1", "l2", "l3", "dram", "hbm")
KERNELS = ("copy", "scale", "add", "triad", "read_sum")  # read_sum: the sweep kernel (cache levels)


def _rate(x: float | None, unit: str) -> str:
    return "-" if x is None else f"{fmt_count(x)}{unit}"


def machine_text(p: MachineProfile) -> str:
    cpu: dict[str, Any] = p.probes.get("cpu", {})
    virt: dict[str, Any] = p.probes.get("virtualization", {})
    lines = [
        f"Machine {p.fingerprint}  ({p.mode} measurement, {p.created})",
        f"CPU: {cpu.get('model', '?')}, {cpu.get('cores', '?')} cores, {cpu.get('threads', '?')} threads, "
        f"SIMD {', '.join(cpu.get('simd') or []) or '?'}",
        "Caches (per instance): "
        + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in p.caches.items())
        + (f"; memory {fmt_bytes(cpu['memory_bytes'])}" if cpu.get("memory_bytes") else ""),
        f"Environment: {virt.get('environment', '?')}"
        + (f" ({virt['cloud']})" if virt.get("cloud") else "")
        + (f", hypervisor {virt['hypervisor_vendor']}" if virt.get("hypervisor_vendor") else ""),
        "",
        f"{'GEMM FLOP/s':14} {'nominal':>12} {'measured':>12} {'% nominal':>10}  best size",
    ]
    nominal = p.nominal.get("flops", {})
    measured = p.measured.get("flops", {})
    gemm = p.measured.get("gemm", {})
    for dtype in ("fp64", "fp32", "tf32", "bf16", "fp16"):
        if dtype not in nominal and dtype not in measured:
            continue
        nom, meas = nominal.get(dtype), measured.get(dtype)
        pct = f"{100 * meas / nom:.0f}%" if nom and meas else "-"
        best = _best_size(gemm.get(dtype, {}))
        lines.append(f"{dtype:14} {_rate(nom, 'FLOP/s'):>12} {_rate(meas, 'FLOP/s'):>12} {pct:>10}  {best}")
    lines += ["", f"{'Bandwidth B/s':14} " + " ".join(f"{k:>10}" for k in KERNELS)]
    bandwidth = p.measured.get("bandwidth", {})
    for level in LEVELS:
        if level in bandwidth:
            row = bandwidth[level]
            lines.append(f"{level:14} " + " ".join(f"{_rate(row.get(k), 'B/s'):>10}" for k in KERNELS))
    gpu = p.measured.get("gpu", {})
    if not gpu or gpu.get("available") is False:
        reason = gpu.get("reason", "no CUDA device") if gpu else "no CUDA device"
        lines += ["", f"GPU: unavailable ({reason})"]
    lines += [f"Warning: {w}" for w in summarize_warnings(p.warnings)]
    lines.append(
        "Nominal = spec-sheet arithmetic (assumptions in --json); measured = what PyTorch reached here."
    )
    return "\n".join(lines)


def _best_size(entry: dict[str, Any]) -> str:
    threads = entry.get("threads", {})
    if not threads:
        return "-"
    best = max(threads.items(), key=lambda kv: kv[1].get("best", 0))
    return f"n={best[1].get('best_size', '?')} at {best[0]} thread(s)"


def summarize_warnings(warnings: list[str]) -> list[str]:
    """Per-measurement warnings folded into one line per kind (the JSON keeps every one)."""
    noisy = [w for w in warnings if ": noisy:" in w]
    idle = [w for w in warnings if ": contention: CPU share" in w]
    rest = [w for w in warnings if w not in noisy and w not in idle]
    out = list(rest)
    if noisy:
        out.append(
            f"{len(noisy)} measurement(s) were noisy (IQR/median over 10%): close other programs or use a full "
            "measurement; each is listed in --json"
        )
    if idle:
        out.append(
            f"{len(idle)} measurement(s) kept fewer CPU threads busy than they were given (another process, or "
            "a kernel that leaves threads idle); see quality.contention in --json"
        )
    return out
