"""nnperf's step timer against torch.utils.benchmark.Timer and a bare loop, timing the same step callable.

Run: PYTHONPATH=src python benchmarks/bench_harness_vs_timer.py [--rounds 5] [--time 1.0]

For each workload the *same* prepared step (nnperf.measure.step.PreparedRun.step: fetch a synthetic batch,
forward, and for training loss, backward and optimizer step) is timed three ways, in alternating rounds so a
noisy neighbour's drift falls on all three alike:

* nnperf: ``nnperf.measure.protocol.time_steps`` (phase marks, thread CPU clock; the protocol ``nnperf bench``
  uses), median step time;
* Timer: ``torch.utils.benchmark.Timer(...).blocked_autorange(min_run_time)`` with the same thread count
  (Timer defaults to 1 thread), median;
* bare: ``perf_counter`` around each call in a plain loop, nothing else, median.

Reported: nnperf/Timer (target: within 5%), nnperf/bare - 1, each as the median over rounds of the per-round
ratio, and the harness's own overhead measured directly (target: under 3%): the loop timing an empty step
that makes the same phase marks (per-step mode, or blocked mode where the workload was blocked), divided by
the workload's median step. The ratio to the bare loop is also shown, but for steps of tens of milliseconds
it is dominated by the machine's drift between rounds, not by the harness.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch.utils.benchmark import Timer  # noqa: E402

from nnperf.measure.bench import _prepare  # noqa: E402
from nnperf.measure.protocol import time_steps  # noqa: E402
from nnperf.records.measurement import RunSpec  # noqa: E402

WORKLOADS = (
    ("mlp", "infer", 1, (256,)),  # a tiny step (tens of microseconds): where a harness's overhead shows
    ("mnist-cnn", "train", 32, None),
    ("resnet18", "infer", 4, None),
)


class MLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def bare(step, seconds: float) -> float:
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--time", type=float, default=1.0, help="seconds of samples per method and round")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    print(f"{threads} torch thread(s); {args.rounds} rounds of {args.time:.1f} s per method, alternating\n")
    print(
        f"{'workload':<24} {'nnperf':>10} {'Timer':>10} {'bare':>10} {'nnperf/Timer':>13} {'vs bare':>8} "
        f"{'overhead':>9}"
    )
    worst_vs_timer, worst_overhead = 0.0, 0.0
    for name, mode, batch, shape in WORKLOADS:
        spec = RunSpec(model=name, mode=mode, batch=batch)
        module = MLP() if name == "mlp" else None
        run, source = _prepare(spec, torch.device("cpu"), module, shape, None)
        step = run.step
        timer = Timer(stmt="step()", globals={"step": step}, num_threads=threads)
        for _ in range(3):
            step()
        ours, theirs, plain = [], [], []
        phases: list[str] = []
        inner = 1
        for _ in range(args.rounds):
            s = time_steps(step, warmup=1, min_iters=10, min_time_s=args.time, budget_s=10 * args.time)
            ours.append(statistics.median(s.step_s))
            phases, inner = list(s.phase_s) or ["data", "forward"], s.inner
            theirs.append(timer.blocked_autorange(min_run_time=args.time).median)
            plain.append(bare(step, args.time))
        source.close()
        vs_timer = statistics.median(o / t for o, t in zip(ours, theirs, strict=True))
        vs_bare = statistics.median(o / b for o, b in zip(ours, plain, strict=True)) - 1

        def empty(mark, phases=tuple(phases)) -> None:
            for p in phases:
                mark(p)

        # The same loop around an empty step: per-step mode (min_block_s=0) unless the workload was blocked.
        loop = time_steps(
            empty, warmup=10, min_iters=1000, min_time_s=0.2, min_block_s=0 if inner == 1 else 1e-3
        )
        overhead = statistics.median(loop.step_s) / statistics.median(ours)
        worst_vs_timer = max(worst_vs_timer, abs(vs_timer - 1))
        worst_overhead = max(worst_overhead, overhead)
        label = f"{name} {mode} b{batch}"
        print(
            f"{label:<24} {statistics.median(ours) * 1e3:>8.3f}ms {statistics.median(theirs) * 1e3:>8.3f}ms "
            f"{statistics.median(plain) * 1e3:>8.3f}ms {vs_timer:>13.3f} {vs_bare:>+8.2%} {overhead:>9.3%}"
        )
    print(
        f"\nworst |nnperf/Timer - 1| = {worst_vs_timer:.2%} (target < 5%); "
        f"worst harness overhead = {worst_overhead:+.2%} (target < 3%)"
    )


if __name__ == "__main__":
    main()
