"""Hugging Face architectures nnperf knows by name, with their published hyperparameters.

Nothing can be downloaded, so each entry writes out the architecture fields of the model's official
``config.json`` by hand (dropout, token ids and the like only where they change what is built or run).
Pure data: this module imports neither torch nor transformers.

Heads: BERT is built with its masked-LM head (``BertForMaskedLM``, as its ``config.json`` lists under
``architectures``), so it has a pre-training objective to train; the head adds a transform
(dense + LayerNorm) and a vocabulary bias, its decoder weight being tied to the word embeddings.
DistilBERT likewise (``DistilBertForMaskedLM``), GPT-2/GPT-3 use ``GPT2LMHeadModel``, T5 uses
``T5ForConditionalGeneration``, the Llama family (Llama 2 and 3, Mistral, Qwen2.5, Mixtral) its
``*ForCausalLM`` class. Their parameter counts equal the published ones (``tests/unit/test_models.py``).

Mixtral is a mixture of experts: each token goes through 2 of 8 expert feed-forwards, chosen at run time.
Its FLOPs do not depend on which experts are chosen (every token costs the same two expert matmuls), so they
are exact on meta tensors; the bytes count as many experts' weights as there are token-expert pairs, at most
all of them (see the ``_grouped_mm`` formula).

The 175B-class entries are the *shapes* of models whose weights were never published as a
``config.json`` on the Hub (GPT-3) or are far too large to load here; they are built on ``meta``:

* ``gpt3-175b``: GPT-3 175B as in Brown et al. 2020, Table 2.1 (96 layers, d_model 12288, 96 heads,
  2048 context) on the GPT-2 architecture and vocabulary. GPT-3 alternates dense and locally banded
  sparse attention layers; this model is dense everywhere, so attention FLOPs are an upper bound.
* ``opt-175b``: OPT-175B (Zhang et al. 2022, Table 1), in the config format of the released OPT models.
* ``bloom-176b``: BigScience BLOOM (``bigscience/bloom`` config.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["HF_CONFIGS", "HFConfigEntry", "lookup"]


@dataclass(frozen=True)
class HFConfigEntry:
    name: str
    #: The transformers class to build, e.g. "GPT2LMHeadModel".
    model_class: str
    family: str
    description: str
    #: ``model_type`` plus the hyperparameters of the published config.json.
    config: Mapping[str, Any]
    #: Other names the model is known by (Hub ids).
    aliases: tuple[str, ...] = field(default=())


def _gpt2(n_layer: int, n_embd: int, n_head: int, n_positions: int = 1024) -> dict[str, Any]:
    return {
        "model_type": "gpt2",
        "activation_function": "gelu_new",
        "n_layer": n_layer,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_positions": n_positions,
        "vocab_size": 50257,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "tie_word_embeddings": True,
    }


def _bert(layers: int, hidden: int, heads: int, intermediate: int, vocab: int) -> dict[str, Any]:
    return {
        "model_type": "bert",
        "hidden_act": "gelu",
        "num_hidden_layers": layers,
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "intermediate_size": intermediate,
        "vocab_size": vocab,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "tie_word_embeddings": True,
    }


def _t5(d_model: int, d_ff: int, d_kv: int, num_heads: int, num_layers: int) -> dict[str, Any]:
    # The original (v1.0) T5 checkpoints: ReLU feed-forward, decoder as deep as the encoder,
    # lm_head tied to the shared embedding (and logits scaled by d_model**-0.5 because of it).
    return {
        "model_type": "t5",
        "d_model": d_model,
        "d_ff": d_ff,
        "d_kv": d_kv,
        "num_heads": num_heads,
        "num_layers": num_layers,
        "num_decoder_layers": num_layers,
        "vocab_size": 32128,
        "feed_forward_proj": "relu",
        "relative_attention_num_buckets": 32,
        "relative_attention_max_distance": 128,
        "layer_norm_epsilon": 1e-6,
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def _llama(
    hidden: int,
    intermediate: int,
    layers: int,
    heads: int,
    kv_heads: int,
    vocab: int,
    positions: int,
    rope_theta: float,
    model_type: str = "llama",
    rms_norm_eps: float = 1e-5,
    **extra: Any,
) -> dict[str, Any]:
    # The Llama family's decoder (also Mistral's, Qwen2's, Mixtral's): RMSNorm, rotary positions, SwiGLU
    # feed-forward (gate, up, down: 3 * hidden * intermediate), grouped-query attention (kv_heads < heads),
    # no biases (Qwen2 adds q/k/v biases in its model class), an untied lm_head.
    return {
        "model_type": model_type,
        "hidden_act": "silu",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": positions,
        "rope_theta": rope_theta,
        "rms_norm_eps": rms_norm_eps,
        "tie_word_embeddings": False,
        **extra,
    }


_LLAMA3_ROPE_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

_ENTRIES: tuple[HFConfigEntry, ...] = (
    HFConfigEntry(
        "bert-base-cased",
        "BertForMaskedLM",
        "masked-lm",
        "BERT base, cased (12 layers, d=768, 12 heads, vocab 28996), masked-LM head",
        _bert(12, 768, 12, 3072, 28996),
        ("google-bert/bert-base-cased",),
    ),
    HFConfigEntry(
        "bert-base-uncased",
        "BertForMaskedLM",
        "masked-lm",
        "BERT base, uncased (12 layers, d=768, 12 heads, vocab 30522), masked-LM head",
        _bert(12, 768, 12, 3072, 30522),
        ("google-bert/bert-base-uncased",),
    ),
    HFConfigEntry(
        "bert-large-cased",
        "BertForMaskedLM",
        "masked-lm",
        "BERT large, cased (24 layers, d=1024, 16 heads, vocab 28996), masked-LM head",
        _bert(24, 1024, 16, 4096, 28996),
        ("google-bert/bert-large-cased",),
    ),
    HFConfigEntry(
        "distilbert-base-uncased",
        "DistilBertForMaskedLM",
        "masked-lm",
        "DistilBERT base, uncased (6 layers, d=768, 12 heads, vocab 30522), masked-LM head",
        {
            "model_type": "distilbert",
            "activation": "gelu",
            "n_layers": 6,
            "dim": 768,
            "n_heads": 12,
            "hidden_dim": 3072,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
            "sinusoidal_pos_embds": False,
            "pad_token_id": 0,
            "tie_word_embeddings": True,
        },
        ("distilbert/distilbert-base-uncased",),
    ),
    HFConfigEntry(
        "gpt2",
        "GPT2LMHeadModel",
        "causal-lm",
        "GPT-2 124M (12 layers, d=768, 12 heads, 1024 positions)",
        _gpt2(12, 768, 12),
        ("openai-community/gpt2",),
    ),
    HFConfigEntry(
        "gpt2-medium",
        "GPT2LMHeadModel",
        "causal-lm",
        "GPT-2 355M (24 layers, d=1024, 16 heads, 1024 positions)",
        _gpt2(24, 1024, 16),
        ("openai-community/gpt2-medium",),
    ),
    HFConfigEntry(
        "gpt2-large",
        "GPT2LMHeadModel",
        "causal-lm",
        "GPT-2 774M (36 layers, d=1280, 20 heads, 1024 positions)",
        _gpt2(36, 1280, 20),
        ("openai-community/gpt2-large",),
    ),
    HFConfigEntry(
        "gpt2-xl",
        "GPT2LMHeadModel",
        "causal-lm",
        "GPT-2 1.5B (48 layers, d=1600, 25 heads, 1024 positions)",
        _gpt2(48, 1600, 25),
        ("openai-community/gpt2-xl",),
    ),
    HFConfigEntry(
        "t5-small",
        "T5ForConditionalGeneration",
        "seq2seq-lm",
        "T5 small 60M (6+6 layers, d=512, d_ff=2048, 8 heads)",
        _t5(512, 2048, 64, 8, 6),
        ("google-t5/t5-small",),
    ),
    HFConfigEntry(
        "t5-base",
        "T5ForConditionalGeneration",
        "seq2seq-lm",
        "T5 base 220M (12+12 layers, d=768, d_ff=3072, 12 heads)",
        _t5(768, 3072, 64, 12, 12),
        ("google-t5/t5-base",),
    ),
    HFConfigEntry(
        "t5-large",
        "T5ForConditionalGeneration",
        "seq2seq-lm",
        "T5 large 770M (24+24 layers, d=1024, d_ff=4096, 16 heads)",
        _t5(1024, 4096, 64, 16, 24),
        ("google-t5/t5-large",),
    ),
    HFConfigEntry(
        "t5-3b",
        "T5ForConditionalGeneration",
        "seq2seq-lm",
        "T5 3B (24+24 layers, d=1024, d_ff=16384, 32 heads of 128)",
        _t5(1024, 16384, 128, 32, 24),
        ("google-t5/t5-3b",),
    ),
    HFConfigEntry(
        "t5-11b",
        "T5ForConditionalGeneration",
        "seq2seq-lm",
        "T5 11B (24+24 layers, d=1024, d_ff=65536, 128 heads of 128)",
        _t5(1024, 65536, 128, 128, 24),
        ("google-t5/t5-11b",),
    ),
    HFConfigEntry(
        "llama-2-7b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 2 7B (32 layers, d=4096, 32 heads, ffn 11008, 4096 positions)",
        _llama(4096, 11008, 32, 32, 32, 32000, 4096, 10000.0),
        ("meta-llama/Llama-2-7b-hf",),
    ),
    HFConfigEntry(
        "llama-2-13b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 2 13B (40 layers, d=5120, 40 heads, ffn 13824, 4096 positions)",
        _llama(5120, 13824, 40, 40, 40, 32000, 4096, 10000.0),
        ("meta-llama/Llama-2-13b-hf",),
    ),
    HFConfigEntry(
        "llama-2-70b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 2 70B (80 layers, d=8192, 64 heads, 8 KV heads, ffn 28672, 4096 positions)",
        _llama(8192, 28672, 80, 64, 8, 32000, 4096, 10000.0),
        ("meta-llama/Llama-2-70b-hf",),
    ),
    HFConfigEntry(
        "llama-3-8b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 3 8B (32 layers, d=4096, 32 heads, 8 KV heads, ffn 14336, vocab 128256)",
        _llama(4096, 14336, 32, 32, 8, 128256, 8192, 500000.0),
        ("meta-llama/Meta-Llama-3-8B",),
    ),
    HFConfigEntry(
        "llama-3-70b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 3 70B (80 layers, d=8192, 64 heads, 8 KV heads, ffn 28672, vocab 128256)",
        _llama(8192, 28672, 80, 64, 8, 128256, 8192, 500000.0),
        ("meta-llama/Meta-Llama-3-70B",),
    ),
    HFConfigEntry(
        "llama-3.1-405b",
        "LlamaForCausalLM",
        "causal-lm",
        "Llama 3.1 405B (126 layers, d=16384, 128 heads, 8 KV heads, ffn 53248, 131072 positions)",
        _llama(16384, 53248, 126, 128, 8, 128256, 131072, 500000.0, rope_scaling=_LLAMA3_ROPE_SCALING),
        ("meta-llama/Llama-3.1-405B",),
    ),
    HFConfigEntry(
        "mistral-7b",
        "MistralForCausalLM",
        "causal-lm",
        "Mistral 7B v0.1 (32 layers, d=4096, 32 heads, 8 KV heads, ffn 14336, sliding window 4096)",
        _llama(4096, 14336, 32, 32, 8, 32000, 32768, 10000.0, model_type="mistral", sliding_window=4096),
        ("mistralai/Mistral-7B-v0.1",),
    ),
    HFConfigEntry(
        "qwen2.5-7b",
        "Qwen2ForCausalLM",
        "causal-lm",
        "Qwen2.5 7B (28 layers, d=3584, 28 heads, 4 KV heads, ffn 18944, vocab 152064)",
        _llama(3584, 18944, 28, 28, 4, 152064, 131072, 1_000_000.0, model_type="qwen2", rms_norm_eps=1e-6),
        ("Qwen/Qwen2.5-7B",),
    ),
    HFConfigEntry(
        "mixtral-8x7b",
        "MixtralForCausalLM",
        "causal-lm",
        "Mixtral 8x7B mixture of experts (32 layers, d=4096, 8 experts of ffn 14336, top-2 routing)",
        _llama(
            4096,
            14336,
            32,
            32,
            8,
            32000,
            32768,
            1_000_000.0,
            model_type="mixtral",
            num_local_experts=8,
            num_experts_per_tok=2,
        ),
        ("mistralai/Mixtral-8x7B-v0.1",),
    ),
    HFConfigEntry(
        "gpt3-175b",
        "GPT2LMHeadModel",
        "causal-lm",
        "GPT-3 175B shape on GPT-2 (96 layers, d=12288, 96 heads, 2048 positions; dense attention)",
        _gpt2(96, 12288, 96, n_positions=2048),
    ),
    HFConfigEntry(
        "opt-175b",
        "OPTForCausalLM",
        "causal-lm",
        "OPT-175B shape (96 layers, d=12288, 96 heads, ffn 49152, 2048 positions)",
        {
            "model_type": "opt",
            "activation_function": "relu",
            "num_hidden_layers": 96,
            "hidden_size": 12288,
            "num_attention_heads": 96,
            "ffn_dim": 49152,
            "word_embed_proj_dim": 12288,
            "vocab_size": 50272,
            "max_position_embeddings": 2048,
            "do_layer_norm_before": True,
            "enable_bias": True,
            "layer_norm_elementwise_affine": True,
            "pad_token_id": 1,
            "bos_token_id": 2,
            "eos_token_id": 2,
            "tie_word_embeddings": True,
        },
        ("facebook/opt-175b",),
    ),
    HFConfigEntry(
        "bloom-176b",
        "BloomForCausalLM",
        "causal-lm",
        "BLOOM 176B shape (70 layers, d=14336, 112 heads, vocab 250880, ALiBi)",
        {
            "model_type": "bloom",
            "n_layer": 70,
            "hidden_size": 14336,
            "n_head": 112,
            "vocab_size": 250880,
            "layer_norm_epsilon": 1e-5,
            "apply_residual_connection_post_layernorm": False,
            "pretraining_tp": 4,
            "slow_but_exact": False,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "pad_token_id": 3,
            "tie_word_embeddings": True,
        },
        ("bigscience/bloom",),
    ),
)

#: name -> entry, in listing order.
HF_CONFIGS: Mapping[str, HFConfigEntry] = MappingProxyType({e.name: e for e in _ENTRIES})

_BY_ANY_NAME: dict[str, HFConfigEntry] = {
    **{alias.lower(): e for e in _ENTRIES for alias in e.aliases},
    **{e.name: e for e in _ENTRIES},
}


def lookup(name: str) -> HFConfigEntry | None:
    """The entry for a name or a Hub id (case-insensitive), or None."""
    return _BY_ANY_NAME.get(name.strip().lower())
