"""The optimizers a static analysis (and a measured training step) can cost, by name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from nnperf.errors import UsageError

# name -> (factory, description). SGD settings follow the PyTorch ImageNet example (lr 0.1, momentum 0.9,
# weight decay 1e-4); AdamW follows common transformer fine-tuning defaults.
OPTIMIZERS: dict[str, tuple[Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer], str]] = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1), "SGD, no momentum"),
    "sgd-momentum": (
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
        "SGD, momentum 0.9, weight decay 1e-4 (PyTorch ImageNet example)",
    ),
    "adam": (lambda p: torch.optim.Adam(p, lr=1e-3), "Adam"),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=1e-4, weight_decay=0.01), "AdamW, weight decay 0.01"),
    "none": (lambda p: None, "no optimizer step"),  # type: ignore[dict-item]
}

DEFAULT_BY_FAMILY = {"vision": "sgd-momentum", "custom": "sgd-momentum"}


def default_optimizer(family: str) -> str:
    return DEFAULT_BY_FAMILY.get(family, "adamw")


def make_optimizer(name: str, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer | None:
    try:
        factory, _ = OPTIMIZERS[name]
    except KeyError:
        raise UsageError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}") from None
    return factory(list(params))
