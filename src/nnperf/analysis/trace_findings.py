"""What one rank's steps say: the findings with their advice, and the step-to-step variation.

Reads the state of a :class:`~nnperf.analysis.trace_rank.RankAnalysis` and the steps it measured; the
definitions (which findings, the 5% threshold, the coefficient of variation) are in
:mod:`nnperf.analysis.trace`'s module doc.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import TYPE_CHECKING

from nnperf.analysis.trace_categories import CATEGORIES, DATA_LOADER, PRIORITY
from nnperf.analysis.trace_report import Finding, StepReport, Variation
from nnperf.units import fmt_time

if TYPE_CHECKING:
    from nnperf.analysis.trace_rank import RankAnalysis

FINDING_SHARE = 0.05  # a cause is reported when it accounts for at least this share of the step time
VARIATION_CV = 0.10  # step-time coefficient of variation above which variation is a finding
_SINGLE_PROCESS_LOADER = "_SingleProcessDataLoaderIter"
_MULTI_PROCESS_LOADER = "_MultiProcessingDataLoaderIter"


def rank_findings(
    rank: RankAnalysis,
    *,
    steps: list[StepReport],
    stall_s: float,
    gpu: bool,
    gpu_waits: dict[str, float],
    gpu_idle: float,
    host_sync_s: float,
    host_idle_s: float,
    comm_s: float,
    variation: Variation,
    total: float,
) -> list[Finding]:
    """The findings of one rank (see the module doc of :mod:`nnperf.analysis.trace`), largest share first."""
    n = len(steps)
    out: list[Finding] = []

    def add(cause: str, secs: float, message: str, advice: tuple[str, ...]) -> None:
        if total > 0 and secs / total >= FINDING_SHARE:
            out.append(Finding(cause, secs / total, secs / n, message, advice))

    def pct(secs: float) -> str:
        x = secs / total if total > 0 else 0.0
        return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"

    who = "the GPU is idle while the host waits for" if gpu else "the training loop waits for"
    add(
        "data loading",
        stall_s,
        f"data loading stalls the step: for {pct(stall_s)} of the step time ({fmt_time(stall_s / n)} per step) "
        f"{who} the data loader",
        _data_advice(rank, steps),
    )
    host_bound = sum(v for k, v in gpu_waits.items() if k.startswith("waiting on the host"))
    add(
        "GPU waiting on the host",
        host_bound,
        f"the GPU is idle {pct(host_bound)} of the step time ({fmt_time(host_bound / n)} per step) while the host "
        "runs Python, dispatches ops and launches kernels",
        (
            "capture the step in CUDA graphs (torch.compile(mode='reduce-overhead')) or fuse small ops "
            "(torch.compile): fewer launches per step",
            "raise the batch size so each kernel does more work per launch",
            "move Python work (logging, metrics, checks) out of the step",
        ),
    )
    if gpu and gpu_idle >= FINDING_SHARE:
        syncs = Counter(
            rank.ev[i].name
            for members in rank.lanes.values()
            for i in members
            if rank.cat[i] == PRIORITY.index("sync") and rank.in_steps(rank.ev[i].ts)
        )
        called = ", ".join(f"{k} x{v / n:g}" for k, v in syncs.most_common(3))
        callers = Counter(
            next((rank.ev[p].name for p in rank.ancestors(i) if rank.ev[p].cat == "cpu_op"), "?")
            for members in rank.lanes.values()
            for i in members
            if rank.cat[i] == PRIORITY.index("sync") and rank.in_steps(rank.ev[i].ts)
        )
        from_ = ", ".join(k for k, _ in callers.most_common(3))
        add(
            "synchronisation",
            host_sync_s,
            f"the host blocks on the device {pct(host_sync_s)} of the step time ({called} per step, "
            f"from {from_}); each one drains the GPU's queue",
            (
                "avoid .item(), .cpu(), .tolist(), print(tensor) and torch.cuda.synchronize() inside the "
                "step: keep metrics on the device and read them every N steps",
                "copy results to the host with non_blocking=True into pinned memory when they are needed "
                "later",
            ),
        )
    if not gpu:  # with a GPU, untraced host time shows as the GPU waiting on the host
        add(
            "untraced host time",
            host_idle_s,
            f"the step thread runs no traced op {pct(host_idle_s)} of the step time ({fmt_time(host_idle_s / n)} "
            "per step): Python between ops, I/O or sleeping",
            (
                "see the Python with torch.profiler(with_stack=True) or a sampling profiler (py-spy)",
                "move per-step Python work (logging, metrics, checks) out of the loop or do it every N steps",
            ),
        )
    add(
        "communication",
        comm_s,
        f"communication takes {pct(comm_s)} of the step time ({fmt_time(comm_s / n)} per step)",
        (
            "overlap communication with the backward pass (DDP buckets: tune bucket_cap_mb)",
            "communicate less often (gradient accumulation with model.no_sync()) or less (bf16 gradients)",
            "a straggler rank makes the others wait in collectives: compare the ranks' traces",
        ),
    )
    if variation.steps >= 2 and variation.cv > VARIATION_CV:
        lost = sum(max(0.0, s.duration_s - variation.median_s) for s in steps)
        why = f" ({variation.slowest_cause})" if variation.slowest_cause else ""
        add(
            "step-time variation",
            lost,
            f"step times vary (CV {variation.cv:.0%}): step {variation.slowest_step} took "
            f"{variation.slowest_ratio:.2f}x the median{why}",
            (
                "leave warm-up steps out of the profile (torch.profiler.schedule(wait=1, warmup=1, ...))",
                "look for other processes, garbage collection or uneven batches in the slow steps",
            ),
        )
    out.sort(key=lambda f: -f.share)
    return out


def _data_advice(rank: RankAnalysis, steps: list[StepReport]) -> tuple[str, ...]:
    names = {e.name for e in rank.ev if DATA_LOADER.search(e.name)}
    single = any(_SINGLE_PROCESS_LOADER in n for n in names)
    multi = any(_MULTI_PROCESS_LOADER in n for n in names)
    advice: list[str] = []
    if single:
        advice.append(
            "the DataLoader loads batches in the training process (num_workers=0): set num_workers > 0 "
            "(start with the number of free CPU cores) so batches are prepared while the model runs"
        )
    if multi:
        advice.append(
            "the DataLoader's worker processes do not keep up: raise num_workers, make __getitem__ cheaper "
            "(decoding, augmentation), or raise prefetch_factor (default 2 batches per worker) to absorb "
            "uneven batches"
        )
        first, rest = steps[0].stall_s, [s.stall_s for s in steps[1:]]
        if rest and first > 2 * statistics.median(rest):
            advice.append(
                "the first step waits longest: workers start at each epoch; persistent_workers=True keeps "
                "them alive between epochs"
            )
    if not (single or multi):
        advice.append(
            "the data pipeline does not keep up: prepare batches in background workers (DataLoader "
            "num_workers > 0) and prefetch them"
        )
    pageable = any(e.cat == "gpu_memcpy" and "Pageable" in e.name and "HtoD" in e.name for e in rank.ev)
    if pageable:
        advice.append(
            "host-to-device copies come from pageable memory: pin_memory=True in the DataLoader and "
            ".to(device, non_blocking=True) make them faster and let them overlap compute"
        )
    return tuple(advice)


def step_variation(steps: list[StepReport]) -> Variation:
    """Step-to-step variation of one rank's step times, and what grew the most in the slowest step."""
    times = [s.duration_s for s in steps]
    mean = statistics.fmean(times)
    median = statistics.median(times)
    stdev = statistics.stdev(times) if len(times) >= 2 else 0.0
    slowest = max(range(len(steps)), key=lambda i: times[i])
    cause = None
    if len(steps) >= 2:
        best = (0.0, "", "")
        for lane in steps[slowest].lanes:
            for cat in CATEGORIES:
                typical = statistics.median(s.lanes[lane][cat] for s in steps)
                delta = steps[slowest].lanes[lane][cat] - typical
                if delta > best[0]:
                    best = (delta, lane, cat)
        if best[0] > 0:
            cause = f"+{fmt_time(best[0])} of {best[2]} on {best[1]}"
    return Variation(
        steps=len(times),
        mean_s=mean,
        median_s=median,
        stdev_s=stdev,
        cv=stdev / mean if mean > 0 else 0.0,
        min_s=min(times),
        max_s=max(times),
        slowest_step=slowest,
        slowest_ratio=times[slowest] / median if median > 0 else 1.0,
        slowest_cause=cause,
    )
