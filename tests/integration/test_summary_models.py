"""Whole-model static analysis pinned to published and hand-derived figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nnperf


def test_mnist_torchsummary_table_matches_torchsummary_readme(root: Path) -> None:
    from nnperf.static.views import torchsummary_text

    golden = (root / "tests/golden/mnist_torchsummary.txt").read_text().rstrip("\n")
    assert torchsummary_text(nnperf.summary("mnist-cnn")) == golden


def test_resnet50_forward_macs_match_published_4_09_gmacs() -> None:
    s = nnperf.summary("resnet50")  # batch 1, 3x224x224
    # torchvision publishes 4.09 "GFLOPS" for resnet50: they are multiply-adds (MACs).
    assert abs(s.forward.macs / 4.09e9 - 1) < 0.01
    assert s.forward.flops > 2 * s.forward.macs  # + batch norm, ReLU, pooling, adds, bias
    assert s.uncounted_ops == {}


def test_backward_counted_op_by_op_first_layer_has_no_input_gradient() -> None:
    s = nnperf.summary("resnet50")
    # conv1: 64 out channels x 112x112 outputs x (3 in x 7x7 kernel) = 118,013,952 MACs.
    conv1 = 64 * 112 * 112 * 3 * 7 * 7
    assert conv1 == 118_013_952
    # Every conv/linear computes a weight gradient (= its forward MACs) and an input gradient (= its
    # forward MACs) except conv1, whose input (the image) needs no gradient.
    assert s.backward.macs == 2 * s.forward.macs - conv1


def gpt2_analytic_macs(batch: int, seq: int, layers: int = 12, d: int = 768, vocab: int = 50257) -> int:
    # Per token and layer: qkv projection 3d^2, output projection d^2, MLP 4d^2 + 4d^2 = 12 d^2.
    # LM head (tied to the embedding): d * vocab per token.
    # Attention per layer: Q K^T is seq x seq x d, attention x V is seq x seq x d (all heads together).
    dense = batch * seq * (12 * layers * d * d + d * vocab)
    attention = batch * layers * 2 * seq * seq * d
    return dense + attention


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_gpt2_forward_macs_equal_analytic_2NT_plus_attention(attn: str) -> None:
    s = nnperf.summary("gpt2", batch=2, seq=64, attn_implementation=attn)
    assert s.forward.macs == gpt2_analytic_macs(2, 64)
    # 2 FLOPs per MAC: the matmul part of the FLOPs is 2 * N_matmul_params * tokens + attention.
    assert s.forward.flops >= 2 * gpt2_analytic_macs(2, 64)
    assert s.uncounted_ops == {}


def llama_analytic_macs(batch: int, seq: int, experts_per_token: int = 0, experts: int = 0) -> int:
    d, ffn, layers, heads, kv_heads, vocab = 64, 128, 2, 4, 2, 256
    kv = d // heads * kv_heads
    # Per token and layer: q and o d^2 each, k and v d*kv each (grouped-query attention); the SwiGLU MLP
    # 3*d*ffn, once per expert the token is routed to (and the router's d*experts) in a mixture of experts.
    mlp = 3 * d * ffn * experts_per_token + d * experts if experts else 3 * d * ffn
    per_token = layers * (2 * d * d + 2 * d * kv + mlp) + d * vocab
    # Attention: Q K^T and attention x V over all heads, seq x seq x d each (K and V repeated per group).
    return batch * seq * per_token + batch * layers * 2 * seq * seq * d


def test_llama_grouped_query_attention_macs_equal_analytic(tiny_lm_config) -> None:
    s = nnperf.summary(tiny_lm_config("llama"), batch=2, seq=16)
    assert s.forward.macs == llama_analytic_macs(2, 16)
    assert s.uncounted_ops == {}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_mixture_of_experts_flops_are_exact_without_routing(tiny_lm_config, dtype: str) -> None:
    # Each token goes through 2 of 4 experts; which ones is decided by the router at run time, but the FLOPs
    # do not depend on it. The meta count (no routing at all) must equal the count of a real CPU run.
    path = tiny_lm_config("mixtral", num_local_experts=4, num_experts_per_tok=2)
    meta = nnperf.summary(path, batch=2, seq=16, dtype=dtype, tensor_mode="meta")
    real = nnperf.summary(path, batch=2, seq=16, dtype=dtype, tensor_mode="cpu")
    assert meta.forward.macs == llama_analytic_macs(2, 16, experts_per_token=2, experts=4)
    assert any(r.op == "aten._grouped_mm.default" for r in meta.ops)  # the experts' grouped matmuls
    for phase in ("inference", "backward", "optimizer"):
        assert getattr(meta, phase).flops == getattr(real, phase).flops, phase
    assert meta.uncounted_ops == real.uncounted_ops == {}


@torch.library.custom_op("nnperf_test::mystery", mutates_args=(), schema="(Tensor x) -> Tensor")
def mystery(x):
    return x.clone()


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


def test_custom_op_without_formula_is_listed_as_uncounted() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.ops.nnperf_test.mystery(x))

    s = nnperf.summary(Net(), input=(8,))
    assert s.uncounted_ops.get("nnperf_test.mystery.default", 0) >= 1
    assert any("uncounted" in w for w in s.profile.warnings)
    # The linear layer is still counted: batch 1 x 8 x 4 = 32 MACs.
    assert s.forward.macs == 32


def test_mnist_nnperf_table_golden(root: Path) -> None:
    from nnperf.cli.main import render_summary

    golden = (root / "tests/golden/mnist_nnperf_table.txt").read_text().rstrip("\n")
    assert render_summary(nnperf.summary("mnist-cnn"), "table") == golden
    assert golden in (root / "README.md").read_text()  # the README shows what the tool prints


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_module_rows_sum_to_totals(depth: int) -> None:
    from nnperf.static import aggregate

    s = nnperf.summary("resnet18", mode="train")
    for phase, total in s.training.items():
        rows = [t for (path, ph), t in aggregate.by_module(s.profile.train_ops, depth).items() if ph == phase]
        assert sum(t.flops for t in rows) == total.flops
        assert sum(t.bytes for t in rows) == total.bytes
    assert sum(s.profile.activations_by_module.values()) == s.memory.activations


def test_totals_reconcile_with_flopcounter_mode() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from nnperf.models import InputSpec, build_workload

    s = nnperf.summary("resnet50")
    w = build_workload("resnet50", InputSpec())
    w.model.eval()
    args, kwargs = w.make_inputs(torch.device("meta"), train=False)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        w.model(*args, **kwargs)
    fwd = s.to_dict()["forward"]
    # FlopCounterMode costs convolutions and matmuls only: exactly nnperf's multiply-add part ...
    assert fwd["flops_from_macs"] == fc.get_total_flops()
    # ... and the rest (batch norm, ReLU, pooling, residual adds, the fc bias) is listed apart, by kind.
    assert fwd["flops_other"] == fwd["flops"] - fc.get_total_flops() > 0
    other_kinds = {k for k, t in s.to_dict()["by_kind"].items() if t["macs"] == 0 and t["flops"] > 0}
    assert {"norm", "pointwise", "pool"} <= other_kinds


def _listed_models() -> list[str]:
    from nnperf.models import list_models

    return [entry.name for entry in list_models()]


@pytest.mark.slow
@pytest.mark.parametrize("name", _listed_models())
def test_every_listed_model_is_analysed_with_every_op_counted(name: str) -> None:
    # What `nnperf models` lists must work with `nnperf summary NAME`; batch 2 because batch norm cannot
    # train on one sample (inception_v3's auxiliary head), which the error for batch 1 says.
    s = nnperf.summary(name, batch=2)
    assert s.uncounted_ops == {}
    assert s.forward.flops > 0 and s.backward.flops > 0
    assert s.profile.tensor_mode == "meta", s.profile.warnings


def _listed_causal_lms() -> list[str]:
    from nnperf.models import list_models

    return [entry.name for entry in list_models() if entry.family == "causal-lm"]


@pytest.mark.slow
@pytest.mark.parametrize("name", _listed_causal_lms())
def test_every_listed_causal_lm_analyses_a_decode_step(name: str) -> None:
    s = nnperf.summary(name, context=64)
    assert s.uncounted_ops == {} and s.profile.tensor_mode == "meta", s.profile.warnings
    assert s.memory.kv_cache > 0
    # One token in fp32: each weight used is read (4 bytes) for one multiply-add (2 FLOPs), 0.5 FLOP/B; the
    # small cache of 65 tokens cannot lift that to 1: memory-bound whatever the model.
    assert s.forward.intensity < 1.0


# One model per architecture among the listed causal LMs (sizes of one architecture run the same ops): the
# decode-step sweep above covers every listed model; this one keeps the suite's time in bounds.
GENERATION_ARCHITECTURES = (
    "gpt2",
    "llama-2-7b",
    "mistral-7b",
    "qwen2.5-7b",
    "mixtral-8x7b",
    "opt-175b",
    "bloom-176b",
)


def test_the_generation_sweep_covers_every_architecture() -> None:
    from nnperf.models.hf_configs import HF_CONFIGS

    listed = set(_listed_causal_lms())
    assert set(GENERATION_ARCHITECTURES) <= listed
    classes = {name: HF_CONFIGS[name].model_class for name in listed if name in HF_CONFIGS}
    assert {classes[n] for n in GENERATION_ARCHITECTURES if n in classes} == set(classes.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", GENERATION_ARCHITECTURES)
def test_every_causal_lm_architecture_analyses_a_generation(name: str) -> None:
    from nnperf.static.generation import analyse_generation

    # 5 decode steps after a 16-token prompt: fitted from 3 analysed steps, checked exactly at the middle one.
    g = analyse_generation(name, prompt=16, generate=6, dtype="bf16")
    assert g.method == "affine" and g.uncounted == {}
    assert g.decode_ops and g.kv_cache_bytes > 0
    # Attention reads more of the cache at each step: some op's bytes grow with the context.
    assert any(op.dbytes > 0 for op in g.decode_ops)
