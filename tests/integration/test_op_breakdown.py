"""Per-op and per-module breakdown: torch.profiler times joined with the dispatch-level static costs.

Real models on real CPU tensors. The static records come from CostCounter + ModuleScope over one real
iteration with the same inputs the profiled step uses (as ``nnperf.static.summary`` drives them).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nnperf.errors import UsageError
from nnperf.measure.op_breakdown import (
    BACKWARD,
    UNMATCHED,
    Breakdown,
    Row,
    breakdown_text,
    join_costs,
    op_name,
    profile_step,
)
from nnperf.records.static_profile import OpRecord
from nnperf.static.counter import CostCounter
from nnperf.static.scope import ModuleScope

CPU = torch.device("cpu")
# Small CNN: conv 3->32 (3x3, pad 1) on 2x3x64x64, BN, ReLU, then a linear layer 32*64*64 -> 10. Big
# enough that its ops, not the Python around them, take most of a step on a busy 2-core machine.
BATCH, C_IN, C_OUT, HW, K, CLASSES = 2, 3, 32, 64, 3, 10


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(C_IN, C_OUT, K, padding=1),
        nn.BatchNorm2d(C_OUT),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(C_OUT * HW * HW, CLASSES),
    )


# MACs of the conv: one per output element per (input channel x kernel tap);
# 2*32*64*64 outputs x 3*3*3 = 262,144 x 27 = 7,077,888 MACs; FLOPs 2*MACs = 14,155,776, and the bias
# adds 262,144 more (one add per output element): 14,417,920.
CONV_FLOPS = 2 * (BATCH * C_OUT * HW * HW) * (C_IN * K * K) + BATCH * C_OUT * HW * HW
assert CONV_FLOPS == 14_417_920
# Linear: 2x131072 @ 131072x10 -> 2*2*131072*10 = 5,242,880 FLOPs, plus the bias 2*10 = 20.
LINEAR_MM_FLOPS = 2 * BATCH * (C_OUT * HW * HW) * CLASSES
LINEAR_FLOPS = LINEAR_MM_FLOPS + BATCH * CLASSES
assert LINEAR_FLOPS == 5_242_900


def infer_records(model: nn.Module, x: torch.Tensor) -> list[OpRecord]:
    model.eval()
    scope = ModuleScope(model)
    counter = CostCounter(scope.current)
    with scope, torch.inference_mode(), counter:
        model(x)
    return counter.records


def infer_step(model: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    model.eval()

    def step() -> None:
        with torch.inference_mode():
            model(x)

    return step


def train_step(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[Callable[[], None], list[OpRecord]]:
    """A plain SGD step, and its records counted over one real run of the same step."""
    model.train()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.01)

    def step(counter: CostCounter | None = None, scope: ModuleScope | None = None) -> None:
        for p in params:  # zero_grad(set_to_none=True) without the torch._dynamo import it triggers
            p.grad = None
        if counter is not None:
            counter.set_phase("forward")
        out = model(x)
        if counter is not None:
            counter.set_phase("loss")
        loss = F.cross_entropy(out, y)
        if counter is not None:
            counter.set_phase("backward")
        loss.backward()
        if scope is not None:
            scope.reset_backward()
        if counter is not None:
            counter.set_phase("optimizer")
        opt.step()

    scope = ModuleScope(model, record_calls=False)
    counter = CostCounter(scope.current)
    with scope, counter:
        step(counter, scope)
    return step, counter.records


def counted_flops(records: list[OpRecord]) -> int:
    return sum(r.flops * r.count for r in records if r.flops is not None)


def module_row(b: Breakdown, path: str, phase: str = "forward") -> Row:
    (row,) = [r for r in b.modules if r.name == path and r.phase == phase]
    return row


def assert_totals_consistent(b: Breakdown, records: list[OpRecord]) -> None:
    total = counted_flops(records)
    assert b.total_flops == total
    assert sum(r.flops or 0 for r in b.ops) == pytest.approx(total, rel=1e-9)
    assert sum(r.flops or 0 for r in b.modules) == pytest.approx(total, rel=1e-9)
    assert sum(r.bytes or 0 for r in b.ops) == pytest.approx(
        sum(r.bytes * r.count for r in records), rel=1e-9
    )
    shares = sum(r.share for r in b.ops)
    assert 0 < shares <= 1.0


@pytest.fixture(scope="module")
def cnn_infer(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Breakdown, list[OpRecord], Path]:
    model = small_cnn()
    x = torch.randn(BATCH, C_IN, HW, HW)
    records = infer_records(model, x)
    trace = tmp_path_factory.mktemp("trace") / "sub" / "cnn.json"
    run = profile_step(
        infer_step(model, x), iterations=3, warmup=1, model=model, device=CPU, trace_path=trace
    )
    return model, join_costs(run, records), records, trace


def test_small_cnn_inference_module_and_op_flops_match_hand_counts(cnn_infer) -> None:
    _, b, records, _ = cnn_infer
    assert module_row(b, "0").flops == CONV_FLOPS
    assert module_row(b, "4").flops == LINEAR_FLOPS
    # Op rows are the ops as called: the conv's FLOPs reach aten::conv2d through its aten::convolution.
    (conv_op,) = [r for r in b.ops if r.name == "aten::conv2d"]
    assert conv_op.flops == CONV_FLOPS and conv_op.calls == 1 and conv_op.phase == "forward"
    assert conv_op.time_s > 0 and conv_op.achieved_flops_per_s == pytest.approx(CONV_FLOPS / conv_op.time_s)
    assert conv_op.intensity == pytest.approx(CONV_FLOPS / conv_op.bytes)
    # conv bytes: input 2*3*64*64 + weight 32*27 + bias 32 read, output 2*32*64*64 written, fp32:
    # (24,576 + 864 + 32 + 262,144) * 4 = 1,150,464
    assert conv_op.bytes == 1_150_464
    assert_totals_consistent(b, records)
    assert not [r for r in b.ops if r.name == UNMATCHED]  # every inference record found its op
    assert sum(r.share for r in b.ops) > 0.5  # the ops cover most of the step
    assert all(r.phase == "forward" for r in b.ops + b.modules)


def test_trace_written_and_hooks_removed(cnn_infer) -> None:
    model, b, _, trace = cnn_infer
    data = json.loads(trace.read_text())
    assert data["traceEvents"]
    names = {e.get("name") for e in data["traceEvents"]}
    assert "nnperf.module::0" in names and "nnperf.step" in names
    assert b.trace_path == str(trace)
    assert not list(trace.parent.glob(".cnn.json.*"))  # no temporary file left behind
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_to_dict_is_json_and_text_lists_rows_by_time(cnn_infer) -> None:
    _, b, _, _ = cnn_infer
    d = json.loads(json.dumps(b.to_dict()))
    assert d["total_flops"] == b.total_flops and len(d["ops"]) == len(b.ops)
    assert {"name", "time_s", "share", "flops", "bytes", "achieved_flops_per_s", "intensity"} <= set(
        d["ops"][0]
    )
    text = breakdown_text(b, top=3)
    assert text.count("\n") > 6 and "aten::" in text and "more" in text
    times = [r.time_s for r in b.ops]
    assert times == sorted(times, reverse=True)


def test_small_cnn_training_step_attributes_backward_to_modules() -> None:
    model = small_cnn()
    x = torch.randn(BATCH, C_IN, HW, HW)
    y = torch.tensor([1, 7])
    step, records = train_step(model, x, y)
    b = join_costs(profile_step(step, iterations=2, warmup=1, model=model, device=CPU), records)
    assert_totals_consistent(b, records)
    backward_ops = [r for r in b.ops if r.phase == "backward"]
    assert {"aten::convolution_backward", "aten::mm"} <= {r.name for r in backward_ops}
    # Backward of the conv (no grad for the input): grad weight 7,077,888 MACs and grad bias 262,144 adds,
    # so the counter's convolution_backward FLOPs equal the forward's 2*7,077,888 + 262,144.
    conv_bw = module_row(b, "0", "backward")
    assert conv_bw.flops == CONV_FLOPS
    (conv_bw_op,) = [r for r in backward_ops if r.name == "aten::convolution_backward"]
    assert conv_bw_op.flops == CONV_FLOPS
    # Traced back through its node's sequence number, the profiler's convolution_backward is the one op
    # of module "0"'s backward row (the AccumulateGrad of its weight and bias are not: see below).
    assert conv_bw.calls == 1 and conv_bw.time_s == conv_bw_op.time_s > 0
    (bn_bw_op,) = [r for r in backward_ops if r.name == "aten::native_batch_norm_backward"]
    assert module_row(b, "1", "backward").time_s == bn_bw_op.time_s > 0
    (relu_bw_op,) = [r for r in backward_ops if r.name == "aten::threshold_backward"]
    assert module_row(b, "2", "backward").time_s == relu_bw_op.time_s > 0
    # Linear backward: grad input and grad weight, 2 x 5,242,880 FLOPs, plus the bias grad: a sum of
    # the 2x10 output grads over the batch, one FLOP per value read (20).
    linear_bw = module_row(b, "4", "backward")
    assert linear_bw.flops == 2 * LINEAR_MM_FLOPS + BATCH * CLASSES
    assert linear_bw.time_s > 0
    # AccumulateGrad nodes have no forward op: their time is reported, unattributed, not lost.
    assert module_row(b, BACKWARD, "backward").time_s > 0
    # add_: the optimizer's update of each of the 6 parameters (conv, BN and linear weight and bias), which
    # runs outside any module, plus BN's num_batches_tracked += 1 in module "1".
    (add_,) = [r for r in b.ops if r.name == "aten::add_"]
    assert add_.calls == 7 and module_row(b, "1").calls == 2  # add_ and batch_norm
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


@pytest.mark.slow
def test_resnet18_inference_breakdown() -> None:
    from torchvision.models import resnet18

    torch.manual_seed(0)
    model = resnet18(weights=None)
    x = torch.randn(2, 3, 64, 64)
    records = infer_records(model, x)
    b = join_costs(
        profile_step(infer_step(model, x), iterations=2, warmup=1, model=model, device=CPU), records
    )
    assert_totals_consistent(b, records)
    assert sum(r.share for r in b.ops) > 0.5
    # conv1: 3->64, 7x7, stride 2, pad 3 on 64x64 -> 32x32 outputs, no bias:
    # 2*64*32*32 outputs x 3*7*7 taps = 131,072 x 147 = 19,267,584 MACs -> 38,535,168 FLOPs.
    assert module_row(b, "conv1").flops == 2 * (2 * 64 * 32 * 32) * (3 * 7 * 7) == 38_535_168
    # layer4's last conv: 512->512 3x3, pad 1, on 2x2 maps (64 -> 32 conv1 -> 16 maxpool -> 8 -> 4 -> 2):
    # 2*512*2*2 = 4096 outputs x 512*9 = 4608 taps = 18,874,368 MACs -> 37,748,736 FLOPs.
    assert module_row(b, "layer4.1.conv2").flops == 2 * (2 * 512 * 2 * 2) * (512 * 9) == 37_748_736
    convs = [r for r in b.ops if r.name == "aten::conv2d"]
    assert len(convs) == 1 and convs[0].calls == 20  # 20 conv layers in resnet18 (17 + 3 downsample)
    assert not [r for r in b.ops if r.name == UNMATCHED]


def test_unmatched_costs_are_reported_not_dropped() -> None:
    model = small_cnn()
    x = torch.randn(BATCH, C_IN, HW, HW)
    records = infer_records(model, x)
    # A record of an op the step never runs (as if counted for another model): it cannot match.
    ghost = OpRecord(
        "aten.bmm.default", "ghost", "forward", "matmul", 1000, 500, 10, 20, ((1, 2, 3),), ("float32",)
    )
    # And one no formula could cost: its bytes count, its FLOPs are unknown (marked, not zero).
    uncosted = OpRecord(
        "aten.bmm.default", "ghost", "forward", None, None, 0, 1, 2, ((1, 2, 3),), ("float32",)
    )
    run = profile_step(infer_step(model, x), iterations=1, warmup=0, model=model, device=CPU)
    b = join_costs(run, [*records, ghost, uncosted])
    (unmatched,) = [r for r in b.ops if r.name == UNMATCHED]
    assert (unmatched.flops, unmatched.bytes, unmatched.calls, unmatched.uncounted) == (1000, 33, 2, 1)
    assert b.uncounted_calls == 1
    assert b.matched_flops == pytest.approx(b.total_flops - 1000)
    assert module_row(b, "ghost").flops == 1000 and module_row(b, "ghost").time_s == 0
    assert sum(r.flops or 0 for r in b.ops) == pytest.approx(counted_flops(records) + 1000)
    assert "(unmatched)" in breakdown_text(b)


def test_hooks_removed_when_the_step_raises() -> None:
    model = small_cnn()
    bad = torch.randn(BATCH, C_IN + 1, HW, HW)  # wrong channel count: the conv raises

    with pytest.raises(RuntimeError):
        profile_step(lambda: model(bad), iterations=1, warmup=0, model=model, device=CPU)
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_arguments_validated_and_names_normalised() -> None:
    with pytest.raises(UsageError, match="iterations"):
        profile_step(lambda: None, iterations=0, device=CPU)
    with pytest.raises(UsageError, match="warmup"):
        profile_step(lambda: None, warmup=-1, device=CPU)
    assert op_name("aten.convolution.default") == "aten::convolution"
    assert op_name("aten._foreach_add_.List") == "aten::_foreach_add_"
