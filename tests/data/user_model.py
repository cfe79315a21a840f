"""Factories for the user-model tests (loaded as ``tests/data/user_model.py:make_tiny`` and friends)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv 3->8 k3 (3*8*9 + 8 = 224 params), global average pool, linear 8->4 (8*4 + 4 = 36): 260 params."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=3)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv(x))
        return self.fc(x.mean(dim=(2, 3)))


def make_tiny() -> nn.Module:
    return TinyNet()


def make_raising() -> nn.Module:
    raise ValueError("width must be positive")


def make_not_a_module() -> int:
    return 42


def make_with_arguments(width: int) -> nn.Module:
    return nn.Linear(width, width)


def make_reads_weights() -> nn.Module:
    # Reads a parameter's value while building: impossible with parameters on meta, so nnperf must fall
    # back to building on the CPU. Linear 4->4: 16 + 4 = 20 params.
    layer = nn.Linear(4, 4)
    scale = float(layer.weight.abs().max().item()) + 1.0
    with torch.no_grad():
        layer.weight.div_(scale)
    return layer


def make_scalar_output() -> nn.Module:
    """A model whose output is not logits-like (one number per sample): trained on output.sum()."""
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 1), nn.Flatten(0))


class ShapeMismatch(nn.Module):
    """Its forward fails on any tensors: linear 8->4 applied to the 12 features it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def make_broken_forward() -> nn.Module:
    return ShapeMismatch()


def make_pooled_batch_norm() -> nn.Module:
    """Conv, global pool, BatchNorm1d: eval works at any batch, training at batch 1 cannot (one value per
    channel), like torchvision's inception_v3 auxiliary head."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(8))
