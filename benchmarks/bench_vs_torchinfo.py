"""`nnperf summary` against `torchinfo.summary` on resnet50 and bert-base-cased, as whole processes.

Both print a per-layer table of the same model. torchinfo builds real weights and runs a real forward on
the CPU; nnperf builds on meta tensors and counts forward, backward and optimizer op by op. Printed side
by side: median wall time and peak RSS of each process, and what each counts.
The two tools' runs alternate, so a noisy machine's drift falls on both.
Run: .venv/bin/python benchmarks/bench_vs_torchinfo.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys

from _proc import medians_interleaved

TORCHINFO = {
    "resnet50": """
import torchvision, torchinfo
m = torchvision.models.resnet50()
s = torchinfo.summary(m, input_size=(1, 3, 224, 224), verbose=0)
print(s.total_mult_adds)
""",
    "bert-base-cased": """
import torch, torchinfo
from transformers import BertConfig, BertForMaskedLM
m = BertForMaskedLM(BertConfig(vocab_size=28996))
ids = torch.randint(0, 28996, (1, 128))
s = torchinfo.summary(m, input_data=[ids], verbose=0)
print(s.total_mult_adds)
""",
}
NNPERF_ARGS = {"resnet50": [], "bert-base-cased": ["--seq", "128"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"{'model':18} {'tool':10} {'wall (median)':>14} {'peak RSS':>10}  what it counts")
    for name, script in TORCHINFO.items():
        nn_cmd = [sys.executable, "-m", "nnperf", "summary", name, *NNPERF_ARGS[name], "--format", "json"]
        ti_runs, nn_runs = medians_interleaved([sys.executable, "-c", script], nn_cmd, args.repeat)
        ti_wall, ti_rss, ti = ti_runs.wall_s, ti_runs.max_rss_bytes, ti_runs.last
        nn_wall, nn_rss, nn = nn_runs.wall_s, nn_runs.max_rss_bytes, nn_runs.last
        data = json.loads(nn.stdout)
        mult_adds = int(ti.stdout.strip().splitlines()[-1])
        print(
            f"{name:18} {'torchinfo':10} {ti_wall:>12.2f} s {ti_rss / 1e6:>7.0f} MB  "
            f"forward Mult-Adds {mult_adds:.3e} (from a real forward)"
        )
        print(
            f"{'':18} {'nnperf':10} {nn_wall:>12.2f} s {nn_rss / 1e6:>7.0f} MB  "
            f"forward MACs {data['forward']['macs']:.3e}, FLOPs {data['forward']['flops']:.3e}; backward "
            f"{data['backward']['flops']:.3e}; optimizer {data['optimizer']['flops']:.3e}; bytes; memory; "
            f"{len(data['uncounted_ops'])} uncounted op kinds"
        )
        verdict = "no slower" if nn_wall <= ti_wall * 1.05 else "SLOWER"
        print(f"{'':18} nnperf/torchinfo wall ratio {nn_wall / ti_wall:.2f} -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
