"""What a model is fed and trained on: the input spec, the workload, and the parsers of user strings.

A :class:`Workload` is a built model plus everything needed to run it once: example inputs (random data,
on any device including ``meta``), the training objective, and the bytes those inputs occupy. Two kinds
exist, chosen by the source that builds the model:

* :class:`TensorWorkload` -- one floating-point tensor ``batch x sample_shape`` (vision and custom models);
* :class:`TokenWorkload` -- token ids ``batch x seq`` (Hugging Face language models), fed as keyword
  arguments, with ``labels`` added for training so the model computes its own loss.
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F

from nnperf.errors import ModelError, UsageError

__all__ = [
    "DEFAULT_SEQ",
    "DTYPES",
    "FAMILIES",
    "InputSpec",
    "TensorWorkload",
    "TokenWorkload",
    "Workload",
    "parse_dtype",
    "parse_shape",
]

#: Canonical dtype names and the torch dtypes they mean.
DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp64": torch.float64,
}

# Spellings users type, mapped to the canonical names above.
_DTYPE_ALIASES: dict[str, str] = {
    "fp32": "fp32",
    "float32": "fp32",
    "float": "fp32",
    "fp16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "bf16": "bf16",
    "bfloat16": "bf16",
    "fp64": "fp64",
    "float64": "fp64",
    "double": "fp64",
}

#: The families a workload can belong to.
FAMILIES: tuple[str, ...] = ("vision", "causal-lm", "masked-lm", "seq2seq-lm", "custom")

#: Tokens per sample for language models when the spec does not say (capped at the model's positions).
DEFAULT_SEQ = 128

_ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
#: KV caches a decode step can run with (transformers' StaticCache and DynamicCache).
CACHES: tuple[str, ...] = ("static", "dynamic")
_SHAPE_SEPARATORS = re.compile(r"\s*[xX,]\s*")


def parse_dtype(text: str) -> str:
    """The canonical dtype name (``"fp32"``, ``"fp16"``, ``"bf16"``, ``"fp64"``) for a user spelling."""
    key = str(text).strip().lower().removeprefix("torch.")
    if key in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[key]
    raise UsageError(
        f"unknown dtype {text!r}: choose one of {', '.join(DTYPES)} "
        "(or float32, float16/half, bfloat16, float64)"
    )


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; every dimension must be a positive integer."""
    stripped = str(text).strip().strip("()[]").strip()
    stripped = stripped.removesuffix(",")  # a Python-style 1-tuple, "(3,)"
    parts = _SHAPE_SEPARATORS.split(stripped) if stripped else []
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UsageError(f"malformed shape {text!r}: use dims like 3x224x224")
    return tuple(int(p) for p in parts)


@dataclass(frozen=True)
class InputSpec:
    """What to feed a model: validated on construction, so a bad spec fails where it is written."""

    batch: int = 1
    #: Per-sample input shape for vision/custom models, e.g. (3, 224, 224); None -> the model's default.
    sample_shape: tuple[int, ...] | None = None
    #: Tokens per sample for language models; None -> DEFAULT_SEQ capped at the model's max positions.
    seq: int | None = None
    #: One of DTYPES' keys (aliases such as "bfloat16" are accepted and stored canonical).
    dtype: str = "fp32"
    #: Hugging Face attention kernel: "sdpa" (the default where the model supports it) or "eager".
    attn_implementation: str | None = None
    #: Tokens already in the KV cache (causal language models): the inputs are then one *decode step*,
    #: ``seq`` new tokens per sequence (default 1) attending to ``context`` cached ones; 0 is the *prefill*,
    #: the ``seq`` prompt tokens written into an empty cache. None: no cache.
    context: int | None = None
    #: How the KV cache holds the context (with ``context`` only): "static" (transformers' ``StaticCache``,
    #: preallocated and written in place) or "dynamic" (``DynamicCache``, generate()'s default: each step
    #: concatenates the new keys and values onto the cache, copying it).
    cache: str = "static"

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise UsageError(f"batch size {self.batch!r} must be a positive integer, e.g. batch=8")
        if self.sample_shape is not None:
            shape = (
                parse_shape(self.sample_shape) if isinstance(self.sample_shape, str) else self.sample_shape
            )
            try:
                shape = tuple(int(d) for d in shape)
            except (TypeError, ValueError):
                raise UsageError(
                    f"malformed shape {self.sample_shape!r}: use dims like (3, 224, 224)"
                ) from None
            if not shape or any(d < 1 for d in shape):
                raise UsageError(f"malformed shape {self.sample_shape!r}: use dims like (3, 224, 224)")
            object.__setattr__(self, "sample_shape", shape)
        if self.seq is not None and (
            isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 1
        ):
            raise UsageError(f"sequence length {self.seq!r} must be a positive integer, e.g. seq=128")
        if self.context is not None and (
            isinstance(self.context, bool) or not isinstance(self.context, int) or self.context < 0
        ):
            raise UsageError(
                f"KV-cache context {self.context!r} must be a number of tokens (0: the prefill), e.g. context=2048"
            )
        if self.cache not in CACHES:
            raise UsageError(f"unknown KV cache {self.cache!r}: use one of {', '.join(CACHES)}")
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        if self.attn_implementation is not None and self.attn_implementation not in _ATTN_IMPLEMENTATIONS:
            raise UsageError(
                f"unknown attention implementation {self.attn_implementation!r}: "
                f"choose one of {', '.join(_ATTN_IMPLEMENTATIONS)}"
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _tree_tensors(obj: Any) -> list[torch.Tensor]:
    leaves, _ = torch.utils._pytree.tree_flatten(obj)
    return [x for x in leaves if isinstance(x, torch.Tensor)]


class Workload(ABC):
    """A built model and how to feed it. Built by a model source; see :func:`nnperf.models.build_workload`."""

    def __init__(
        self, *, name: str, source: str, family: str, model: torch.nn.Module, spec: InputSpec
    ) -> None:
        if family not in FAMILIES:
            raise ValueError(f"family {family!r} is not one of {FAMILIES}")
        self.name = name
        self.source = source
        self.family = family
        self.model = model
        self.spec = spec

    @property
    @abstractmethod
    def input_description(self) -> str:
        """The inputs in a few words, e.g. ``"1x3x224x224 float32"`` or ``"4x128 tokens"``."""

    @abstractmethod
    def make_inputs(self, device: str | torch.device, train: bool) -> tuple[tuple, dict]:
        """``(args, kwargs)`` for ``model(*args, **kwargs)``: random data on ``device`` (``meta`` works)."""

    @abstractmethod
    def loss(self, output: Any, inputs: tuple[tuple, dict]) -> torch.Tensor:
        """The scalar training objective for one forward ``output`` on ``inputs``."""

    def input_tensors(self, inputs: tuple[tuple, dict]) -> list[torch.Tensor]:
        """Every tensor ``inputs`` (from :meth:`make_inputs`) hold, a KV cache's included."""
        return _tree_tensors(inputs)

    def cache_tensors(self, inputs: tuple[tuple, dict]) -> list[torch.Tensor]:
        """The keys and values of a KV cache in ``inputs``: none but in a decode step."""
        return []

    def rewind(self, inputs: tuple[tuple, dict]) -> None:
        """Undo what running a step did to ``inputs`` (a decode step advances its KV cache), so that a
        measurement repeats one and the same step. Nothing to undo by default."""
        return None

    def input_bytes(self) -> int:
        """Bytes of the example inputs (inference inputs; training adds only what ``labels`` take)."""
        # Built on meta, so this costs nothing and is exactly what make_inputs allocates.
        inputs = self.make_inputs("meta", train=False)
        seen: set[tuple] = set()
        total = 0
        for t in self.input_tensors(inputs):
            key = (t.untyped_storage()._cdata, t.storage_offset(), tuple(t.shape))
            if key not in seen:  # the same tensor passed twice is one buffer
                seen.add(key)
                total += t.numel() * t.element_size()
        return total

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, source={self.source!r}, family={self.family!r}, "
            f"inputs={self.input_description!r})"
        )


def _first_logits(output: Any) -> Any:
    """The main prediction of a model output: ``.logits``, a dict's ``"out"``/first value, a tuple's first."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, dict) and output:
        return output.get("out", next(iter(output.values())))
    # Tuples and namedtuples such as torchvision's InceptionOutputs(logits, aux_logits): the main head
    # comes first; auxiliary heads are not part of the objective.
    if isinstance(output, (tuple, list)) and output:
        return output[0]
    return output


def _random_targets(logits: torch.Tensor) -> torch.Tensor:
    # Class indices over dim 1 (cross_entropy's convention): (N, C) -> (N,), (N, C, H, W) -> (N, H, W).
    shape = (logits.shape[0], *logits.shape[2:])
    return torch.randint(0, logits.shape[1], shape, device=logits.device)


class TensorWorkload(Workload):
    """One floating-point input tensor of shape ``batch x sample_shape``, in the spec's dtype.

    ``objective`` says how the output becomes a loss:

    * ``"cross_entropy"`` -- the output is logits over dim 1: cross-entropy against random class targets;
    * ``"nll"`` -- the output is log-probabilities (``log_softmax``): negative log-likelihood likewise;
    * ``"auto"`` (custom models) -- cross-entropy when the main output is a floating tensor with at least
      two dimensions (taken as ``N x C x ...`` logits), otherwise ``output.float().sum()``, a stand-in
      that still back-propagates through the whole model.
    """

    def __init__(self, *, objective: str = "cross_entropy", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if objective not in ("cross_entropy", "nll", "auto"):
            raise ValueError(f"objective {objective!r}")
        if self.spec.sample_shape is None:
            raise ValueError("a TensorWorkload needs a resolved sample_shape")
        self.objective = objective

    @property
    def input_shape(self) -> tuple[int, ...]:
        assert self.spec.sample_shape is not None
        return (self.spec.batch, *self.spec.sample_shape)

    @property
    def input_description(self) -> str:
        return f"{'x'.join(map(str, self.input_shape))} {_dtype_name(self.spec.torch_dtype)}"

    def make_inputs(self, device: str | torch.device, train: bool) -> tuple[tuple, dict]:
        x = torch.randn(self.input_shape, dtype=self.spec.torch_dtype, device=device)
        return (x,), {}

    def loss(self, output: Any, inputs: tuple[tuple, dict]) -> torch.Tensor:
        main = _first_logits(output)
        if not isinstance(main, torch.Tensor):
            raise ModelError(
                f"model {self.name!r} returned {type(output).__name__}, not a tensor: "
                "return a tensor (or a tuple whose first item is one) to train it"
            )
        if self.objective == "nll":
            return F.nll_loss(main, _random_targets(main))
        logits_like = main.is_floating_point() and main.dim() >= 2
        if self.objective == "cross_entropy" or logits_like:
            return F.cross_entropy(main, _random_targets(main))
        return main.float().sum()


@dataclass(frozen=True)
class TokenInputs:
    """How a language model takes tokens: vocabulary size and which keyword arguments it needs."""

    vocab_size: int
    #: Encoder-decoder models also get ``decoder_input_ids`` (same length as the encoder input).
    encoder_decoder: bool = False


class TokenWorkload(Workload):
    """Token ids ``batch x seq`` (int64, whatever the model's dtype) passed as keyword arguments.

    Training inputs add ``labels`` (the input ids themselves: the cost of the loss does not depend on which
    tokens are targets), so Hugging Face models return ``output.loss``. Encoder-decoder models always get
    explicit ``decoder_input_ids`` too, so no config field (``decoder_start_token_id``) is needed to derive
    them from the labels.

    With ``spec.context`` (causal LMs only) the inputs are one decode step of generation: ``seq`` new tokens
    per sequence and a transformers ``StaticCache`` already holding ``context`` tokens, as ``generate`` uses
    with ``cache_implementation="static"``: the keys and values of every layer preallocated for
    ``context + seq`` tokens and written in place, so a step's attention spans exactly the cache (a sliding-
    window layer holds only its window, and once full rolls it by a token each step: transformers' copies,
    counted as they run). The cache is made by one uncounted warm-up step, which allocates it,
    then told it holds ``context`` tokens: what the tokens are does not change any cost.
    """

    def __init__(self, *, tokens: TokenInputs, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.spec.seq is None:
            raise ValueError("a TokenWorkload needs a resolved seq")
        self.tokens = tokens

    @property
    def input_description(self) -> str:
        text = f"{self.spec.batch}x{self.spec.seq} tokens"
        kind = " dynamic" if self.spec.cache == "dynamic" else ""
        if self.spec.context == 0:
            return f"{text} into an empty{kind} KV cache (prefill)"
        if self.spec.context is not None:
            return f"{text} after {self.spec.context} in the{kind} KV cache (decode step)"
        return f"{text} (encoder and decoder)" if self.tokens.encoder_decoder else text

    def make_inputs(self, device: str | torch.device, train: bool) -> tuple[tuple, dict]:
        assert self.spec.seq is not None
        shape = (self.spec.batch, self.spec.seq)
        ids = torch.randint(0, self.tokens.vocab_size, shape, dtype=torch.int64, device=device)
        kwargs: dict[str, Any] = {"input_ids": ids}
        if self.spec.context is not None:
            if train:
                raise UsageError(
                    "a decode step (KV-cache context) is inference only: drop the context to train"
                )
            kwargs["cache"] = self._filled_cache(device)
            kwargs["use_cache"] = True
            if self.spec.context == 0 and _accepts(self.model.forward, "logits_to_keep"):
                # The prefill of generate(): only the last prompt token's logits are computed (it picks the
                # first new token), as transformers' generate asks with logits_to_keep=1.
                kwargs["logits_to_keep"] = 1
        if self.tokens.encoder_decoder:
            kwargs["decoder_input_ids"] = torch.randint(
                0, self.tokens.vocab_size, shape, dtype=torch.int64, device=device
            )
        if train:
            kwargs["labels"] = ids
        return (), kwargs

    def _filled_cache(self, device: str | torch.device) -> Any:
        from transformers import StaticCache

        assert self.spec.seq is not None and self.spec.context is not None
        if self.spec.cache == "dynamic":
            return self._dynamic_cache(device)
        cache = StaticCache(config=self.model.config, max_cache_len=self.spec.context + self.spec.seq)
        warm = torch.zeros((self.spec.batch, self.spec.seq), dtype=torch.int64, device=device)
        was_training = self.model.training
        with torch.no_grad():  # allocates every layer's keys and values; not part of the step
            self.model.eval()(input_ids=warm, cache=cache, use_cache=True)
        self.model.train(was_training)
        _set_cache_length(cache, self.spec.context)
        return cache

    def _dynamic_cache(self, device: str | torch.device) -> Any:
        """A ``DynamicCache`` holding ``context`` tokens, filled by one uncounted forward of that many tokens."""
        from transformers import DynamicCache

        assert self.spec.context is not None
        cache = DynamicCache(config=self.model.config)
        if self.spec.context:
            warm = torch.zeros((self.spec.batch, self.spec.context), dtype=torch.int64, device=device)
            was_training = self.model.training
            with torch.no_grad():
                self.model.eval()(input_ids=warm, cache=cache, use_cache=True)
            self.model.train(was_training)
        return cache

    def rewind(self, inputs: tuple[tuple, dict]) -> None:
        cache = inputs[1].get("cache")
        if cache is None or self.spec.context is None:
            return
        if self.spec.cache == "dynamic":
            extra = cache.get_seq_length() - self.spec.context
            if extra > 0:
                cache.crop(-extra)  # a view of the first `context` tokens: the next step copies them again
            return
        _set_cache_length(cache, self.spec.context)

    def cache_tensors(self, inputs: tuple[tuple, dict]) -> list[torch.Tensor]:
        cache = inputs[1].get("cache")
        if cache is None:
            return []
        return [
            t for layer in cache.layers for t in (layer.keys, layer.values) if isinstance(t, torch.Tensor)
        ]

    def input_tensors(self, inputs: tuple[tuple, dict]) -> list[torch.Tensor]:
        return _tree_tensors({k: v for k, v in inputs[1].items() if k != "cache"}) + self.cache_tensors(
            inputs
        )

    def loss(self, output: Any, inputs: tuple[tuple, dict]) -> torch.Tensor:
        loss = getattr(output, "loss", None)
        if isinstance(loss, torch.Tensor):
            return loss
        # Inputs made with train=False carry no labels: the same token-level cross-entropy, computed here.
        logits = _first_logits(output)
        if not isinstance(logits, torch.Tensor):
            raise ModelError(f"model {self.name!r} returned no logits: make the inputs with train=True")
        flat = logits.reshape(-1, logits.shape[-1])
        targets = torch.randint(0, flat.shape[-1], (flat.shape[0],), device=flat.device)
        return F.cross_entropy(flat.float(), targets)


def _accepts(fn: Any, name: str) -> bool:
    """Whether callable ``fn`` takes a keyword argument ``name``."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _set_cache_length(cache: Any, tokens: int) -> None:
    """Tell every layer of a transformers ``StaticCache`` that it holds ``tokens`` tokens."""
    for layer in cache.layers:
        # A plain CPU tensor, not one on the model's device: a meta tensor holds no value, and some models
        # read it (OPT's positions call .item()).
        layer.cumulative_length = torch.tensor(tokens, dtype=torch.int64)
        if hasattr(layer, "cumulative_length_int"):  # sliding-window layers keep an int as well
            layer.cumulative_length_int = tokens


def resolve_seq(spec: InputSpec, max_positions: int | None) -> InputSpec:
    """The spec with ``seq`` filled in: the default (1 new token in a decode step), capped at the model's
    positions when it has a limit."""
    context = spec.context or 0
    if spec.seq is not None:
        if max_positions is not None and context + spec.seq > max_positions:
            if context:
                raise UsageError(
                    f"context {context} + {spec.seq} new tokens exceeds the model's {max_positions} positions: "
                    f"use context + seq <= {max_positions}"
                )
            raise UsageError(
                f"sequence length {spec.seq} exceeds the model's {max_positions} positions: "
                f"use seq <= {max_positions}"
            )
        return spec
    if context:
        return resolve_seq(replace(spec, seq=1), max_positions)
    seq = DEFAULT_SEQ if max_positions is None else min(DEFAULT_SEQ, max_positions)
    return replace(spec, seq=seq)
