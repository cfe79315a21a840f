"""Trace analysis on traces recorded here, by torch.profiler, of real training loops on the CPU."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, schedule
from torch.utils.data import DataLoader, Dataset

from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof, place
from nnperf.analysis.trace import STEP_RANGE, analyze, load_trace
from nnperf.cli.trace_cmd import add_trace

SLEEP_S = 0.030  # per sample: a batch of 4 takes >= 120 ms to load, the tiny model a few ms to train


class SlowDataset(Dataset):
    """Each sample takes SLEEP_S to 'decode'."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(SLEEP_S)
        return torch.randn(16), torch.tensor(i % 2)


def test_slow_data_loader_is_detected_as_the_cause(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(SlowDataset(), batch_size=4, num_workers=0)
    path = tmp_path / "slow_loader.json"
    # torch.profiler's own step ranges (ProfilerStep#N): one warm-up step, three recorded
    with profile(
        activities=[ProfilerActivity.CPU],
        schedule=schedule(wait=0, warmup=1, active=3, repeat=1),
        on_trace_ready=lambda p: p.export_chrome_trace(str(path)),
    ) as prof:
        for i, (x, y) in enumerate(loader):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            prof.step()
            if i == 3:
                break
    rank = analyze(load_trace(path)).ranks[0]
    assert rank.step_marker == "ProfilerStep#N"
    assert len(rank.steps) == 3
    # each step waits >= 4 x 30 ms in the loader; the model's forward, backward and SGD step take a few ms
    assert rank.stall_share > 0.5
    assert rank.cause == "data loading"
    assert "num_workers" in rank.findings[0].advice[0]
    assert rank.lanes[0].seconds["data loading"] >= 4 * SLEEP_S
    assert rank.lanes[0].seconds["optimizer"] > 0  # Optimizer.step#SGD.step and zero_grad ranges


def test_nnperf_bench_trace_has_no_stall_and_joins_static_costs(
    tmp_path: Path, machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nnperf.measure.bench import measure
    from nnperf.measure.op_breakdown import STEP_RANGE as BENCH_STEP_RANGE
    from nnperf.records.measurement import RunSpec
    from nnperf.static.summary import summarize

    assert STEP_RANGE == BENCH_STEP_RANGE  # the analysis does not import torch: the name is written twice
    path = tmp_path / "bench.json"
    spec = RunSpec(model="mnist-cnn", mode="train", batch=8, warmup=1, min_iters=3, min_time_s=0.0)
    m = measure(spec, profile=True, trace_path=path, predict=False, peaks=False)
    assert m.ok, m.error
    records = summarize("mnist-cnn", batch=8, mode="train").ops
    # illustrative roofs (not this machine's): 100 GFLOP/s, 10 GB/s DRAM, ridge 10 FLOP/B
    ceilings = Ceilings(
        (ComputeRoof("fp32", 1e11, "measured"),), (BandwidthRoof("dram", 1e10, "triad", "measured"),)
    )
    rank = analyze(load_trace(path), static_records=records, ceilings=ceilings).ranks[0]
    assert rank.step_marker == STEP_RANGE
    assert len(rank.steps) == 3  # profile_step's default iterations
    assert rank.stall_share < 0.05  # synthetic data: the batch is made once, on the device
    assert all(f.cause != "data loading" for f in rank.findings)
    assert rank.device == "cpu" and not rank.top_kernels
    conv = {c.name: c for c in rank.costed_ops}["aten::convolution"]
    assert conv.flops and conv.flops > 0 and conv.time_source == "cpu"
    placed = place(conv.flops, conv.bytes, 1e11, 1e10, conv.flops / conv.time_s)
    assert (conv.bound, conv.efficiency) == (placed.bound, pytest.approx(placed.efficiency))
    assert conv.calls_per_step == 2  # conv1 and conv2 of each forward
    assert any(o.costed_as == "aten::convolution" for o in rank.top_ops)
    # one CPU thread: the critical path is that thread's busy time
    assert set(rank.critical_path.by_lane) == {rank.step_thread}
    assert rank.critical_path.length_s == pytest.approx(
        rank.variation.mean_s - rank.lanes[0].seconds["idle"], rel=1e-6
    )

    # the CLI: static costs of the same model, roofs from a machine profile (160 GFLOP/s, DRAM 40 GB/s)
    parser = argparse.ArgumentParser(prog="nnperf")
    add_trace(parser.add_subparsers())
    args = parser.parse_args(
        ["trace", str(path), "--model", "mnist-cnn", "-b", "8", "--machine", str(machine), "-f", "json"]
    )
    assert args.run(args) == 0
    data = json.loads(capsys.readouterr().out)
    conv = next(c for c in data["ranks"][0]["costed_ops"] if c["name"] == "aten::convolution")
    placed = place(conv["flops"], conv["bytes"], 160e9, 40e9, conv["achieved_flops_per_s"])
    assert (conv["bound"], conv["efficiency"]) == (placed.bound, pytest.approx(placed.efficiency))
