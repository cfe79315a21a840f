"""A memo of meta-kernel results: an op seen again with the same input metadata is not run again.

On meta tensors an op's outputs are fully determined by the op and the metadata of its arguments (shapes,
strides, dtypes and the non-tensor arguments), yet PyTorch computes them anew on every call, many of them
through Python reference implementations that cost 0.1-2 ms each. A transformer repeats the same few dozen
ops with the same shapes in every layer (GPT-3 175B: 96 identical layers, 25,000 op calls, about 250
distinct), so the analysis keeps the outputs' metadata of the first call and builds fresh empty meta tensors
for the others — the idea of FakeTensorMode's dispatch cache, for plain meta tensors.

Only *functional* ops are memoized: no mutated argument, no output aliasing an input (views, in-place and
``out=`` ops run every time, since their outputs share storage with an input), no output shape that depends
on data. Every result is checked when it is first stored: its outputs must be fresh, distinct, dense storages
that ``torch.empty_strided`` recreates byte for byte (so memory liveness sees the same storages); anything
else is recorded as not cacheable and always run. ``tests/unit/test_meta_cache.py`` compares whole analyses
with and without the memo.
"""

from __future__ import annotations

from typing import Any

import torch

ENABLED = True  # tests switch it off to compare against running every op

_LEAVES = (int, float, bool, str, type(None), torch.dtype, torch.device, torch.memory_format, torch.layout)
_BYPASS_TAGS = (torch.Tag.inplace_view, torch.Tag.dynamic_output_shape, torch.Tag.data_dependent_output)
_NOT_CACHEABLE = object()
_MISSING = object()


class _Uncacheable(Exception):
    """An argument the key cannot describe (a real tensor, a subclass, an unknown object)."""


def _functional(func: Any) -> bool:
    schema = func._schema
    if schema.is_mutable or any(r.alias_info is not None for r in schema.returns):
        return False
    return not any(tag in func.tags for tag in _BYPASS_TAGS)


class _TensorSpec:
    """What ``torch.empty_strided`` needs to rebuild one output."""

    __slots__ = ("dtype", "shape", "stride")

    def __init__(self, t: torch.Tensor) -> None:
        self.shape = tuple(t.shape)
        self.stride = t.stride()
        self.dtype = t.dtype

    def build(self) -> torch.Tensor:
        return torch.empty_strided(self.shape, self.stride, dtype=self.dtype, device="meta")


def _spec_of(out: Any, input_storages: set[int], seen: set[int]) -> Any:
    """A rebuildable description of an op's result, or raise when it cannot be rebuilt exactly."""
    if isinstance(out, torch.Tensor):
        if type(out) is not torch.Tensor or not out.is_meta or out.layout is not torch.strided:
            raise _Uncacheable
        key = out.untyped_storage()._cdata
        if key in input_storages or key in seen or out.storage_offset() != 0:
            raise _Uncacheable  # aliases an input or another output: not a fresh tensor
        seen.add(key)
        spec = _TensorSpec(out)
        # empty_strided allocates exactly what the strides address; a kernel that allocated more (or less)
        # would show other bytes to the liveness tracker
        if spec.build().untyped_storage().nbytes() != out.untyped_storage().nbytes():
            raise _Uncacheable
        return spec
    if type(out) in (tuple, list):
        return type(out)(_spec_of(x, input_storages, seen) for x in out)
    if type(out) in _LEAVES:
        return out
    raise _Uncacheable


def _build(spec: Any) -> Any:
    if type(spec) is _TensorSpec:
        return spec.build()
    if type(spec) in (tuple, list):
        return type(spec)(_build(x) for x in spec)
    return spec


class MetaOutputCache:
    """Runs ops on meta tensors, memoizing the outputs of functional ops by their inputs' metadata."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: dict[tuple, Any] = {}
        self._functional: dict[Any, bool] = {}
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def run(self, func: Any, args: tuple, kwargs: dict) -> Any:
        """``func(*args, **kwargs)``, from the memo when an identical call has been seen."""
        if not ENABLED:
            return func(*args, **kwargs)
        functional = self._functional.get(func)
        if functional is None:
            functional = self._functional[func] = _functional(func)
        if not functional:
            return func(*args, **kwargs)
        storages: list[int] = []
        try:
            # the default dtype decides some results (int tensor * float scalar); inference mode decides
            # whether outputs are inference tensors
            context = (torch.get_default_dtype(), torch.is_inference_mode_enabled())
            key = (func, context, _key(args, storages), _key(kwargs, storages))
        except _Uncacheable:
            return func(*args, **kwargs)
        spec = self._entries.get(key, _MISSING)
        if spec is not _MISSING:  # a stored result may be None (an op that returns nothing)
            if spec is _NOT_CACHEABLE:
                return func(*args, **kwargs)
            self.hits += 1
            return _build(spec)
        self.misses += 1
        out = func(*args, **kwargs)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        try:
            self._entries[key] = _spec_of(out, set(storages), set())
        except _Uncacheable:
            self._entries[key] = _NOT_CACHEABLE
        return out


def _key(x: Any, storages: list[int]) -> Any:
    """A hashable description of an aten argument: tensors by metadata, and which arguments share storage."""
    t = type(x)
    if t is torch.Tensor or t is torch.nn.Parameter:  # a Parameter dispatches as the plain tensor it wraps
        if not x.is_meta or x.layout is not torch.strided or x.dtype.is_complex:
            raise _Uncacheable
        storage = x.untyped_storage()._cdata
        try:
            alias = storages.index(storage)
        except ValueError:
            alias = len(storages)
        storages.append(storage)
        return (x.dtype, x.shape, x.stride(), x.storage_offset(), alias)
    if t is tuple or t is list:
        return (t, *[_key(e, storages) for e in x])
    if t is dict:
        return (dict, *[(k, _key(v, storages)) for k, v in x.items()])
    if t in _LEAVES:
        return (t, x)
    raise _Uncacheable
