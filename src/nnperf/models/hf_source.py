"""Hugging Face language models built from configs: the built-in table and any ``config.json`` by path.

Models are built with ``cls._from_config(config, dtype=..., attn_implementation=...)`` inside
``with torch.device(device)``. On ``meta`` transformers skips weight initialisation entirely, so even
``gpt3-175b`` builds in well under a second (see the tests). Weights are never downloaded.

Attention: the spec's ``attn_implementation``, else ``"sdpa"`` where the class supports it and
``"eager"`` where it does not (BLOOM in transformers 5.24).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nnperf.errors import ModelError
from nnperf.models.hf_configs import HF_CONFIGS, lookup
from nnperf.models.inputs import InputSpec, TokenInputs, TokenWorkload, Workload, resolve_seq
from nnperf.models.registry import ModelEntry

__all__ = ["HFConfigFileSource", "HFConfigSource", "build_hf_workload", "make_config", "model_class_for"]

# The loss transformers should use when a class does not say (GPT2LMHeadModel's name matches no pattern,
# and transformers would log a warning before falling back to the same causal-LM loss).
_LOSS_TYPES = {
    "causal-lm": "ForCausalLM",
    "masked-lm": "ForMaskedLM",
    "seq2seq-lm": "ForConditionalGeneration",
}


def make_config(config: dict[str, Any]) -> Any:
    """A transformers config object from a ``config.json``-style dict (``model_type`` required)."""
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not model_type:
        raise ModelError('the config has no \'model_type\': add one such as "gpt2" or "bert"')
    try:
        config_class = CONFIG_MAPPING[model_type]
    except KeyError:
        raise ModelError(
            f"unknown model_type {model_type!r}: transformers does not know it; use a supported model_type"
        ) from None
    return config_class.from_dict(dict(config))


def model_class_for(config: Any, architecture: str | None) -> tuple[type, str]:
    """The model class and family for a config: ``architecture`` when it is a causal/masked/seq2seq LM
    class, otherwise the Auto mapping of ``model_type`` -- seq2seq for encoder-decoders, masked-LM for
    encoders that have one (BERT-like), causal-LM otherwise.
    """
    import transformers
    from transformers.models.auto import modeling_auto as auto

    mappings = {
        "seq2seq-lm": auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        "causal-lm": auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        "masked-lm": auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    }
    if architecture:
        for family, mapping in mappings.items():
            if architecture in mapping.values() and hasattr(transformers, architecture):
                return getattr(transformers, architecture), family
    model_type = config.model_type
    if getattr(config, "is_encoder_decoder", False) and model_type in mappings["seq2seq-lm"]:
        family = "seq2seq-lm"
    elif not getattr(config, "is_decoder", False) and model_type in mappings["masked-lm"]:
        family = "masked-lm"
    elif model_type in mappings["causal-lm"]:
        family = "causal-lm"
    elif model_type in mappings["masked-lm"]:
        family = "masked-lm"
    else:
        raise ModelError(
            f"model_type {model_type!r} has no causal-LM, masked-LM or seq2seq-LM class in transformers: "
            "nnperf builds language models from configs; wrap other models in a 'file.py:factory'"
        )
    return getattr(transformers, mappings[family][model_type]), family


def build_hf_workload(
    *,
    name: str,
    source: str,
    model_class: type,
    family: str,
    config: Any,
    spec: InputSpec,
    device: torch.device,
) -> Workload:
    attn = spec.attn_implementation or ("sdpa" if getattr(model_class, "_supports_sdpa", False) else "eager")
    try:
        with torch.device(device):
            model = model_class._from_config(config, dtype=spec.torch_dtype, attn_implementation=attn)
    except (ValueError, ImportError) as exc:  # e.g. an attention implementation the class lacks
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"cannot build {name!r} ({model_class.__name__}, attn_implementation={attn!r}): {first_line}"
        ) from exc
    if getattr(model, "loss_type", None) is None:
        model.loss_type = _LOSS_TYPES[family]
    # GPT-2 spells it n_positions, aliased to max_position_embeddings; T5 and BLOOM have no limit.
    max_positions = getattr(config, "max_position_embeddings", None)
    spec = resolve_seq(replace(spec, attn_implementation=attn), max_positions)
    tokens = TokenInputs(vocab_size=int(config.vocab_size), encoder_decoder=family == "seq2seq-lm")
    return TokenWorkload(name=name, source=source, family=family, model=model, spec=spec, tokens=tokens)


class HFConfigSource:
    """The built-in table of :mod:`nnperf.models.hf_configs`."""

    name = "huggingface"

    def entries(self) -> list[ModelEntry]:
        return [ModelEntry(e.name, self.name, e.family, e.description) for e in HF_CONFIGS.values()]

    def claims(self, model: str) -> bool:
        return lookup(model) is not None

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        import transformers

        entry = lookup(model)
        assert entry is not None
        return build_hf_workload(
            name=entry.name,
            source=self.name,
            model_class=getattr(transformers, entry.model_class),
            family=entry.family,
            config=make_config(dict(entry.config)),
            spec=spec,
            device=device,
        )


class HFConfigFileSource:
    """Any transformers ``config.json`` by path (the name must end in ``.json``)."""

    name = "hf-config-file"

    def entries(self) -> list[ModelEntry]:
        return []

    def claims(self, model: str) -> bool:
        return model.lower().endswith(".json")

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        path = Path(model).expanduser()
        if not path.is_file():
            raise ModelError(f"config file {model!r} not found: give the path to a transformers config.json")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read config file {model!r}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelError(f"config file {model!r} holds {type(raw).__name__}, not a JSON object")
        try:
            config = make_config(raw)
        except ModelError as exc:
            raise ModelError(f"config file {model!r}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelError(
                f"config file {model!r} is not a valid {raw['model_type']} config: {exc}"
            ) from exc
        architectures = raw.get("architectures") or [None]
        model_class, family = model_class_for(config, architectures[0])
        return build_hf_workload(
            name=model,
            source=self.name,
            model_class=model_class,
            family=family,
            config=config,
            spec=spec,
            device=device,
        )
