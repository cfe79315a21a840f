"""The ordered registry of model sources, and the one entry point that builds a workload from a name.

A source knows a set of names (or a syntax, such as ``file.py:factory``) and builds a
:class:`~nnperf.models.inputs.Workload` for them. Lookup walks the sources in registration order and the
first that claims a name builds it, so a built-in name shadows a torchvision one and so on -- like
pyperf's ordered probe list, never an ``if/elif`` on names. Adding a source is one
:func:`register_source` call.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from nnperf.errors import ModelError, UnknownModelError, UsageError
from nnperf.models.inputs import InputSpec, Workload

__all__ = [
    "ModelEntry",
    "ModelSource",
    "build_module",
    "build_workload",
    "find_source",
    "list_models",
    "move_module",
    "register_source",
    "sources",
]


@dataclass(frozen=True)
class ModelEntry:
    """One line of ``nnperf models``."""

    name: str
    source: str
    family: str
    description: str


@runtime_checkable
class ModelSource(Protocol):
    """A place models come from. ``name`` is what ``Workload.source`` and ``nnperf models`` show."""

    name: str

    def entries(self) -> list[ModelEntry]:
        """The models this source lists (sources keyed by a syntax, e.g. a file path, list none)."""
        ...

    def claims(self, model: str) -> bool:
        """Whether ``model`` is this source's to build (cheap: no model is built)."""
        ...

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        """The workload for ``model``; raises ModelError/UsageError naming the problem and the fix."""
        ...


_SOURCES: list[ModelSource] = []
_defaults_loaded = False


def register_source(source: ModelSource, *, before: str | None = None) -> None:
    """Add ``source`` to the lookup order: last, or just before the source named ``before``."""
    _ensure_defaults()
    if any(s.name == source.name for s in _SOURCES):
        raise ValueError(f"a model source named {source.name!r} is already registered")
    if before is None:
        _SOURCES.append(source)
        return
    index = next((i for i, s in enumerate(_SOURCES) if s.name == before), None)
    if index is None:
        raise ValueError(f"no model source named {before!r}")
    _SOURCES.insert(index, source)


def sources() -> list[ModelSource]:
    """The registered sources, in lookup order."""
    _ensure_defaults()
    return list(_SOURCES)


def _ensure_defaults() -> None:
    # Imported here, not at module top, so that the source modules can import this one.
    global _defaults_loaded
    if _defaults_loaded:
        return
    _defaults_loaded = True
    from nnperf.models.builtin import BuiltinSource
    from nnperf.models.hf_source import HFConfigFileSource, HFConfigSource
    from nnperf.models.torchvision_source import TorchvisionSource
    from nnperf.models.user_source import UserFactorySource

    # torchvision goes last: knowing its names means importing torchvision (about a second), which a
    # Hugging Face or user model should not pay for. No name is claimed by two of these sources.
    for source in (
        BuiltinSource(),
        HFConfigSource(),
        HFConfigFileSource(),
        UserFactorySource(),
        TorchvisionSource(),
    ):
        _SOURCES.append(source)


def list_models() -> list[ModelEntry]:
    """Every named model of every source, in lookup order (the first source wins a duplicate name)."""
    seen: set[str] = set()
    out: list[ModelEntry] = []
    for source in sources():
        for entry in source.entries():
            if entry.name not in seen:
                seen.add(entry.name)
                out.append(entry)
    return out


def find_source(model: str) -> ModelSource:
    """The first source that claims ``model``; UnknownModelError with close names when none does."""
    for source in sources():
        if source.claims(model):
            return source
    names = [e.name for e in list_models()]
    suggestions = difflib.get_close_matches(model.lower(), names, n=5, cutoff=0.6)
    raise UnknownModelError(model, suggestions)


def build_workload(
    model: str | torch.nn.Module, spec: InputSpec | None = None, device: str | torch.device = "meta"
) -> Workload:
    """Build ``model`` (a name, a config path, a ``file.py:factory``/``package.module:factory``, or an
    ``nn.Module``) on ``device`` in ``spec.dtype``, with ``spec``'s defaults resolved.

    Weights are never downloaded: every model is built from its architecture with fresh (on ``meta``:
    no) initialisation. An ``nn.Module`` is never modified: when it must change device or dtype, a copy is
    built (on ``meta`` the copy holds no data).
    """
    spec = spec if spec is not None else InputSpec()
    dev = _parse_device(device)
    if isinstance(model, torch.nn.Module):
        from nnperf.models.user_source import workload_from_module

        return _check_context(workload_from_module(model, spec, dev))
    if not isinstance(model, str) or not model.strip():
        raise UsageError(
            f"model {model!r} is neither a name nor an nn.Module: give e.g. 'resnet50' or a module"
        )
    name = model.strip()
    return _check_context(find_source(name).build(name, spec, dev))


def _check_context(workload: Workload) -> Workload:
    # A KV cache belongs to decoder-only language models; anything else has no decode step.
    if workload.spec.context is not None and workload.family != "causal-lm":
        raise UsageError(
            f"a KV-cache context (decode step) applies to causal language models; {workload.name!r} is a "
            f"{workload.family} model: drop the context"
        )
    return workload


def _parse_device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}: use e.g. 'meta', 'cpu' or 'cuda:0'") from None


# --------------------------------------------------------------------------------------------------
# Building nn.Modules on a device without paying for data that is never used.


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """While active, every parameter registered on any module is moved to ``meta`` as it is registered.

    Unlike ``with torch.device("meta")`` this leaves ordinary tensor computations in constructors on the
    CPU, so constructors that compute with data (torchvision's RegNet calls ``.tolist()``) still work,
    while the parameters -- the memory that matters -- never materialise. A parameter registered twice
    (tied weights) maps to the same meta parameter, so tying survives. Same idea as accelerate's
    ``init_empty_weights``.
    """
    original = torch.nn.Module.register_parameter
    # id -> (weak reference to the original, its meta twin). Weak, so the CPU originals are freed as soon
    # as they are replaced; the reference check guards against a recycled id.
    moved: dict[int, tuple[weakref.ref, torch.nn.Parameter]] = {}

    def register_parameter(self: torch.nn.Module, name: str, param: torch.nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            hit = moved.get(id(param))
            if hit is None or hit[0]() is not param:
                twin = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
                hit = (weakref.ref(param), twin)
                moved[id(param)] = hit
            param = hit[1]
        original(self, name, param)

    torch.nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original  # type: ignore[method-assign]


def build_module(
    factory: Callable[[], torch.nn.Module], device: torch.device, dtype: torch.dtype
) -> torch.nn.Module:
    """Call ``factory`` and return its module on ``device`` with floating-point tensors in ``dtype``.

    On ``meta`` the parameters are created on meta as they are registered (see :func:`_parameters_on_meta`)
    and what is left (buffers, which are small) is moved afterwards. Elsewhere the module is built on the
    CPU and moved. Exceptions from ``factory`` propagate unchanged for the caller to name.
    """
    if device.type == "meta":
        with _parameters_on_meta():
            module = factory()
    else:
        module = factory()
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"the factory returned {type(module).__name__}, not a torch.nn.Module")
    return module.to(device=device, dtype=dtype)


def move_module(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """A copy of ``module`` on ``device`` in ``dtype`` (floating tensors only), or ``module`` itself when
    it is already there. The original is left untouched; a copy to ``meta`` copies no data.
    """
    tensors = [*module.parameters(), *module.buffers()]
    if all(t.device == device and (not t.is_floating_point() or t.dtype == dtype) for t in tensors):
        return module

    def converted(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(device=device, dtype=dtype if t.is_floating_point() else None)

    # Pre-seeding deepcopy's memo with converted tensors copies the module structure only; a tensor that
    # appears twice (tied weights) maps to one converted tensor, so tying survives the copy.
    memo: dict[int, object] = {}
    for p in module.parameters():
        memo[id(p)] = torch.nn.Parameter(converted(p), requires_grad=p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = converted(b)
    try:
        return copy.deepcopy(module, memo)
    except Exception as exc:
        raise ModelError(
            f"cannot copy {type(module).__name__} to {device} ({type(exc).__name__}: {exc}): "
            f"move the module to {device} in {dtype} yourself before passing it"
        ) from exc
