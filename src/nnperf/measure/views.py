"""Text view of a Measurement (reads the record; never measures)."""

from __future__ import annotations

from typing import Any

from nnperf.records.measurement import Measurement
from nnperf.units import fmt_bytes, fmt_count, fmt_ms


def _rate(x: float, unit: str) -> str:
    return f"{fmt_count(x)}{unit}" if abs(x) >= 1e3 else f"{x:.2f} {unit}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def measurement_text(m: Measurement) -> str:
    d: dict[str, Any] = m.to_dict()
    spec = m.spec
    lines = [f"{spec.key()}  ({m.data_description or spec.data})"]
    if not m.ok:
        lines.append(f"FAILED during {m.failed_stage}: {m.error}")
    st = d["step_time_s"]
    if st["n"]:
        lines.append(
            f"step time   median {fmt_ms(st['median'])}  IQR {fmt_ms(st['iqr'])}  p90 {fmt_ms(st['p90'])}  "
            f"p99 {fmt_ms(st['p99'])}  min {fmt_ms(st['min'])}  ({st['n']} steps after {len(m.warmup_time_s)} "
            f"warm-up, stopped by {m.stopped_by})"
        )
        if d["compile_time_s"] is not None:
            lines.append(f"compile     {fmt_ms(d['compile_time_s'])} (first warm-up step minus the median)")
        tp = d["throughput"]
        text = f"throughput  {_rate(tp['samples_per_s'], 'samples/s')}" if tp["samples_per_s"] else ""
        if tp.get("tokens_per_s"):
            text += f"  {_rate(tp['tokens_per_s'], 'tokens/s')}"
        if text:
            lines.append(text)
    t = d["time_s"]
    if t:
        text = (
            f"time        real {t['real']:.3f} s  user {t['user']:.3f} s  sys {t['system']:.3f} s  "
            f"non-CPU {t['non_cpu']:.3f} s"
        )
        if t.get("cpu_utilization") is not None:
            text += f"  ({t['cpu_utilization']:.2f} CPUs busy"
            if t.get("main_thread_wait") is not None:
                text += f"; main thread waited {t['main_thread_wait']:.3f} s"
            text += ")"
        if t.get("workers_cpu"):
            text += f"  workers {t['workers_cpu']:.3f} s CPU"
        lines.append(text)
    phases = d["phases"]
    if phases:
        parts = []
        for name, p in phases.items():
            item = f"{name} {fmt_ms(p['time_s']['median'])} ({_pct(p['share'])})"
            if p.get("wait_share") is not None and p["wait_share"] > 0.05:
                item += f" [{p['wait_share']:.0%} waiting]"
            parts.append(item)
        lines.append("phases      " + "  ".join(parts))
        if d["data_wait_share"] is not None:
            lines.append(f"data wait   {_pct(d['data_wait_share'])} of the step time")
    mem = d["memory"]
    if mem:
        parts = []
        if mem.get("peak_live_bytes"):
            parts.append(f"live-tensor peak {fmt_bytes(mem['peak_live_bytes'])}")
        if mem.get("predicted_peak_bytes"):
            ratio = mem.get("measured_over_predicted")
            parts.append(
                f"predicted {fmt_bytes(mem['predicted_peak_bytes'])}"
                + (f" (measured/predicted {ratio:.3f})" if ratio else "")
            )
        if mem.get("cuda_max_allocated_bytes") is not None:
            parts.append(
                f"CUDA max allocated {fmt_bytes(mem['cuda_max_allocated_bytes'])}, "
                f"reserved {fmt_bytes(mem['cuda_max_reserved_bytes'])}"
            )
        if mem.get("nvml_used_bytes"):
            parts.append(f"NVML used {fmt_bytes(mem['nvml_used_bytes'])}")
        if mem.get("peak_rss_bytes"):
            parts.append(f"peak RSS {fmt_bytes(mem['peak_rss_bytes'])}")
        lines.append("memory      " + "  ".join(parts))
    fl = d["flops"]
    if fl.get("counted") is not None:
        text = f"FLOPs       counted {fmt_count(fl['counted'])}FLOP/step"
        if fl.get("predicted") is not None:
            same = "equal" if fl["predicted"] == fl["counted"] else f"{fl['counted'] / fl['predicted']:.4f}x"
            text += f" (static {fmt_count(fl['predicted'])}FLOP: {same})"
        if fl.get("achieved_per_s"):
            text += f"  achieved {fmt_count(fl['achieved_per_s'])}FLOP/s"
            if fl.get("mfu") is not None:
                text += f" = {fl['mfu']:.1%} of measured peak"
            if fl.get("share_of_nominal") is not None:
                text += (
                    f", {fl['share_of_nominal']:.1%} of nominal {fmt_count(fl['nominal_peak_per_s'])}FLOP/s"
                )
        lines.append(text)
        if fl.get("uncounted_ops"):
            ops = ", ".join(f"{k} x{v}" for k, v in sorted(fl["uncounted_ops"].items()))
            lines.append(f"uncounted   {ops} (no formula: not in the FLOPs above)")
    by = d["bytes"]
    if by.get("counted"):
        text = f"bytes       {fmt_bytes(by['counted'])}/step (minimum traffic)"
        if by.get("achieved_per_s"):
            text += f"  {fmt_bytes(by['achieved_per_s'])}/s"
        lines.append(text)
    perf = (m.counters or {}).get("perf")
    if perf is not None:
        lines.append("counters    " + _perf_text(perf))
    ops = m.ops
    if ops:
        from nnperf.measure.op_breakdown import Breakdown, breakdown_text

        lines.append("")
        lines.append(breakdown_text(Breakdown.from_dict(ops)))
    if m.trace_path:
        lines.append(f"trace       {m.trace_path} (open in https://ui.perfetto.dev or chrome://tracing)")
    for w in m.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def _perf_text(perf: dict[str, Any]) -> str:
    if not perf.get("available"):
        return f"perf stat unavailable: {perf.get('reason', '?')}"
    parts = []
    for key, label in (("ipc", "IPC"), ("cpi", "CPI")):
        if perf.get(key) is not None:
            parts.append(f"{label} {perf[key]:.2f}")
    if perf.get("cache_miss_rate") is not None:
        parts.append(f"cache misses {perf['cache_miss_rate']:.1%}")
    if perf.get("fp_flops") is not None:
        parts.append(f"PMU FP ops {fmt_count(perf['fp_flops'])}FLOP")
    return "perf stat: " + ("  ".join(parts) or "no derived metrics")
