"""`nnperf predict` as a user runs it: a saved machine profile and spec-sheet cards as targets, no measurement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnperf.cli import main as cli
from nnperf.machine.nominal import GPU_TABLE

ROOT = Path(__file__).resolve().parents[2]


def _json(capsys: pytest.CaptureFixture, *args: str) -> dict:
    assert cli.main(["predict", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cnn_on_a_saved_profile_and_a_card(machine: Path, capsys: pytest.CaptureFixture) -> None:
    data = _json(capsys, "mnist-cnn", "--batch", "8", "--on", f"{machine}:cpu,h100-sxm5-80gb")
    assert data["schema"] == "nnperf.projection" and data["scope"] == "inference"
    cpu, h100 = data["targets"]
    # The fixture's roofs: fp32 160 GFLOP/s measured (200 nominal), DRAM triad 40 GB/s.
    assert cpu["compute_roof"] == {"dtype": "fp32", "flops_per_s": 160e9, "source": "measured"}
    assert cpu["bandwidth_roof"]["bytes_per_s"] == 40e9 and cpu["ridge_flops_per_byte"] == 4.0
    assert h100["compute_roof"]["source"] == "nominal" and h100["bandwidth_roof"]["level"] == "hbm"
    # The same op records `nnperf summary` reports, timed at the roofs by hand.
    assert cli.main(["summary", "mnist-cnn", "--batch", "8", "--format", "json", "--ops"]) == 0
    summary = json.loads(capsys.readouterr().out)
    ops = [o for o in summary["ops"]["infer"] if o["flops"] is not None]
    expected = sum(
        o["count"] * max(o["flops"] / 160e9, (o["bytes_read"] + o["bytes_written"]) / 40e9)
        for o in ops
        if o["bytes_read"] + o["bytes_written"] > 0
    )
    assert cpu["time_s"]["roofline"] == pytest.approx(expected, rel=1e-9)
    assert cpu["throughput"]["samples_per_s"] == pytest.approx(8 / cpu["time_s"]["estimate"])
    assert h100["speedup"] == pytest.approx(cpu["time_s"]["estimate"] / h100["time_s"]["estimate"])
    assert data["best"] == "h100-sxm5-80gb"
    assert cpu["memory"]["required_bytes"] == summary["memory"]["peak_infer"]


def test_the_table(machine: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["predict", "mnist-cnn", "--on", f"l4,{machine}:cpu", "--tf32"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("nnperf predict: mnist-cnn, 1x1x28x28 float32, inference, fp32 (GEMMs in tf32")
    l4 = next(line for line in lines if line.startswith("l4 "))
    assert "L4 24GB (spec sheet)" in l4 and "GEMMs tf32" in l4 and "(n)" in l4
    assert "share of the roofline time per op kind:" in out and any(
        line.startswith("conv ") for line in lines
    )
    assert "note: l4: no measured per-call floor" in out


def test_training_step_and_a_decode_step(capsys: pytest.CaptureFixture) -> None:
    train = _json(capsys, "mnist-cnn", "--mode", "train", "--batch", "4", "--on", "t4")
    assert train["scope"] == "training step"
    decode = _json(
        capsys, "gpt2", "--context", "256", "--batch", "4", "--dtype", "bf16", "--on", "h100-sxm5-80gb"
    )
    t = decode["targets"][0]
    assert decode["scope"] == "decode step" and t["compute_roof"]["dtype"] == "bf16"
    assert t["throughput"]["tokens_per_s"] == pytest.approx(4 / t["time_s"]["estimate"])
    assert t["memory_bound_share"] > 0.9  # a decode step streams the weights: memory-bound on an H100
    floored = _json(
        capsys,
        "gpt2",
        "--context",
        "256",
        "--batch",
        "4",
        "--dtype",
        "bf16",
        "--on",
        "h100-sxm5-80gb",
        "--assume-floor-us",
        "5",
    )["targets"][0]
    assert floored["call_overhead_s"] == pytest.approx(5e-6) and "assumed" in floored["call_overhead_source"]
    assert floored["time_s"]["estimate"] >= floored["calls"] * 5e-6
    assert floored["time_s"]["roofline"] == pytest.approx(t["time_s"]["roofline"])


def test_a_7b_model_does_not_fit_a_16gb_card(capsys: pytest.CaptureFixture) -> None:
    data = _json(capsys, "llama-2-7b", "--seq", "16", "--on", "t4,h100-sxm5-80gb")
    t4, h100 = data["targets"]
    assert t4["memory"]["fits"] == "no" and h100["memory"]["fits"] == "yes"  # 27 GB of fp32 weights
    assert data["best"] == "h100-sxm5-80gb"
    assert any("at least 2 such devices" in n for n in t4["notes"])


def test_mixed_precision_training(capsys: pytest.CaptureFixture) -> None:
    args = ["mnist-cnn", "--mode", "train", "--batch", "16", "--on", "a100-sxm4-80gb"]
    plain = _json(capsys, *args)
    mixed = _json(capsys, *args, "--autocast", "bf16")
    assert mixed["dtype"] == "fp32 (autocast bf16)" and plain["dtype"] == "fp32"
    t_mixed, t_plain = mixed["targets"][0], plain["targets"][0]
    assert t_mixed["compute_roof"]["dtype"] == "bf16" and t_plain["compute_roof"]["dtype"] == "fp32"
    assert t_mixed["time_s"]["roofline"] < t_plain["time_s"]["roofline"]  # 16x the GEMM roof, fewer bytes
    assert cli.main(["predict", *args, "--autocast", "bf16", "--on", "t4"]) == 2  # a T4 has no bf16
    assert "has no bf16 compute roof" in capsys.readouterr().err


def test_list_cards(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["predict", "--list-cards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(GPU_TABLE) and lines[0].split()[0] == "h100-nvl-94gb"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mnist-cnn", "--on", "a100"], "unknown target 'a100'"),
        (["mnist-cnn", "--on", "missing.json"], "machine profile 'missing.json' not found"),
        (["mnist-cnn", "--on", "l4", "--dtype", "bf16", "--tf32"], "--tf32 applies to fp32 passes only"),
        (
            ["mnist-cnn", "--on", "l4", "--assume-floor-us", "-1"],
            "--assume-floor-us -1 is not a per-call time",
        ),
        (["--on", "l4"], "give a MODEL to project"),
        (["mnist-cnn", "--on", "p100-pcie-16gb", "--dtype", "bf16"], "has no bf16 compute roof"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert cli.main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_input_from_a_real_process() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run(
        [sys.executable, "-m", "nnperf", "predict", "mnist-cnn", "--on", "a100"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 2 and "unknown target 'a100'" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_charts(machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture, tiny_lm_config) -> None:
    import xml.etree.ElementTree as ET

    png, svg = tmp_path / "p.png", tmp_path / "p.svg"
    assert cli.main(["predict", "mnist-cnn", "--on", f"{machine}:cpu,l4", "-o", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and b"matplotlib.org" not in png.read_bytes()
    path = tiny_lm_config("llama")
    assert (
        cli.main(["predict", path, "--prompt", "8", "--generate", "4", "--on", "l4,t4", "-o", str(svg)]) == 0
    )
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    capsys.readouterr()
    assert cli.main(["predict", "mnist-cnn", "--on", "l4", "-o", str(tmp_path / "p.jpg")]) == 2
    assert "unknown chart format '.jpg'" in capsys.readouterr().err


def test_prices(capsys: pytest.CaptureFixture) -> None:
    args = [
        "mnist-cnn",
        "--batch",
        "64",
        "--on",
        "t4,h100-sxm5-80gb",
        "--price",
        "t4=0.35,h100-sxm5-80gb=2.9",
    ]
    data = _json(capsys, *args)
    for t, price in zip(data["targets"], (0.35, 2.9), strict=True):
        assert t["price_per_hour"] == price
        assert t["cost_per_million"] == pytest.approx(price / 3600 / t["throughput"]["samples_per_s"] * 1e6)
    assert cli.main(["predict", *args]) == 0
    out = capsys.readouterr().out
    cheapest = min(data["targets"], key=lambda t: t["cost_per_million"])
    assert f"cheapest: {cheapest['target']}, ${cheapest['cost_per_million']:.3g} per 1M samples" in out
    assert cli.main(["predict", "mnist-cnn", "--on", "t4", "--price", "l4=1"]) == 2
    assert "--price names 'l4', which is not in --on (t4)" in capsys.readouterr().err
    assert cli.main(["predict", "mnist-cnn", "--on", "t4", "--price", "t4=-1"]) == 2
    assert "give TARGET=DOLLARS_PER_HOUR with a positive price" in capsys.readouterr().err
