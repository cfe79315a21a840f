"""`nnperf predict` on this machine's CPU beside `nnperf bench` measuring the same step (and whole generations:
the first token and each further one), in one run.

Run: PYTHONPATH=src python benchmarks/bench_predict_vs_measured.py [--rounds 1]

The prediction times each op call at this machine's *measured* roofs (GEMM peak, STREAM triad) with the
measured per-call floor: a lower bound for eager execution, so every measured step should be slower than its
estimate; the ratio says how far from the roofline each model runs (1.0 would be every op at its roof). The
machine profile is the cached one (a quick measurement when there is none). Each model is measured after its
prediction; with --rounds N the measurement repeats N times and the fastest median counts. The last columns
say when other processes took CPU during the measurement (this VM is shared): those rows read slow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CASES: list[tuple[str, dict]] = [
    ("mnist-cnn", {"mode": "train", "batch": 32}),
    ("resnet18", {"mode": "infer", "batch": 8}),
    ("mobilenet_v3_small", {"mode": "infer", "batch": 8}),
    ("resnet18", {"mode": "train", "batch": 8}),
    ("gpt2", {"mode": "infer", "batch": 1, "seq": 128}),
    ("gpt2", {"mode": "infer", "batch": 1, "context": 256}),
]


# (model, prompt tokens, generated tokens, batch)
GENERATIONS: list[tuple[str, int, int, int]] = [
    ("gpt2", 128, 32, 1),
    ("gpt2", 128, 32, 8),
]


def _ms(x: float) -> str:
    return f"{x * 1e3:9.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1, help="measurements per case; the fastest median counts")
    args = ap.parse_args()

    import nnperf

    profile = nnperf.machine_profile(quick=True)
    cpu = profile.probes.get("cpu", {})
    print(
        f"machine: {cpu.get('model')}, {cpu.get('cores')} cores; profile {profile.fingerprint} ({profile.mode})"
    )
    head = (
        f"{'model':20s} {'setting':26s} {'estimate':>9s} {'roofline':>9s} {'pass bnd':>9s} "
        f"{'measured':>9s} {'meas/est':>8s}  {'mem-bound':>9s}  others' CPU"
    )
    print("times in ms; estimate = per-op time at the measured roofs with the per-call floor (a lower bound)")
    print(head)
    print("-" * len(head))
    below = []
    for model, setting in CASES:
        p = nnperf.predict(model, on="cpu", **setting).targets[0]
        medians, others = [], []
        for _ in range(args.rounds):
            m = nnperf.bench(model, min_iters=10, min_time_s=1.0, budget_s=30.0, **setting)
            if not m.ok:
                print(f"{model:20s} measurement failed: {m.error}")
                break
            d = m.to_dict()
            medians.append(d["step_time_s"]["median"])
            others.append((d.get("load") or {}).get("others_share") or 0.0)
        if not medians:
            continue
        best = min(medians)
        label = " ".join(f"{k}={v}" for k, v in setting.items() if k != "mode")
        ratio = best / p.estimate_s
        if ratio < 1:
            below.append(model)
        print(
            f"{model:20s} {setting['mode'] + ' ' + label:26s} {_ms(p.estimate_s)} {_ms(p.roofline_s)} "
            f"{_ms(p.pass_bound_s)} {_ms(best)} {ratio:8.2f}  {100 * p.memory_bound_share:8.0f}%  "
            f"{100 * max(others):.0f}%"
        )
    if below:
        print(
            f"measured faster than the estimate (caches beat the DRAM roof at these sizes): {', '.join(below)}"
        )
    _generations(nnperf, args.rounds)
    return 0


def _generations(nnperf, rounds: int) -> None:
    """Whole generations: `nnperf predict --prompt --generate` beside `nnperf bench --prompt --generate`."""
    from nnperf.measure.generation import GenerationSpec, measure_generation

    print()
    head = (
        f"{'generation':34s} {'first token est':>15s} {'measured':>9s} {'ratio':>6s}   "
        f"{'per token est':>13s} {'measured':>9s} {'ratio':>6s}  others' CPU"
    )
    print("times in ms; a generation: the prefill (first token), then one decode step per further token")
    print(head)
    print("-" * len(head))
    for model, prompt, generate, batch in GENERATIONS:
        est = nnperf.predict(model, on="cpu", prompt=prompt, generate=generate, batch=batch).targets[0]
        runs = [
            measure_generation(
                GenerationSpec(model, prompt=prompt, generate=generate, batch=batch, repeats=3)
            )
            for _ in range(rounds)
        ]
        best = min(runs, key=lambda m: m.to_dict()["time_s"]["total"]["median"]).to_dict()
        first = best["time_s"]["first_token"]["median"]
        per = best["time_s"]["per_output_token"]["median"]
        others = max((m.others_share or 0.0) for m in runs)
        label = f"{model} b{batch} {prompt}+{generate} tokens"
        print(
            f"{label:34s} {_ms(est.prefill.estimate_s):>15s} {_ms(first)} {first / est.prefill.estimate_s:6.2f}   "
            f"{_ms(est.decode.mean_s):>13s} {_ms(per)} {per / est.decode.mean_s:6.2f}  {100 * others:.0f}%"
        )


if __name__ == "__main__":
    raise SystemExit(main())
