"""A model made ready to measure, and its step: inference or one training iteration, phase by phase.

Inference: ``model.eval()`` under ``torch.inference_mode``. Training: ``model.train()``, gradients cleared
(``set_to_none``, before the forward pass, as nnperf's static memory model assumes), forward and loss (under
``torch.autocast`` when asked), backward, optimizer step -- SGD with momentum 0.9 and weight decay 1e-4 as
in the PyTorch ImageNet example for vision models, AdamW for transformers (``nnperf.static.optimizers``).

What is timed (``runner``) may be the eager model, ``torch.compile(model)`` or ``torch.jit.trace(model)``;
FLOPs and live tensors are always counted on the eager model with the same batch (a compiled graph fuses
ops that the dispatcher would otherwise see one by one; the work it does is the same).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from nnperf.measure.protocol import Mark

Batch = tuple[tuple, dict]


def autocast_context(device: torch.device, dtype: str | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    from nnperf.models import DTYPES

    return torch.autocast(device.type, dtype=DTYPES[dtype])


def _no_mark(_phase: str) -> None:
    return None


@dataclass
class PreparedRun:
    """Everything one step needs; :meth:`step` is what the protocol times."""

    workload: Any  # nnperf.models.Workload
    model: torch.nn.Module  # the eager model (counted)
    runner: Callable[..., Any]  # what is timed: the eager model, compiled or traced
    train: bool
    device: torch.device
    batches: Iterator[Batch]
    optimizer: torch.optim.Optimizer | None = None
    autocast: str | None = None
    params: list[torch.nn.Parameter] = field(default_factory=list)

    def next_batch(self) -> Batch:
        return next(self.batches)

    def step(self, mark: Mark = _no_mark) -> None:
        mark("data")
        batch = self.next_batch()
        self.compute(batch, mark)

    def compute(self, batch: Batch, mark: Mark = _no_mark, runner: Callable[..., Any] | None = None) -> None:
        """Forward (+ loss, backward, optimizer step when training) on ``batch``."""
        run = runner if runner is not None else self.runner
        args, kwargs = batch
        self.workload.rewind(batch)  # e.g. a KV cache back to its context: every step is the same step
        if not self.train:
            mark("forward")
            with torch.inference_mode(), autocast_context(self.device, self.autocast):
                out = run(*args, **kwargs)
            del out
            return
        mark("forward")
        for p in self.params:  # optimizer.zero_grad(set_to_none=True), before the forward pass
            p.grad = None
        with autocast_context(self.device, self.autocast):
            out = run(*args, **kwargs)
            mark("loss")
            loss = self.workload.loss(out, batch)
        mark("backward")
        loss.backward()
        del out, loss
        if self.optimizer is not None:
            mark("optimizer")
            self.optimizer.step()
