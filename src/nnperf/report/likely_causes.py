"""Why a run's measurement differs from its estimate: the "likely cause" the Estimate vs measurement section
gives beside each run's FLOPs, memory and time (the discussion cites the memory ratio too).

Separate from the digested study because these are readings of its numbers, worded for the reader, not
bookkeeping; the threshold they judge a match by lives here with them.
"""

from __future__ import annotations

from nnperf.report.cells import dotted_get, pct_cell
from nnperf.report.study_digest import Config, Placement

# Measured memory within this ratio of the estimate counts as a match.
MEMORY_MATCH = 0.05


def time_cause(p: Placement) -> str:
    if p.bound == "below both roofs":
        return (
            f"below both roofs ({pct_cell(p.efficiency)} of the attainable rate): per-op overhead and latency "
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
            f"memory-bound at {pct_cell(p.efficiency)} of the roof: real traffic exceeds the counted minimum "
            "(re-reads, layout copies, unfused pointwise ops)"
        )
    return (
        f"compute-bound at {pct_cell(p.efficiency)} of the peak: convolutions, small or odd shapes and pointwise "
        "ops run below the GEMM rate the peak was measured with"
    )


def flops_cause(c: Config) -> tuple[float | None, str]:
    predicted, counted = c.value("flops.predicted"), c.value("flops.counted")
    if predicted is None or counted is None:
        return None, "no static prediction in the record"
    err = (counted - predicted) / predicted if predicted else None
    if counted == predicted:
        return 0.0, "match: the same per-op formulas on meta tensors and on the run's real tensors"
    uncounted = dotted_get(c.cases[0].record, "flops.uncounted_ops") or {}
    why = f"ops without a formula in the run: {', '.join(map(str, uncounted))}; " if uncounted else ""
    return err, why + "data-dependent ops or another code path (kernel choice, autocast) in the real run"


def memory_cause(c: Config) -> tuple[float | None, str]:
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
