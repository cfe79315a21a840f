"""Liveness of tensor memory, seen from the dispatcher: the bytes of live tensors, op by op.

Every storage an op creates is counted from its creation until Python frees it (a weak reference with a
callback on the storage: PyTorch keeps one Python object per storage alive as long as the storage).
Run over meta tensors this *predicts* the peak; run over real CPU tensors it *measures* the same quantity,
because the program and its frees are the same. Storages that existed before tracking starts (parameters,
buffers, inputs, optimizer state of earlier steps) are the caller's baseline, not counted here.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable

import torch


def storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


def storage_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and tied tensors count once)."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor):
            seen.setdefault(storage_key(t), t.untyped_storage().nbytes())
    return sum(seen.values())


class LiveBytes:
    """Bytes of the storages created while tracking that are still alive, and the peak, per phase."""

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        self._excluded = {storage_key(t) for t in exclude if isinstance(t, torch.Tensor)}
        self._live: dict[int, tuple[int, weakref.ref]] = {}
        self.current = 0
        self.peak = 0
        self.window_peak = 0
        self.peak_by_phase: dict[str, int] = {}

    def observe(self, outputs: Iterable[torch.Tensor], phase: str) -> None:
        for t in outputs:
            key = storage_key(t)
            if key in self._live or key in self._excluded:
                continue
            storage = t.untyped_storage()
            nbytes = storage.nbytes()
            self._live[key] = (nbytes, weakref.ref(storage, self._freed_callback(key)))
            self.current += nbytes
        if self.current > self.peak:
            self.peak = self.current
        if self.current > self.window_peak:
            self.window_peak = self.current
        if self.current > self.peak_by_phase.get(phase, -1):
            self.peak_by_phase[phase] = self.current

    def _freed_callback(self, key: int):
        def freed(_ref: weakref.ref) -> None:
            entry = self._live.get(key)
            if entry is not None and entry[1] is _ref:
                del self._live[key]
                self.current -= entry[0]

        return freed

    def start_window(self) -> None:
        """Start tracking the peak of a window of ops (read it from ``window_peak``)."""
        self.window_peak = self.current

    def start_phase(self, phase: str) -> None:
        self.peak_by_phase.setdefault(phase, self.current)


class SavedForBackward:
    """Distinct storages autograd saves for backward (a ``saved_tensors_hooks`` pack hook)."""

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        self._excluded = {storage_key(t) for t in exclude if isinstance(t, torch.Tensor)}
        self.by_storage: dict[int, tuple[int, str]] = {}

    def hooks(self, current_module) -> torch.autograd.graph.saved_tensors_hooks:
        def pack(t: torch.Tensor) -> torch.Tensor:
            key = storage_key(t)
            if key not in self._excluded and key not in self.by_storage:
                self.by_storage[key] = (t.untyped_storage().nbytes(), current_module())
            return t

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)

    @property
    def total(self) -> int:
        return sum(n for n, _ in self.by_storage.values())

    def by_module(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for nbytes, module in self.by_storage.values():
            out[module] = out.get(module, 0) + nbytes
        return out
