"""User models: ``path/to/file.py:factory``, ``package.module:factory``, or an ``nn.Module`` passed in.

A factory is any callable taking no arguments and returning an ``nn.Module`` (a module class works too).
Custom models take one floating-point tensor ``batch x sample_shape``, so the spec must give the shape.
A Hugging Face language model (a ``PreTrainedModel`` with a causal/masked/seq2seq LM head) is fed token
ids instead, like the built-in ones.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from nnperf.errors import ModelError, UsageError
from nnperf.models.inputs import InputSpec, TensorWorkload, TokenInputs, TokenWorkload, Workload, resolve_seq
from nnperf.models.registry import ModelEntry, build_module, move_module

__all__ = ["UserFactorySource", "load_factory", "workload_from_module"]

_PREFIX = "user:"
_IDENT = r"[A-Za-z_]\w*"
_FILE_FORM = re.compile(rf"^(?P<file>.+\.py):(?P<attr>{_IDENT}(?:\.{_IDENT})*)$")
_MODULE_FORM = re.compile(rf"^(?P<module>{_IDENT}(?:\.{_IDENT})*):(?P<attr>{_IDENT}(?:\.{_IDENT})*)$")

_SHAPE_HINT = "give the input shape, e.g. input=(3, 224, 224) in Python or --input 3x224x224"


def _strip(model: str) -> str:
    return model[len(_PREFIX) :] if model.startswith(_PREFIX) else model


@contextlib.contextmanager
def _extra_sys_path(path: str) -> Iterator[None]:
    # So a user file can import its neighbours (and `package.module` resolves from the working directory
    # even under the `nnperf` console script); removed afterwards.
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    try:
        yield
    finally:
        if added and path in sys.path:
            sys.path.remove(path)


def _import_file(spec_text: str, file: str) -> Any:
    path = Path(file).expanduser()
    if not path.is_file():
        raise ModelError(
            f"model file {file!r} not found: give an existing path, as 'path/to/file.py:factory'"
        )
    resolved = path.resolve()
    # A unique, stable module name per file, registered in sys.modules so classes defined there pickle.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", resolved.stem)
    module_name = f"nnperf_user_{stem}_{digest}"
    import_spec = importlib.util.spec_from_file_location(module_name, resolved)
    if import_spec is None or import_spec.loader is None:
        raise ModelError(f"cannot import {file!r} as Python: give a .py file")
    module = importlib.util.module_from_spec(import_spec)
    sys.modules[module_name] = module
    try:
        with _extra_sys_path(str(resolved.parent)):
            import_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ModelError(
            f"importing {file!r} for {spec_text!r} raised {type(exc).__name__}: {exc}: fix the file"
        ) from exc
    return module


def _import_module(spec_text: str, name: str) -> Any:
    try:
        with _extra_sys_path(os.getcwd()):
            return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"cannot import module {name!r} for {spec_text!r} ({exc}): check the name or add its "
            "directory to PYTHONPATH"
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"importing module {name!r} for {spec_text!r} raised {type(exc).__name__}: {exc}: fix the module"
        ) from exc


def load_factory(model: str) -> Callable[[], Any]:
    """The callable named by ``file.py:factory`` or ``package.module:factory`` (dotted attributes allowed)."""
    text = _strip(model)
    if match := _FILE_FORM.match(text):
        owner = _import_file(text, match["file"])
        where = match["file"]
    elif match := _MODULE_FORM.match(text):
        owner = _import_module(text, match["module"])
        where = match["module"]
    else:
        raise UsageError(
            f"malformed model {model!r}: use 'path/to/file.py:factory' or 'package.module:factory'"
        )
    obj: Any = owner
    for part in match["attr"].split("."):
        if not hasattr(obj, part):
            raise ModelError(
                f"{where!r} has no attribute {match['attr']!r}: name a function or class defined there"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"{text!r} is a {type(obj).__name__}, not a callable: name a function or class")
    return obj


def _check_no_arguments(text: str, factory: Callable[[], Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and C callables: let the call decide
        return
    required = [
        p.name
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    if required:
        raise ModelError(
            f"factory {text!r} needs arguments ({', '.join(required)}): give a factory that takes none, "
            "e.g. a function that calls it with your values"
        )


def _hf_lm_family(module: torch.nn.Module) -> str | None:
    """The LM family of a transformers model, or None; never imports transformers itself."""
    if "transformers" not in sys.modules:
        return None
    from transformers import PreTrainedModel

    if not isinstance(module, PreTrainedModel):
        return None
    from nnperf.models.hf_source import model_class_for

    try:
        cls, family = model_class_for(module.config, type(module).__name__)
    except ModelError:
        return None
    return family if cls is type(module) else None


def _workload_for(
    module: torch.nn.Module, *, name: str, source: str, spec: InputSpec, device: torch.device
) -> Workload:
    family = _hf_lm_family(module)
    if family is not None:
        config: Any = module.config
        spec = resolve_seq(spec, getattr(config, "max_position_embeddings", None))
        tokens = TokenInputs(vocab_size=int(config.vocab_size), encoder_decoder=family == "seq2seq-lm")
        model = move_module(module, device, spec.torch_dtype)
        return TokenWorkload(name=name, source=source, family=family, model=model, spec=spec, tokens=tokens)
    if spec.sample_shape is None:
        raise UsageError(f"model {name!r} is a custom model: {_SHAPE_HINT}")
    model = move_module(module, device, spec.torch_dtype)
    return TensorWorkload(name=name, source=source, family="custom", model=model, spec=spec, objective="auto")


def workload_from_module(module: torch.nn.Module, spec: InputSpec, device: torch.device) -> Workload:
    """The workload of a module passed in directly; the module itself is never modified."""
    name = type(module).__name__
    if spec.sample_shape is None and _hf_lm_family(module) is None:
        raise UsageError(f"{name} is an nn.Module nnperf cannot guess the input of: {_SHAPE_HINT}")
    return _workload_for(module, name=name, source="module", spec=spec, device=device)


class UserFactorySource:
    """``path/to/file.py:factory`` and ``package.module:factory`` (optionally prefixed ``user:``)."""

    name = "user"

    def entries(self) -> list[ModelEntry]:
        return []

    def claims(self, model: str) -> bool:
        text = _strip(model)
        return bool(_FILE_FORM.match(text) or _MODULE_FORM.match(text))

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        text = _strip(model)
        name = _PREFIX + text
        factory = load_factory(text)
        _check_no_arguments(text, factory)

        def call() -> torch.nn.Module:
            try:
                module = factory()
            except Exception as exc:
                raise ModelError(
                    f"factory {text!r} raised {type(exc).__name__}: {exc}: fix the factory, or build the "
                    "module yourself and pass it to nnperf's Python API"
                ) from exc
            if not isinstance(module, torch.nn.Module):
                raise ModelError(
                    f"factory {text!r} returned {type(module).__name__}, not a torch.nn.Module: "
                    "return the model from the factory"
                )
            return module

        module = self._build(call, spec, device)
        return _workload_for(module, name=name, source=self.name, spec=spec, device=device)

    @staticmethod
    def _build(call: Callable[[], torch.nn.Module], spec: InputSpec, device: torch.device) -> torch.nn.Module:
        try:
            return build_module(call, device, spec.torch_dtype)
        except ModelError:
            if device.type != "meta":
                raise
        # Building with parameters on meta failed, which may only mean the factory computes with its
        # parameters' values; build on the CPU instead (a second failure is the factory's own).
        return build_module(call, torch.device("cpu"), spec.torch_dtype).to("meta")
