"""Models defined in nnperf itself: small references whose numbers are published elsewhere.

``mnist-cnn`` is the network of the torchsummary README (itself PyTorch's MNIST example of the time), so
``nnperf summary mnist-cnn`` can be checked line by line against torchsummary's printed table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from nnperf.models.inputs import InputSpec, TensorWorkload, Workload
from nnperf.models.registry import ModelEntry, build_module

__all__ = ["BUILTINS", "BuiltinModel", "BuiltinSource", "MnistCNN"]


class MnistCNN(nn.Module):
    """The torchsummary README's MNIST CNN: 21,840 parameters, input 1x28x28, output log-probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


@dataclass(frozen=True)
class BuiltinModel:
    factory: Callable[[], nn.Module]
    sample_shape: tuple[int, ...]
    description: str
    #: How the output becomes a loss (see TensorWorkload): log-probabilities train with NLL.
    objective: str = "cross_entropy"
    family: str = "vision"


BUILTINS: dict[str, BuiltinModel] = {
    "mnist-cnn": BuiltinModel(
        factory=MnistCNN,
        sample_shape=(1, 28, 28),
        description="torchsummary README's MNIST CNN (2 conv + 2 fc, 21,840 params)",
        objective="nll",
    ),
}


class BuiltinSource:
    name = "builtin"

    def entries(self) -> list[ModelEntry]:
        return [ModelEntry(n, self.name, m.family, m.description) for n, m in BUILTINS.items()]

    def claims(self, model: str) -> bool:
        return model.lower() in BUILTINS

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        name = model.lower()
        entry = BUILTINS[name]
        module = build_module(entry.factory, device, spec.torch_dtype)
        if spec.sample_shape is None:
            spec = replace(spec, sample_shape=entry.sample_shape)
        return TensorWorkload(
            name=name,
            source=self.name,
            family=entry.family,
            model=module,
            spec=spec,
            objective=entry.objective,
        )
