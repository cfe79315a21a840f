"""The predicted training peak against the allocator's measured peak of a real CPU training step."""

from __future__ import annotations

import pytest
import torch

import nnperf
from nnperf.measure.allocator_peak import measure_allocator_peak
from nnperf.models import DTYPES, InputSpec, build_workload
from nnperf.static.optimizers import make_optimizer


def measured_training_peak(name: str, optimizer: str, autocast: str | None = None, **spec: object) -> int:
    torch.manual_seed(0)
    workload = build_workload(name, InputSpec(**spec), device="cpu")
    model = workload.model
    model.train()
    opt = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
    args, kwargs = workload.make_inputs(torch.device("cpu"), train=True)

    def step() -> None:  # nnperf's canonical step; its outputs die when it returns
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=DTYPES[autocast or "bf16"], enabled=autocast is not None):
            out = workload.model(*args, **kwargs)
            loss = workload.loss(out, (args, kwargs))
        loss.backward()
        opt.step()

    step()  # warm-up: creates the optimizer state, as in any step after the first
    return measure_allocator_peak(step).peak_bytes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "spec"),
    [("resnet18", {"batch": 16}), ("gpt2", {"batch": 4, "seq": 128})],
)
def test_predicted_training_peak_within_10_percent_of_measured(name: str, spec: dict) -> None:
    predicted = nnperf.summary(name, mode="train", **spec)
    measured = measured_training_peak(name, predicted.profile.optimizer, **spec)
    ratio = predicted.memory.peak_train / measured
    print(
        f"\n{name} {spec}: predicted training peak {predicted.memory.peak_train / 2**20:.1f} MiB, "
        f"measured {measured / 2**20:.1f} MiB (allocator), ratio {ratio:.3f}"
    )
    assert abs(ratio - 1) < 0.10


@pytest.mark.slow
def test_predicted_autocast_training_peak_within_10_percent_of_measured() -> None:
    spec = {"batch": 8}
    predicted = nnperf.summary("resnet18", mode="train", autocast="bf16", **spec)
    assert predicted.profile.tensor_mode == "fake"  # meta tensors ignore autocast
    measured = measured_training_peak("resnet18", predicted.profile.optimizer, autocast="bf16", **spec)
    ratio = predicted.memory.peak_train / measured
    print(
        f"\nresnet18 batch 8 autocast bf16: predicted {predicted.memory.peak_train / 2**20:.1f} MiB, "
        f"measured {measured / 2**20:.1f} MiB (allocator), ratio {ratio:.3f}"
    )
    assert abs(ratio - 1) < 0.10
