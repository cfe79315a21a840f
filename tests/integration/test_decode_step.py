"""One decode step of generation with a KV cache (``--context``): costs pinned to hand-derived figures, the
meta-tensor analysis equal to a real CPU run, and the errors for what a decode step cannot be."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nnperf

D, LAYERS, HEADS, VOCAB = 768, 12, 12, 50257  # GPT-2 124M
F32 = 4


def gpt2_decode_macs(batch: int, new: int, context: int) -> int:
    # Per new token and layer: qkv 3d^2 + projection d^2 + MLP 8d^2 = 12 d^2; the LM head d * vocab.
    dense = batch * new * (LAYERS * 12 * D * D + D * VOCAB)
    # Attention over the static cache, which holds context + new tokens: Q K^T and attention x V are
    # new x (context + new) x d each, per layer (all heads together).
    attention = batch * LAYERS * 2 * new * (context + new) * D
    return dense + attention


@pytest.mark.parametrize(("batch", "new", "context"), [(1, 1, 512), (4, 1, 100), (2, 4, 64)])
def test_gpt2_decode_step_macs_and_kv_cache_bytes_equal_hand_counts(
    batch: int, new: int, context: int
) -> None:
    s = nnperf.summary("gpt2", batch=batch, seq=new, context=context)
    assert s.forward.macs == gpt2_decode_macs(batch, new, context)
    # Keys and values of every layer: 2 x batch x heads x (context + new) x 64 floats.
    assert s.memory.kv_cache == LAYERS * 2 * batch * HEADS * (context + new) * (D // HEADS) * F32
    assert s.memory.inputs == batch * new * 8  # the new token ids (int64)
    assert s.uncounted_ops == {}
    # Inference only: nothing of a training step is reported as if measured.
    assert not s.profile.training_analysed and s.profile.train_ops == []
    assert s.memory.peak_infer >= s.memory.parameters + s.memory.kv_cache


def test_decode_step_is_memory_bound_where_the_prompt_is_not() -> None:
    decode = nnperf.summary("gpt2", context=512)
    prompt = nnperf.summary("gpt2", seq=512)
    # A decode step reads every weight (4 bytes) for 2 FLOPs per weight and token: about 0.5 FLOP/B at
    # batch 1, while the 512-token prompt reuses each weight 512 times.
    assert decode.forward.intensity < 1.0
    assert prompt.forward.intensity > 20 * decode.forward.intensity
    # Every weight is read once per step: at least the parameters' bytes move.
    assert decode.forward.bytes_read >= decode.memory.parameters


def tiny_decode_macs(batch: int, context: int, window: int | None = None) -> int:
    d, ffn, layers, kv = 64, 128, 2, 64 // 4 * 2
    per_token = layers * (2 * d * d + 2 * d * kv + 3 * d * ffn) + d * 256
    # Grouped-query attention: the 4 query heads attend over (context + 1) keys; with a sliding window the
    # cache (and so the attention) holds only the window.
    span = min(window, context + 1) if window else context + 1
    return batch * per_token + batch * layers * 2 * span * d


def test_grouped_query_attention_decode_and_its_cache(tiny_lm_config) -> None:
    s = nnperf.summary(tiny_lm_config("llama"), batch=2, context=100)
    assert s.forward.macs == tiny_decode_macs(2, 100)
    # The cache keeps the 2 key/value heads only: 2 layers x (K, V) x batch 2 x 2 heads x 101 x 16 floats.
    assert s.memory.kv_cache == 2 * 2 * 2 * 2 * 101 * 16 * F32


def test_sliding_window_cache_holds_the_window_only(tiny_lm_config) -> None:
    path = tiny_lm_config("mistral", sliding_window=32)
    s = nnperf.summary(path, batch=1, context=100)
    assert s.memory.kv_cache == 2 * 2 * 1 * 2 * 32 * 16 * F32
    assert s.forward.macs == tiny_decode_macs(1, 100, window=32)


@pytest.mark.parametrize("model_type", ["llama", "mistral", "mixtral"])
def test_meta_decode_step_equals_a_real_cpu_decode_step(tiny_lm_config, model_type: str) -> None:
    # On meta tensors the cache is told how many tokens it holds; on real tensors it holds real keys and
    # values (and the CPU runs its fused attention kernel, costed as the math path that meta tensors take).
    # Mixtral in fp32: its warm-up step needs the fp32 grouped_mm shape function on meta tensors too.
    experts = {"num_local_experts": 4, "num_experts_per_tok": 2} if model_type == "mixtral" else {}
    path = tiny_lm_config(model_type, sliding_window=32, **experts)
    meta = nnperf.summary(path, batch=2, context=40, tensor_mode="meta")
    real = nnperf.summary(path, batch=2, context=40, tensor_mode="cpu")
    assert (meta.forward.flops, meta.forward.macs) == (real.forward.flops, real.forward.macs)
    cache_writes = [(r.op, r.shapes) for r in meta.ops if r.op.startswith(("aten.index_copy", "aten.copy_"))]
    assert cache_writes == [
        (r.op, r.shapes) for r in real.ops if r.op.startswith(("aten.index_copy", "aten.copy_"))
    ]
    assert meta.memory.kv_cache == real.memory.kv_cache > 0


def nnperf_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nnperf", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_decode_step_table_and_json() -> None:
    r = nnperf_cli("summary", "gpt2", "--context", "512", "--depth", "1")
    assert r.returncode == 0, r.stderr
    assert "(forward: decode step)" in r.stdout and "Bwd FLOPs" not in r.stdout
    assert "KV cache 37.82 MB" in r.stdout  # 12 x 2 x 12 x 513 x 64 x 4 B = 37,822,464 B
    doc = json.loads(json.dumps(nnperf.summary("gpt2", context=64).to_dict()))  # what --format json prints
    assert doc["context"] == 64 and doc["memory"]["kv_cache"] == 12 * 2 * 12 * 65 * 64 * 4
    assert doc["backward"] is None and doc["training"] is None  # not analysed, not zero


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["summary", "resnet18", "--context", "16"],
            "applies to causal language models; 'resnet18' is a vision",
        ),
        (["roofline", "gpt2", "--context", "16", "--measure"], "drop --measure"),
    ],
)
def test_cli_decode_step_errors(args: list[str], expected: str) -> None:
    r = nnperf_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and expected in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        ("t5-small", {}, "'t5-small' is a seq2seq-lm model"),
        ("gpt2", {"mode": "train"}, "inference only"),
        (
            "gpt2",
            {"context": 1020, "seq": 8},
            "context 1020 + 8 new tokens exceeds the model's 1024 positions",
        ),
        ("gpt2", {"context": -1}, "KV-cache context -1 must be a number of tokens (0: the prefill)"),
    ],
)
def test_what_a_decode_step_cannot_be(model: str, kwargs: dict, expected: str) -> None:
    from nnperf.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(expected)):
        nnperf.summary(model, **{"context": 16, **kwargs})


def test_context_0_is_the_prefill_into_an_empty_cache() -> None:
    prefill = nnperf.summary("gpt2", seq=64, context=0)
    plain = nnperf.summary("gpt2", seq=64)  # the forward of the prompt, its keys and values in a DynamicCache
    p = prefill.profile
    assert p.input == "1x64 tokens into an empty KV cache (prefill)" and p.inference_pass == "prefill"
    # The same matrix products but the LM head's: as generate() does (logits_to_keep=1), the prefill computes the
    # logits of the last prompt token only, 63 x 768 x 50257 multiply-adds fewer. The static cache holds the
    # prompt's keys and values: 12 layers x (K, V) x 12 heads x 64 tokens x 64 dims x 4 B.
    assert plain.inference.macs - prefill.inference.macs == 63 * 768 * 50257
    assert p.memory.kv_cache == 12 * 2 * 12 * 64 * 64 * 4
    assert not p.training_analysed


def test_roofline_places_the_decode_step_on_the_memory_side() -> None:
    from nnperf.analysis.roofline import ceilings_from_profile
    from nnperf.analysis.roofline_points import roofline_points

    # Roofs of 160 GFLOP/s and 40 GB/s: ridge at 4 FLOP/B. GPT-2's decode step does about 0.5 FLOP/B (every
    # weight read for 2 FLOPs), its 512-token prompt about 30: one on each side.
    ceilings = ceilings_from_profile(
        {"measured": {"flops": {"fp32": 160e9}, "bandwidth": {"dram": {"triad": 40e9}}}}
    )
    decode = roofline_points(nnperf.summary("gpt2", context=512), ceilings, level="model")
    assert [(p.scope, p.bound) for p in decode.points] == [("decode step", "memory")]  # no training point
    prompt = roofline_points(nnperf.summary("gpt2", seq=512), ceilings, level="model")
    assert {p.scope: p.bound for p in prompt.points}["inference"] == "compute"


def test_bench_measures_decode_steps_and_counts_what_the_summary_estimates(tiny_lm_config) -> None:
    from nnperf.measure.bench import measure
    from nnperf.records.measurement import RunSpec

    path = tiny_lm_config("llama")
    spec = RunSpec(model=path, batch=2, context=200, warmup=2, min_iters=8, min_time_s=0.0)
    m = measure(spec, peaks=False)
    assert m.ok, m.error
    # Every timed step is the same decode step: the cache is rewound to 200 tokens before each (without
    # it the second step would write past the end of the 201-token cache and fail).
    assert len(m.step_time_s) >= 8
    assert m.flops["counted"] == m.flops["predicted"] and m.flops["uncounted_ops"] == {}
    # The live-tensor peak of a real step (weights, cache, activations) is the one the summary predicts.
    assert m.memory["peak_live_bytes"] == m.memory["predicted_peak_bytes"]
    d = m.to_dict()
    # One new token per sequence per step: tokens/s = samples/s = batch / step time.
    assert d["throughput"]["tokens_per_s"] == pytest.approx(d["throughput"]["samples_per_s"])
    assert d["throughput"]["samples_per_s"] == pytest.approx(2 / d["step_time_s"]["median"], rel=0.01)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"mode": "train"}, "inference only"),
        ({"data": "generated"}, "runs on synthetic tokens"),
        ({"context": -3}, "KV-cache context must be a positive number of tokens, got -3"),
    ],
)
def test_bench_rejects_what_a_decode_step_cannot_be(settings: dict, expected: str) -> None:
    from nnperf.errors import UsageError
    from nnperf.measure.bench import validate
    from nnperf.records.measurement import RunSpec

    with pytest.raises(UsageError, match=re.escape(expected)):
        validate(RunSpec(model="gpt2", **{"context": 64, **settings}))


@pytest.mark.slow
def test_a_study_of_decode_steps_runs_skips_training_and_reports_the_cache(
    tmp_path: Path, tiny_lm_config
) -> None:
    path = tiny_lm_config("llama")
    spec = tmp_path / "decode.yaml"
    spec.write_text(
        f"""
name: decode
models:
  - {{name: "{path}", context: 100, label: tiny-decode}}
axes:
  mode: [infer, train]
  batch: [2]
environments:
  - {{name: here}}
run: {{warmup: 1, min_iters: 3, min_time_s: 0, timeout_s: 180}}
"""
    )
    results = tmp_path / "results"
    r = nnperf_cli("study", "run", str(spec), "--results", str(results))
    assert r.returncode == 0, r.stderr
    records = [json.loads(p.read_text()) for p in sorted((results / "cases").glob("*.json"))]
    # Training a decode step means nothing: that combination is left out, with the reason, not run.
    assert "a decode step (context) is inference only" in r.stdout + r.stderr
    assert len(records) == 1 and records[0]["status"] == "ok"
    record = records[0]
    assert record["spec"]["context"] == 100 and record["spec"]["mode"] == "infer"
    # The case's prediction comes from the study's stored decode-step analysis: the same FLOPs.
    assert record["flops"]["counted"] == record["flops"]["predicted"]
    # The report's memory table shows the cache (2 layers x K, V x batch 2 x 2 heads x 101 x 16 x 4 B) and
    # no training memory for it.
    report = (results / "report" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| tiny-decode") and "KB" in line)
    assert "103.42 KB" in row  # 2 * 2 * 2 * 2 * 101 * 16 * 4 = 103,424 B


def test_batch_sweep_of_decode_steps_raises_generation_throughput(tiny_lm_config) -> None:
    from nnperf.measure.scaling import batch_scaling, scaling_text

    result = batch_scaling(
        tiny_lm_config("llama"), [1, 8], context=200, warmup=1, min_iters=5, min_time_s=0.05
    )
    assert [p.status for p in result.points] == ["ok", "ok"]
    assert all(p.detail["spec"]["context"] == 200 for p in result.points)
    assert "context=200" in scaling_text(result).splitlines()[0]
    # A decode step's cost is mostly per step, not per sequence (the weights are read once, and for this tiny
    # model per-op overhead dominates): 8 sequences in one step cost far less than 8 steps.
    one, eight = (p.detail["step_time_s"]["median"] for p in result.points)
    assert eight < 4 * one, (one, eight)


def test_a_dynamic_cache_copies_itself_to_append(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")  # 2 layers, 2 KV heads of 16 dims, fp32

    def step(context: int, cache: str):
        return nnperf.summary(path, batch=3, context=context, cache=cache)

    static = {c: step(c, "static") for c in (40, 100)}
    dynamic = {c: step(c, "dynamic") for c in (40, 100)}
    assert dynamic[40].profile.input == "3x1 tokens after 40 in the dynamic KV cache (decode step)"
    # The same arithmetic; the same cache once the step has added its token.
    for c in (40, 100):
        assert dynamic[c].inference.macs == static[c].inference.macs  # (masks are built differently)
        assert (
            dynamic[c].profile.memory.kv_cache
            == static[c].profile.memory.kv_cache
            == 2 * 2 * 3 * 2 * (c + 1) * 16 * 4
        )
    # torch.cat reads the old cache and the new token and writes the longer cache: per layer and K or V,
    # (c + 1) + (c + 1) tokens of batch 3 x 2 heads x 16 dims x 4 B. The static step has no cat.
    token = 3 * 2 * 16 * 4

    def appends(s, c: int) -> list:
        # The cache's cats (old keys or values of shape (3, 2, c, 16) and the new token), not RoPE's.
        return [r for r in s.profile.infer_ops if r.op == "aten.cat.default" and r.shapes[0] == (3, 2, c, 16)]

    for c in (40, 100):
        cats = appends(dynamic[c], c)
        assert len(cats) == 2 * 2
        assert all(r.bytes_read == (c + 1) * token and r.bytes_written == (c + 1) * token for r in cats)
        assert not appends(static[c], c)
    assert dynamic[100].inference.bytes - static[100].inference.bytes > 4 * 2 * 100 * token * 0.9
    # Memory: each layer's old keys and values are freed once copied, so the dynamic step's peak exceeds the
    # static one's by less than one layer's cache (2 x 101 tokens), not by the whole cache of both layers.
    extra = dynamic[100].profile.memory.peak_infer - static[100].profile.memory.peak_infer
    assert 0 < extra < 2 * 101 * token


def test_cache_needs_a_context() -> None:
    from nnperf.errors import UsageError

    with pytest.raises(UsageError, match="a dynamic KV cache needs a decode step"):
        nnperf.summary("gpt2", cache="dynamic")
    with pytest.raises(UsageError, match="unknown KV cache 'paged'"):
        nnperf.summary("gpt2", context=8, cache="paged")
