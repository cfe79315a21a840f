"""count_parameters: each stored tensor counted once, on CPU and on meta."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nnperf.static.params import ParamCount, count_parameters


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_linear_and_batchnorm(device: str) -> None:
    with torch.device(device):
        model = nn.Sequential(nn.Linear(10, 5), nn.BatchNorm1d(5))
    model[1].weight.requires_grad_(False)
    count = count_parameters(model)
    # Linear 10*5 + 5 = 55; BatchNorm weight 5 (frozen) + bias 5; buffers: running_mean 5, running_var 5
    # and num_batches_tracked 1 (int64, 8 bytes).
    assert count == ParamCount(
        total=65,
        trainable=60,
        non_trainable=5,
        buffers=11,
        param_bytes=65 * 4,
        buffer_bytes=10 * 4 + 8,
    )
    assert count.total_bytes == 65 * 4 + 48


def test_same_parameter_object_counted_once() -> None:
    emb = nn.Embedding(100, 8)
    head = nn.Linear(8, 100, bias=False)
    head.weight = emb.weight  # tied, as language models tie lm_head to the embeddings
    count = count_parameters(nn.ModuleDict({"emb": emb, "head": head}))
    assert count.total == 100 * 8


class _TwoViews(nn.Module):
    def __init__(self, device: str) -> None:
        super().__init__()
        base = torch.zeros(8, device=device)
        # Two distinct Parameter objects over the same 4 elements, and one over the other 4.
        self.a = nn.Parameter(base[:4])
        self.b = nn.Parameter(base[:4])
        self.c = nn.Parameter(base[4:])


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_parameter_views_of_one_storage_counted_once(device: str) -> None:
    model = _TwoViews(device)
    assert model.a is not model.b
    assert len(list(model.parameters())) == 3  # torch itself sees three parameters ...
    assert count_parameters(model).total == 8  # ... of which a and b are the same 4 elements: 4 + 4


def test_distinct_tensors_of_equal_shape_are_all_counted() -> None:
    model = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    assert count_parameters(model).total == 2 * 16


def test_half_precision_bytes() -> None:
    model = nn.Linear(3, 2).to(torch.float16)
    count = count_parameters(model)
    assert count.total == 8  # 3*2 + 2
    assert count.param_bytes == 16  # 8 elements * 2 bytes


def test_empty_module() -> None:
    assert count_parameters(nn.ReLU()) == ParamCount(0, 0, 0, 0, 0, 0)
