"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnperf.records.jsonio import write_record
from nnperf.records.machine_profile import SCHEMA, SCHEMA_VERSION, MachineProfile


@pytest.fixture()
def machine(tmp_path: Path) -> Path:
    """A minimal valid profile: fp32 160 GFLOP/s measured (200 nominal), DRAM 40 GB/s, L2 300 GB/s."""
    profile = MachineProfile(
        fingerprint="test-machine",
        created="2025-01-01T00:00:00+00:00",
        mode="quick",
        probes={},
        nominal={"flops": {"fp32": 200e9}},
        measured={"flops": {"fp32": 160e9}, "bandwidth": {"dram": {"triad": 40e9}, "l2": {"read": 300e9}}},
        caches={},
    )
    data = profile.to_dict()
    assert (data["schema"], data["schema_version"]) == (SCHEMA, SCHEMA_VERSION)
    return write_record(tmp_path / "machine.json", data)


@pytest.fixture()
def tiny_lm_config(tmp_path: Path):
    """Write a tiny Llama-family ``config.json`` and return its path: 2 layers, d=64, 4 heads of 16 with 2
    key/value heads (grouped-query attention), SwiGLU ffn 128, vocab 256, 512 positions, untied head."""
    import json

    architectures = {
        "llama": "LlamaForCausalLM",
        "mistral": "MistralForCausalLM",
        "mixtral": "MixtralForCausalLM",
    }

    def write(model_type: str = "llama", **extra: object) -> str:
        config = {
            "architectures": [architectures[model_type]],
            "model_type": model_type,
            "hidden_act": "silu",
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "vocab_size": 256,
            "max_position_embeddings": 512,
            "tie_word_embeddings": False,
            **extra,
        }
        path = tmp_path / f"{model_type}-config.json"
        path.write_text(json.dumps(config))
        return str(path)

    return write
