"""A whole generation (`nnperf predict --prompt P --generate N`): the prefill and every decode step, the affine
interpolation of the decode steps checked against analysing each step, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nnperf
from nnperf.analysis.generation_projection import project_generation, time_decode_steps
from nnperf.analysis.projection import Target, time_at_roofs
from nnperf.analysis.roofline import BandwidthRoof, Ceilings, ComputeRoof
from nnperf.cli import main as cli
from nnperf.errors import ModelError
from nnperf.static.generation import analyse_generation

ROOT = Path(__file__).resolve().parents[2]
PEAK, BW, FLOOR = 1e11, 1e10, 3e-6
TARGET = Target(
    name="box",
    device="test",
    kind="cpu",
    ceilings=Ceilings(
        (ComputeRoof("fp32", PEAK, "measured"),), (BandwidthRoof("dram", BW, "triad", "measured"),)
    ),
    memory_level="dram",
    memory_bytes=10**10,
    memory_source="test",
    call_overhead_s=FLOOR,
)


def _step_time(model: str, context: int, batch: int) -> float:
    """One decode step analysed on its own (a dynamic cache, as the generation's), timed at the test roofs."""
    s = nnperf.summary(model, batch=batch, seq=1, context=context, cache="dynamic")
    costed = [r for r in s.profile.infer_ops if r.flops is not None and r.bytes > 0]
    return time_at_roofs(costed, peak=PEAK, gemm_peak=PEAK, bandwidth=BW, floor=FLOOR).estimate_s


def test_interpolated_decode_steps_equal_each_step_analysed(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    gen = analyse_generation(path, prompt=8, generate=7, batch=2)  # 6 decode steps, contexts 8..13
    assert gen.method == "affine" and gen.decode_contexts == [8, 11, 13]
    timing = time_decode_steps(gen, peak=PEAK, gemm_peak=PEAK, bandwidth=BW, floor=FLOOR)
    each = [_step_time(path, c, 2) for c in range(8, 14)]
    assert timing.steps == 6
    assert timing.total_s == pytest.approx(sum(each), rel=1e-9)
    assert (timing.first_s, timing.last_s) == (
        pytest.approx(each[0], rel=1e-9),
        pytest.approx(each[-1], rel=1e-9),
    )
    # The cache grows: attention reads more each step (at the roofs; the floor hides it in so tiny a model).
    bare = time_decode_steps(gen, peak=PEAK, gemm_peak=PEAK, bandwidth=BW)
    assert bare.last_s > bare.first_s
    # Memory: the last step's cache holds 14 tokens: 2 layers x (K, V) x batch 2 x 2 KV heads x 14 x 16 x 4 B.
    assert gen.kv_cache_bytes == 2 * 2 * 2 * 2 * 14 * 16 * 4
    last = nnperf.summary(path, batch=2, seq=1, context=13, cache="dynamic").profile.memory
    assert gen.peak_bytes == max(gen.prefill.profile.memory.peak_infer, last.peak_infer)


def test_short_generations_analyse_every_step(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    gen = analyse_generation(path, prompt=5, generate=4)
    assert gen.method == "exact" and gen.decode_contexts == [5, 6, 7]
    one = analyse_generation(path, prompt=5, generate=1)  # the prefill's logits give the only token
    assert one.method == "none" and one.decode_ops == []
    p = project_generation(one, [TARGET])
    t = p.targets[0]
    assert t.decode.total_s == 0 and t.total_s == t.prefill.estimate_s
    assert t.to_dict()["time_s"]["per_output_token"] == {"first": None, "last": None, "mean": None}


def test_the_prefill_is_the_prompt_into_an_empty_cache(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    gen = analyse_generation(path, prompt=16, generate=3)
    prefill = nnperf.summary(path, seq=16, context=0, cache="dynamic")
    costed = [r for r in prefill.profile.infer_ops if r.flops is not None and r.bytes > 0]
    p = project_generation(gen, [TARGET]).targets[0]
    assert p.prefill.estimate_s == pytest.approx(
        time_at_roofs(costed, peak=PEAK, gemm_peak=PEAK, bandwidth=BW, floor=FLOOR).estimate_s
    )
    assert p.tokens_per_s == pytest.approx(1 * 3 / p.total_s)
    assert p.decode_tokens_per_s == pytest.approx(1 / p.decode.mean_s)


def test_a_sliding_window_the_context_outgrows_is_refused(tiny_lm_config) -> None:
    path = tiny_lm_config("mistral", sliding_window=8)
    # Contexts 6..13: the cache stops growing at the window, so the steps are not linear in the context.
    with pytest.raises(ModelError, match="cannot interpolate"):
        analyse_generation(path, prompt=6, generate=9)
    within = analyse_generation(path, prompt=2, generate=5)  # contexts 2..5: inside the window
    assert within.method == "affine"


def test_cli_json_and_table(tiny_lm_config, capsys: pytest.CaptureFixture) -> None:
    path = tiny_lm_config("llama")
    args = [
        "predict",
        path,
        "--prompt",
        "32",
        "--generate",
        "16",
        "--batch",
        "4",
        "--on",
        "l4,h100-sxm5-80gb",
    ]
    assert cli.main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "nnperf.generation-projection"
    assert (data["prompt_tokens"], data["generated_tokens"], data["batch"]) == (32, 16, 4)
    l4, h100 = data["targets"]
    for t in (l4, h100):
        times = t["time_s"]
        assert times["total"] == pytest.approx(times["first_token"] + times["decode_total"])
        assert t["throughput"]["tokens_per_s"] == pytest.approx(4 * 16 / times["total"])
        assert times["per_output_token"]["mean"] == pytest.approx(times["decode_total"] / 15)
    assert data["best"] == "h100-sxm5-80gb"
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "32-token prompt + 16 generated tokens" in out and "best: h100-sxm5-80gb" in out
    assert "first token" in out and "per output token" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["gpt2", "--prompt", "8"], "a generation needs both --prompt N"),
        (["gpt2", "--prompt", "8", "--generate", "4", "--seq", "8"], "drop --seq"),
        (["gpt2", "--prompt", "8", "--generate", "4", "--mode", "train"], "inference only"),
        (["resnet18", "--prompt", "8", "--generate", "4"], "applies to causal language models"),
        (
            ["gpt2", "--prompt", "1000", "--generate", "100"],
            "--prompt 1000 and --generate 100 need 1099 positions (the last token is not fed back), more than the model's 1024",
        ),
        (["gpt2", "--prompt", "8", "--generate", "0"], "'0' must be at least 1"),
    ],
)
def test_bad_generations_are_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    try:
        code = cli.main(["predict", *args, "--on", "l4"])
    except SystemExit as exc:  # argparse's own usage errors exit from inside the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_the_python_api(tiny_lm_config) -> None:
    path = tiny_lm_config("llama")
    g = nnperf.predict(path, on="l4", prompt=8, generate=3, batch=2)
    assert g.to_dict()["schema"] == "nnperf.generation-projection" and g.batch == 2
    from nnperf.errors import UsageError

    with pytest.raises(UsageError, match="needs both prompt="):
        nnperf.predict(path, on="l4", prompt=8)


def test_the_dynamic_cache_moves_more_than_a_static_one(
    tiny_lm_config, capsys: pytest.CaptureFixture
) -> None:
    path = tiny_lm_config("llama")
    dynamic = analyse_generation(path, prompt=64, generate=8)
    static = analyse_generation(path, prompt=64, generate=8, cache="static")
    assert (dynamic.cache, static.cache) == ("dynamic", "static")
    kw = dict(peak=PEAK, gemm_peak=PEAK, bandwidth=BW)
    assert time_decode_steps(dynamic, **kw).total_s > time_decode_steps(static, **kw).total_s  # the copies
    assert (
        cli.main(["predict", path, "--prompt", "64", "--generate", "8", "--on", "l4", "--cache", "static"])
        == 0
    )
    assert "static KV cache" in capsys.readouterr().out
    assert cli.main(["summary", path, "--cache", "dynamic"]) == 2
    assert "--cache dynamic applies to a decode step: give --context N" in capsys.readouterr().err
