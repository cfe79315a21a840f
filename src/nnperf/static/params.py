"""Parameter and buffer counts of a module, each stored tensor counted once.

``sum(p.numel() for p in model.parameters())`` already skips a Parameter object registered twice
(``parameters()`` de-duplicates by object), but not two Parameter objects that are views of the same
memory -- as produced by some weight-tying schemes and by loading checkpoints with shared storage. Here a
tensor is identified by its storage and the region it addresses (offset, shape, stride), so both cases
count once. Works on ``meta`` (meta tensors have storages too, just without data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

__all__ = ["ParamCount", "count_parameters"]


@dataclass(frozen=True)
class ParamCount:
    """Element counts and bytes of a module's parameters and buffers."""

    total: int  # parameter elements
    trainable: int  # parameter elements with requires_grad
    non_trainable: int  # total - trainable
    buffers: int  # buffer elements (BatchNorm running stats, position ids, ...)
    param_bytes: int
    buffer_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.buffer_bytes


def _region(t: torch.Tensor) -> tuple:
    try:
        storage: int = t.untyped_storage()._cdata
    except (RuntimeError, NotImplementedError, AttributeError):  # tensor subclasses without a storage
        storage = id(t)
    return (storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)


def _unique(tensors: Iterable[torch.Tensor], seen: set[tuple]) -> list[torch.Tensor]:
    out = []
    for t in tensors:
        key = _region(t)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def count_parameters(module: torch.nn.Module) -> ParamCount:
    """Count ``module``'s parameters and buffers (recursively), each distinct tensor region once."""
    seen: set[tuple] = set()
    params = _unique(module.parameters(), seen)
    # A buffer that aliases a parameter is the parameter's memory: not counted again.
    buffers = _unique(module.buffers(), seen)
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ParamCount(
        total=total,
        trainable=trainable,
        non_trainable=total - trainable,
        buffers=sum(b.numel() for b in buffers),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        buffer_bytes=sum(b.numel() * b.element_size() for b in buffers),
    )
