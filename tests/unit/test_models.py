"""Model sources: exact parameter counts against independent references, inputs, losses and errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nnperf.errors import ModelError, UnknownModelError, UsageError
from nnperf.models import (
    DTYPES,
    InputSpec,
    ModelEntry,
    Workload,
    build_workload,
    list_models,
    parse_dtype,
    parse_shape,
    registry,
)
from nnperf.models.hf_configs import HF_CONFIGS
from nnperf.models.torchvision_source import _names as torchvision_names
from nnperf.models.torchvision_source import published_num_params
from nnperf.static.params import count_parameters

DATA = Path(__file__).resolve().parents[1] / "data"
USER_FILE = DATA / "user_model.py"


def _train_step_on(w: Workload, device: str = "meta") -> torch.Tensor:
    """One forward + loss + backward, as the measuring code will run it; returns the loss."""
    w.model.train()
    inputs = w.make_inputs(device, train=True)
    args, kwargs = inputs
    loss = w.loss(w.model(*args, **kwargs), inputs)
    assert loss.shape == ()
    loss.backward()
    return loss


# ------------------------------------------------------------------------------------------------------
# Parsers and the input spec


@pytest.mark.parametrize(
    ("text", "shape"),
    [("3x224x224", (3, 224, 224)), ("1X28X28", (1, 28, 28)), ("3,32,32", (3, 32, 32)), ("(16,)", (16,))],
)
def test_parse_shape(text: str, shape: tuple[int, ...]) -> None:
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["3x-2", "", "3x", "x3", "axb", "3x0x4", "3.5x2"])
def test_parse_shape_rejects(text: str) -> None:
    with pytest.raises(UsageError, match=r"malformed shape .*use dims like 3x224x224") as info:
        parse_shape(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("fp32", "fp32"),
        ("float32", "fp32"),
        ("fp16", "fp16"),
        ("half", "fp16"),
        ("BF16", "bf16"),
        ("bfloat16", "bf16"),
        ("torch.bfloat16", "bf16"),
        ("fp64", "fp64"),
    ],
)
def test_parse_dtype(text: str, name: str) -> None:
    assert parse_dtype(text) == name
    assert name in DTYPES


def test_parse_dtype_rejects_naming_value_and_choices() -> None:
    with pytest.raises(UsageError, match=r"unknown dtype 'int8': choose one of fp32, fp16, bf16, fp64"):
        parse_dtype("int8")


def test_input_spec_validates_and_canonicalises() -> None:
    spec = InputSpec(batch=2, sample_shape=[3, 32, 32], dtype="bfloat16")  # type: ignore[arg-type]
    assert spec.sample_shape == (3, 32, 32)
    assert spec.dtype == "bf16"
    assert spec.torch_dtype is torch.bfloat16
    with pytest.raises(UsageError, match="batch size 0"):
        InputSpec(batch=0)
    with pytest.raises(UsageError, match="sequence length -1"):
        InputSpec(seq=-1)
    with pytest.raises(UsageError, match="malformed shape"):
        InputSpec(sample_shape=(3, 0))
    with pytest.raises(UsageError, match="unknown attention implementation 'flash'"):
        InputSpec(attn_implementation="flash")


# ------------------------------------------------------------------------------------------------------
# Built-ins


def test_mnist_cnn_matches_torchsummary_readme() -> None:
    w = build_workload("mnist-cnn", InputSpec())
    # conv1 1*10*5*5 + 10 = 260; conv2 10*20*5*5 + 20 = 5,020; fc1 320*50 + 50 = 16,050;
    # fc2 50*10 + 10 = 510; total 260 + 5,020 + 16,050 + 510 = 21,840 (torchsummary README).
    assert count_parameters(w.model).total == 21_840
    assert (w.name, w.source, w.family) == ("mnist-cnn", "builtin", "vision")
    assert w.spec.sample_shape == (1, 28, 28)
    assert w.input_description == "1x1x28x28 float32"
    assert w.model.conv1.weight.device.type == "meta"


def test_mnist_cnn_runs_on_cpu_with_real_data() -> None:
    torch.manual_seed(0)
    w = build_workload("mnist-cnn", InputSpec(batch=3), device="cpu")
    w.model.eval()
    args, kwargs = w.make_inputs("cpu", train=False)
    out = w.model(*args, **kwargs)
    assert out.shape == (3, 10)
    # log_softmax output: probabilities sum to one per sample.
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))
    loss = _train_step_on(w, "cpu")
    assert torch.isfinite(loss)
    assert w.model.fc2.weight.grad is not None


# ------------------------------------------------------------------------------------------------------
# torchvision: every classification model against the published num_params of its default weights

TORCHVISION = torchvision_names()


def test_torchvision_lists_every_classification_model() -> None:
    assert len(TORCHVISION) >= 80
    assert {"resnet50", "inception_v3", "regnet_y_128gf", "vit_h_14", "maxvit_t"} <= set(TORCHVISION)


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_parameter_count_is_published(name: str) -> None:
    w = build_workload(name, InputSpec())
    assert count_parameters(w.model).total == published_num_params(name)
    assert all(p.device.type == "meta" for p in w.model.parameters())


@pytest.mark.parametrize(
    ("name", "crop"),
    [("resnet50", 224), ("inception_v3", 299), ("efficientnet_b7", 600), ("vit_h_14", 518), ("alexnet", 224)],
)
def test_torchvision_default_input_is_the_weights_crop(name: str, crop: int) -> None:
    w = build_workload(name, InputSpec(batch=2))
    assert w.spec.sample_shape == (3, crop, crop)
    assert w.input_description == f"2x3x{crop}x{crop} float32"


def test_inception_keeps_aux_logits_and_trains_on_main_logits() -> None:
    w = build_workload("inception_v3", InputSpec(batch=2))
    assert w.model.AuxLogits is not None  # part of the published 27,161,264
    w.model.train()
    inputs = w.make_inputs("meta", train=True)
    out = w.model(*inputs[0], **inputs[1])
    assert out.logits.shape == out.aux_logits.shape == (2, 1000)
    assert w.loss(out, inputs).shape == ()


def test_googlenet_is_built_without_aux_heads_as_published() -> None:
    w = build_workload("googlenet", InputSpec())
    assert w.model.aux1 is None and w.model.aux2 is None
    assert count_parameters(w.model).total == 6_624_904


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "inception_v3", "vit_b_16", "regnet_y_400mf"])
def test_torchvision_trains_on_meta(name: str) -> None:
    _train_step_on(build_workload(name, InputSpec(batch=2)))


@pytest.mark.slow
@pytest.mark.parametrize("name", TORCHVISION)
def test_every_torchvision_model_trains_on_meta(name: str) -> None:
    _train_step_on(build_workload(name, InputSpec(batch=2)))


def test_vision_dtype_and_inputs() -> None:
    w = build_workload("resnet18", InputSpec(batch=4, dtype="bf16"))
    assert {p.dtype for p in w.model.parameters()} == {torch.bfloat16}
    (x,), kwargs = w.make_inputs("meta", train=False)
    assert kwargs == {}
    assert (x.shape, x.dtype, x.device.type) == ((4, 3, 224, 224), torch.bfloat16, "meta")
    assert w.input_bytes() == 4 * 3 * 224 * 224 * 2  # elements * 2 bytes
    assert w.input_description == "4x3x224x224 bfloat16"


def test_torchvision_builds_on_cpu() -> None:
    torch.manual_seed(0)
    w = build_workload("resnet18", InputSpec(batch=2, sample_shape=(3, 64, 64)), device="cpu")
    assert {p.device.type for p in w.model.parameters()} == {"cpu"}
    assert count_parameters(w.model).total == published_num_params("resnet18")
    assert torch.isfinite(_train_step_on(w, "cpu"))


def test_custom_sample_shape_overrides_default() -> None:
    w = build_workload("resnet18", InputSpec(sample_shape=(3, 64, 64)))
    assert w.spec.sample_shape == (3, 64, 64)
    out = w.model.eval()(*w.make_inputs("meta", train=False)[0])
    assert out.shape == (1, 1000)


# ------------------------------------------------------------------------------------------------------
# Hugging Face configs


def _transformers_reference(name: str) -> int:
    """The same architecture built directly with transformers, counted by transformers itself."""
    import transformers

    entry = HF_CONFIGS[name]
    kwargs = dict(entry.config)
    config = transformers.AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    with torch.device("meta"):
        model = getattr(transformers, entry.model_class)._from_config(config)
    return model.num_parameters()


@pytest.mark.parametrize("name", list(HF_CONFIGS))
def test_hf_parameter_count_matches_transformers(name: str) -> None:
    w = build_workload(name, InputSpec())
    assert count_parameters(w.model).total == _transformers_reference(name)
    assert w.family == HF_CONFIGS[name].family
    assert all(p.device.type == "meta" for p in w.model.parameters())


def _gpt2_lm_params(layers: int, d: int, vocab: int, positions: int) -> int:
    # Per block: ln_1 2d; c_attn d*3d + 3d; attn c_proj d*d + d; ln_2 2d; c_fc d*4d + 4d; mlp c_proj 4d*d + d
    #   = 12d^2 + 13d.  Plus wte vocab*d, wpe positions*d, ln_f 2d; lm_head is tied to wte (no extra).
    return layers * (12 * d * d + 13 * d) + (vocab + positions) * d + 2 * d


def test_gpt2_count_analytic() -> None:
    # 12*(12*768^2 + 13*768) = 85,054,464; (50257 + 1024)*768 = 39,383,808; 2*768 = 1,536.
    assert _gpt2_lm_params(12, 768, 50257, 1024) == 124_439_808
    assert count_parameters(build_workload("gpt2", InputSpec()).model).total == 124_439_808


def test_gpt3_175b_count_analytic() -> None:
    # 96*(12*12288^2 + 13*12288) = 173,946,175,488 + 15,335,424; (50257 + 2048)*12288 = 642,723,840;
    # 2*12288 = 24,576.  Total 174,604,259,328 (the paper's "175B").
    assert _gpt2_lm_params(96, 12288, 50257, 2048) == 174_604_259_328
    w = build_workload("gpt3-175b", InputSpec(dtype="fp16"))
    count = count_parameters(w.model)
    assert count.total == 174_604_259_328
    assert count.param_bytes == 2 * 174_604_259_328


def _llama_params(
    d: int, ffn: int, layers: int, heads: int, kv_heads: int, vocab: int, experts: int = 1
) -> int:
    kv = d // heads * kv_heads  # grouped-query attention: K and V have kv_heads heads of d / heads
    attention = d * d + 2 * d * kv + d * d  # q, k, v, o; no biases
    mlp = experts * 3 * d * ffn + (d * experts if experts > 1 else 0)  # gate, up, down (+ the router)
    return vocab * d + layers * (attention + mlp + 2 * d) + d + d * vocab  # embed, norms, final norm, head


# The parameter counts the model cards publish (the safetensors total on the Hub).
@pytest.mark.parametrize(
    ("name", "shape", "published"),
    [
        ("llama-2-7b", (4096, 11008, 32, 32, 32, 32000), 6_738_415_616),
        ("llama-2-13b", (5120, 13824, 40, 40, 40, 32000), 13_015_864_320),
        ("llama-2-70b", (8192, 28672, 80, 64, 8, 32000), 68_976_648_192),
        ("llama-3-8b", (4096, 14336, 32, 32, 8, 128256), 8_030_261_248),
        ("llama-3-70b", (8192, 28672, 80, 64, 8, 128256), 70_553_706_496),
        ("llama-3.1-405b", (16384, 53248, 126, 128, 8, 128256), 405_853_388_800),
        ("mistral-7b", (4096, 14336, 32, 32, 8, 32000), 7_241_732_096),
        ("mixtral-8x7b", (4096, 14336, 32, 32, 8, 32000, 8), 46_702_792_704),
    ],
)
def test_llama_family_counts_are_published(name: str, shape: tuple, published: int) -> None:
    assert _llama_params(*shape) == published
    assert count_parameters(build_workload(name, InputSpec()).model).total == published


def test_qwen2_5_7b_count_with_qkv_biases() -> None:
    d, kv = 3584, 3584 // 28 * 4
    # Qwen2 is the Llama layout plus biases on q, k and v: d + 2 * kv per layer.
    expected = _llama_params(d, 18944, 28, 28, 4, 152064) + 28 * (d + 2 * kv)
    assert expected == 7_615_616_512  # published
    assert count_parameters(build_workload("qwen2.5-7b", InputSpec()).model).total == expected


def test_bert_base_cased_mlm_count_analytic() -> None:
    d, vocab, layers = 768, 28996, 12
    # Embeddings: word 28996*768 = 22,268,928; position 512*768 = 393,216; token type 2*768 = 1,536;
    # LayerNorm 2*768 = 1,536.
    embeddings = vocab * d + 512 * d + 2 * d + 2 * d
    # Layer: Q, K, V, O 4*(d^2 + d); LayerNorm 2d; FFN d*3072 + 3072 + 3072*d + d; LayerNorm 2d
    #   = 12d^2 + 13d = 7,087,872 (intermediate 3072 = 4d).
    layer = 4 * (d * d + d) + 2 * d + (d * 3072 + 3072 + 3072 * d + d) + 2 * d
    assert layer == 12 * d * d + 13 * d == 7_087_872
    # BertModel as published (with the pooler d^2 + d): 108,310,272 ("110M").
    assert embeddings + layers * layer + (d * d + d) == 108_310_272
    # BertForMaskedLM has no pooler; its head: transform dense d^2 + d, LayerNorm 2d, decoder bias vocab
    # (the decoder weight is tied to the word embeddings).
    mlm = embeddings + layers * layer + (d * d + d) + 2 * d + vocab
    assert mlm == 108_340_804
    assert count_parameters(build_workload("bert-base-cased", InputSpec()).model).total == mlm


def test_distilbert_mlm_count_analytic() -> None:
    d, vocab = 768, 30522
    # Embeddings: word 30522*768 + position 512*768 + LayerNorm 2d; 6 layers of 12d^2 + 13d (as BERT);
    # head: vocab_transform d^2 + d, vocab_layer_norm 2d, vocab_projector bias 30522 (weight tied).
    expected = vocab * d + 512 * d + 2 * d + 6 * (12 * d * d + 13 * d) + d * d + d + 2 * d + vocab
    assert expected == 66_985_530
    assert count_parameters(build_workload("distilbert-base-uncased", InputSpec()).model).total == expected


def test_t5_small_count_analytic() -> None:
    d, inner, d_ff, layers, heads, buckets, vocab = 512, 8 * 64, 2048, 6, 8, 32, 32128
    # No biases; RMS-style LayerNorms have a weight only (d). Relative position bias buckets*heads in the
    # first layer of each stack. Encoder layer: q, k, v, o 4*d*inner; FFN 2*d*d_ff; 2 norms.
    encoder = layers * (4 * d * inner + 2 * d * d_ff + 2 * d) + buckets * heads + d
    # Decoder layer: self- and cross-attention 8*d*inner; FFN 2*d*d_ff; 3 norms.
    decoder = layers * (8 * d * inner + 2 * d * d_ff + 3 * d) + buckets * heads + d
    expected = vocab * d + encoder + decoder  # lm_head tied to the shared embedding
    assert expected == 60_506_624
    assert count_parameters(build_workload("t5-small", InputSpec()).model).total == expected


def test_gpt2_lm_head_is_tied_and_counted_once() -> None:
    model = build_workload("gpt2", InputSpec()).model
    assert model.lm_head.weight is model.transformer.wte.weight
    naive = sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False))
    # Summing per module counts the shared 50257*768 matrix twice; count_parameters does not.
    assert naive - count_parameters(model).total == 50257 * 768


@pytest.mark.parametrize(
    ("name", "family", "n_inputs"),
    [
        ("gpt2", "causal-lm", 1),
        ("bert-base-cased", "masked-lm", 1),
        ("distilbert-base-uncased", "masked-lm", 1),
        ("t5-small", "seq2seq-lm", 2),
    ],
)
def test_hf_inputs_and_loss_on_meta(name: str, family: str, n_inputs: int) -> None:
    w = build_workload(name, InputSpec(batch=2, seq=16, dtype="fp16"))
    assert w.family == family
    assert {p.dtype for p in w.model.parameters()} == {torch.float16}
    args, kwargs = w.make_inputs("meta", train=False)
    assert args == () and len(kwargs) == n_inputs and "labels" not in kwargs
    for t in kwargs.values():  # token ids stay int64 whatever the model dtype
        assert (t.shape, t.dtype, t.device.type) == ((2, 16), torch.int64, "meta")
    assert w.input_bytes() == n_inputs * 2 * 16 * 8
    expected = "2x16 tokens" + (" (encoder and decoder)" if n_inputs == 2 else "")
    assert w.input_description == expected
    # Training inputs carry labels, so the model computes its own loss.
    train_inputs = w.make_inputs("meta", train=True)
    out = w.model.train()(*train_inputs[0], **train_inputs[1])
    assert w.loss(out, train_inputs) is out.loss
    out.loss.backward()
    # Without labels the loss is computed from the logits instead.
    w.model.eval()
    out = w.model(**kwargs)
    assert out.loss is None
    assert w.loss(out, (args, kwargs)).shape == ()


def test_hf_seq_default_and_limit() -> None:
    assert build_workload("gpt2", InputSpec()).spec.seq == 128
    assert build_workload("gpt2", InputSpec(seq=1024)).spec.seq == 1024
    with pytest.raises(UsageError, match="sequence length 2048 exceeds the model's 1024 positions"):
        build_workload("gpt2", InputSpec(seq=2048))
    assert build_workload("t5-small", InputSpec(seq=4096)).spec.seq == 4096  # relative positions: no limit


def test_hf_attention_implementation() -> None:
    assert build_workload("gpt2", InputSpec()).spec.attn_implementation == "sdpa"
    eager = build_workload("gpt2", InputSpec(attn_implementation="eager"))
    assert eager.model.config._attn_implementation == "eager"
    # BLOOM has no SDPA path in transformers 5.24: the default falls back to eager, asking for it fails.
    assert build_workload("bloom-176b", InputSpec()).spec.attn_implementation == "eager"
    with pytest.raises(ModelError, match=r"cannot build 'bloom-176b' .*attn_implementation='sdpa'"):
        build_workload("bloom-176b", InputSpec(attn_implementation="sdpa"))


def test_hf_hub_ids_are_aliases() -> None:
    w = build_workload("openai-community/gpt2", InputSpec())
    assert w.name == "gpt2"


# ------------------------------------------------------------------------------------------------------
# transformers config.json by path


def _write_json(path: Path, data: dict[str, Any]) -> str:
    path.write_text(json.dumps(data))
    return str(path)


_SMALL_GPT2 = {
    "model_type": "gpt2",
    "n_layer": 2,
    "n_embd": 32,
    "n_head": 4,
    "n_positions": 64,
    "vocab_size": 100,
}


def test_config_json_gpt2(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "config.json", {**_SMALL_GPT2, "architectures": ["GPT2LMHeadModel"]})
    w = build_workload(path, InputSpec(batch=2))
    assert (w.name, w.source, w.family) == (path, "hf-config-file", "causal-lm")
    assert type(w.model).__name__ == "GPT2LMHeadModel"
    assert w.spec.seq == 64  # default 128 capped at n_positions
    # 2*(12*32^2 + 13*32) = 25,408; (100 + 64)*32 = 5,248; ln_f 64: 30,720.
    assert count_parameters(w.model).total == _gpt2_lm_params(2, 32, 100, 64) == 30_720
    _train_step_on(w)


def test_config_json_without_architectures_picks_head_by_model_type(tmp_path: Path) -> None:
    gpt2 = build_workload(_write_json(tmp_path / "gpt2.json", _SMALL_GPT2), InputSpec())
    assert type(gpt2.model).__name__ == "GPT2LMHeadModel"
    bert = {"model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2}
    bert_w = build_workload(
        _write_json(tmp_path / "bert.json", {**bert, "intermediate_size": 64}), InputSpec()
    )
    assert (type(bert_w.model).__name__, bert_w.family) == ("BertForMaskedLM", "masked-lm")
    t5 = {"model_type": "t5", "d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 1}
    t5_w = build_workload(_write_json(tmp_path / "t5.json", t5), InputSpec())
    assert (type(t5_w.model).__name__, t5_w.family) == ("T5ForConditionalGeneration", "seq2seq-lm")
    # No decoder_start_token_id in this config: explicit decoder_input_ids make training work anyway.
    _train_step_on(t5_w)


def test_config_json_runs_on_cpu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    w = build_workload(_write_json(tmp_path / "c.json", _SMALL_GPT2), InputSpec(batch=2, seq=8), device="cpu")
    assert w.model.lm_head.weight.device.type == "cpu"
    loss = _train_step_on(w, "cpu")
    assert torch.isfinite(loss)


def test_config_json_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"config file '.*missing.json' not found"):
        build_workload(str(tmp_path / "missing.json"), InputSpec())
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ModelError, match="cannot read config file"):
        build_workload(str(bad), InputSpec())
    with pytest.raises(ModelError, match="unknown model_type 'nosuchmodel'"):
        build_workload(_write_json(tmp_path / "u.json", {"model_type": "nosuchmodel"}), InputSpec())
    with pytest.raises(ModelError, match="has no 'model_type'"):
        build_workload(_write_json(tmp_path / "n.json", {"n_layer": 2}), InputSpec())


# ------------------------------------------------------------------------------------------------------
# User factories


def test_user_file_factory() -> None:
    spec_text = f"{USER_FILE}:make_tiny"
    w = build_workload(spec_text, InputSpec(batch=2, sample_shape=(3, 8, 8)))
    assert (w.name, w.source, w.family) == (f"user:{spec_text}", "user", "custom")
    assert count_parameters(w.model).total == 260  # see TinyNet's docstring
    assert w.model.conv.weight.device.type == "meta"
    _train_step_on(w)
    # The canonical name builds the same model again.
    assert build_workload(w.name, w.spec).name == w.name


def test_user_module_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(DATA))
    w = build_workload("user_model:make_tiny", InputSpec(sample_shape=(3, 8, 8)), device="cpu")
    assert count_parameters(w.model).total == 260
    assert w.model.fc.weight.device.type == "cpu"


def test_user_package_module_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "nnperf_test_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(
        "from torch import nn\n\nclass Net(nn.Linear):\n    def __init__(self):\n"
        "        super().__init__(5, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    w = build_workload("nnperf_test_pkg.nets:Net", InputSpec(sample_shape=(5,)))  # a class is a factory
    assert count_parameters(w.model).total == 18  # 5*3 + 3
    assert w.name == "user:nnperf_test_pkg.nets:Net"
    _train_step_on(w)
    monkeypatch.delitem(sys.modules, "nnperf_test_pkg.nets")
    monkeypatch.delitem(sys.modules, "nnperf_test_pkg")


def test_user_factory_that_raises() -> None:
    spec_text = f"{USER_FILE}:make_raising"
    with pytest.raises(
        ModelError,
        match=r"factory '.*user_model.py:make_raising' raised ValueError: width must be positive: fix",
    ):
        build_workload(spec_text, InputSpec(sample_shape=(3, 8, 8)))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no/such/file.py:make", r"model file 'no/such/file.py' not found"),
        (f"{USER_FILE}:nope", r"has no attribute 'nope'"),
        (f"{USER_FILE}:make_not_a_module", r"returned int, not a torch.nn.Module"),
        (f"{USER_FILE}:make_with_arguments", r"needs arguments \(width\)"),
        ("nnperf_no_such_module:make", r"cannot import module 'nnperf_no_such_module'"),
    ],
)
def test_user_factory_errors(target: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        build_workload(target, InputSpec(sample_shape=(3, 8, 8)))


def test_user_factory_reading_weights_falls_back_to_cpu_build() -> None:
    w = build_workload(f"{USER_FILE}:make_reads_weights", InputSpec(sample_shape=(4,)))
    assert w.model.weight.device.type == "meta"
    assert count_parameters(w.model).total == 20


def test_user_model_needs_a_shape() -> None:
    with pytest.raises(UsageError, match=r"give the input shape, e.g. input=\(3, 224, 224\)"):
        build_workload(f"{USER_FILE}:make_tiny", InputSpec())


def test_custom_output_that_is_not_logits_trains_on_sum() -> None:
    w = build_workload(f"{USER_FILE}:make_scalar_output", InputSpec(batch=3, sample_shape=(3, 2, 2)), "cpu")
    inputs = w.make_inputs("cpu", train=True)
    out = w.model(*inputs[0])
    assert out.shape == (3,)
    torch.testing.assert_close(w.loss(out, inputs), out.float().sum())


# ------------------------------------------------------------------------------------------------------
# nn.Module instances


def test_module_instance_needs_a_shape() -> None:
    with pytest.raises(UsageError, match=r"give the input shape, e.g. input=\(3, 224, 224\)"):
        build_workload(nn.Linear(3, 3), InputSpec())


def test_module_instance_is_copied_to_meta_not_moved() -> None:
    emb = nn.Embedding(10, 4)
    head = nn.Linear(4, 10, bias=False)
    head.weight = emb.weight
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 4))
    model.tied = nn.ModuleList([emb, head])
    w = build_workload(model, InputSpec(batch=2, sample_shape=(6,), dtype="bf16"))
    assert (w.name, w.source, w.family) == ("Sequential", "module", "custom")
    # The caller's module is untouched ...
    assert model[0].weight.device.type == "cpu" and model[0].weight.dtype == torch.float32
    # ... the workload's copy is on meta, in bf16, with the tie preserved.
    assert w.model[0].weight.device.type == "meta" and w.model[0].weight.dtype == torch.bfloat16
    assert w.model.tied[1].weight is w.model.tied[0].weight
    assert count_parameters(w.model).total == count_parameters(model).total == (6 * 4 + 4) + (4 * 4 + 4) + 40


def test_module_already_in_place_is_used_as_is() -> None:
    model = nn.Linear(3, 2)
    w = build_workload(model, InputSpec(sample_shape=(3,)), device="cpu")
    assert w.model is model


# ------------------------------------------------------------------------------------------------------
# Registry, names and listing


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        build_workload("resnet5", InputSpec())
    assert "resnet50" in info.value.suggestions
    assert "resnet18" in info.value.suggestions
    assert str(info.value).startswith("unknown model 'resnet5': did you mean 'resnet50'")


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(UnknownModelError) as info:
        build_workload("zzzzqqqq", InputSpec())
    assert info.value.suggestions == []


def test_names_are_case_insensitive() -> None:
    assert build_workload("ResNet18", InputSpec()).name == "resnet18"
    assert build_workload("GPT2", InputSpec()).name == "gpt2"


def test_bad_model_argument() -> None:
    with pytest.raises(UsageError):
        build_workload(42, InputSpec())  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown device 'gpu7'"):
        build_workload("mnist-cnn", InputSpec(), device="gpu7")


def test_list_models() -> None:
    entries = list_models()
    assert all(isinstance(e, ModelEntry) for e in entries)
    names = [e.name for e in entries]
    assert len(names) == len(set(names))
    assert names[0] == "mnist-cnn"  # built-ins come first
    assert set(TORCHVISION) <= set(names) and set(HF_CONFIGS) <= set(names)
    assert {e.family for e in entries} <= {"vision", "causal-lm", "masked-lm", "seq2seq-lm", "custom"}
    by_name = {e.name: e for e in entries}
    assert by_name["gpt2"].source == "huggingface" and by_name["resnet50"].source == "torchvision"


class _FakeSource:
    name = "fake-for-test"

    def entries(self) -> list[ModelEntry]:
        return [ModelEntry("resnet50", self.name, "custom", "a stand-in")]

    def claims(self, model: str) -> bool:
        return model == "resnet50"

    def build(self, model: str, spec: InputSpec, device: torch.device) -> Workload:
        raise ModelError("fake source reached")


def test_registry_first_claimant_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.sources()  # defaults loaded
    monkeypatch.setattr(registry, "_SOURCES", list(registry._SOURCES))  # restored after the test
    registry.register_source(_FakeSource(), before="torchvision")
    names = [s.name for s in registry.sources()]
    assert names[0] == "builtin"
    assert names[names.index("fake-for-test") + 1] == "torchvision"
    with pytest.raises(ModelError, match="fake source reached"):
        build_workload("resnet50", InputSpec())
    assert {e.name: e.source for e in list_models()}["resnet50"] == "fake-for-test"
    with pytest.raises(ValueError, match="already registered"):
        registry.register_source(_FakeSource())
