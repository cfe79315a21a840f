"""The command line as a user runs it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def nnperf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "nnperf", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_summary_torchsummary_format_prints_the_mnist_table() -> None:
    r = nnperf("summary", "mnist-cnn", "--format", "torchsummary")
    assert r.returncode == 0, r.stderr
    golden = (ROOT / "tests/golden/mnist_torchsummary.txt").read_text()
    assert r.stdout.strip() == golden.strip()


def test_summary_json_has_the_documented_keys() -> None:
    r = nnperf("summary", "mnist-cnn", "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["model"] == "mnist-cnn"
    assert data["params"]["total"] == 21_840
    assert data["params"]["trainable"] == 21_840
    for section, key in [
        ("forward", "flops"), ("forward", "macs"), ("forward", "bytes"),
        ("backward", "flops"), ("backward", "bytes"),
        ("memory", "parameters"), ("memory", "gradients"), ("memory", "optimizer"),
        ("memory", "activations"), ("memory", "peak_train"), ("memory", "peak_infer"),
    ]:  # fmt: skip
        assert isinstance(data[section][key], int), (section, key)
    assert data["uncounted_ops"] == {}
    # conv1: 10 x 24x24 x 25 = 144,000 MACs; conv2: 20 x 8x8 x 250 = 320,000; fc1 16,000; fc2 500.
    assert data["forward"]["macs"] == 144_000 + 320_000 + 16_000 + 500
    # 21,840 fp32 parameters; gradients of the same size; SGD momentum buffers of the same size.
    assert data["memory"]["parameters"] == 21_840 * 4
    assert data["memory"]["gradients"] == 21_840 * 4
    assert data["memory"]["optimizer"] == 21_840 * 4


@pytest.mark.parametrize("fmt", ["table", "tree", "csv"])
def test_summary_other_formats(fmt: str) -> None:
    r = nnperf("summary", "mnist-cnn", "--format", fmt)
    assert r.returncode == 0, r.stderr
    assert "conv1" in r.stdout


def test_models_lists_every_source() -> None:
    r = nnperf("models")
    assert r.returncode == 0, r.stderr
    for name in ("mnist-cnn", "resnet50", "vit_b_16", "gpt2", "bert-base-cased", "t5-small", "gpt3-175b"):
        assert name in r.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["summary", "resnet5"], "resnet50"),  # close names suggested
        (["summary", "resnet18", "--input", "3x-224"], "3x-224"),
        (["summary", "resnet18", "--dtype", "fp8"], "fp8"),
        (["summary", "resnet18", "--batch", "0"], "0"),
        (["summary", "gpt2", "--optimizer", "lion"], "lion"),
        (["summary", "tests/data/user_model.py:make_raising"], "width must be positive"),
        (["summary", "tests/data/user_model.py:no_such_factory"], "no_such_factory"),
        (
            ["summary", "tests/data/user_model.py:make_broken_forward", "--input", "12"],
            "failed in its inference pass (batch 1) on meta and cpu tensors",
        ),
        (
            ["summary", "tests/data/user_model.py:make_pooled_batch_norm", "--input", "3x8x8"],
            "failed in its training step (batch 1) on meta and cpu tensors: ValueError: Expected more than 1 "
            "value per channel when training, got input size torch.Size([1, 8]); batch norm in training mode "
            "needs more than one sample per channel: use a batch of 2 or more",
        ),
        (["summary", "tests/data/no_such_file.py:make"], "no_such_file.py"),
    ],
)
def test_bad_input_gives_one_line_error_and_exit_code_2(args: list[str], expected: str) -> None:
    r = nnperf(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_demo_runs_the_main_job(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), NNPERF_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run(
        [sys.executable, "-m", "nnperf", "demo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    for step in (
        "$ nnperf summary mnist-cnn",
        "$ nnperf summary gpt2 --context 512",
        "$ nnperf machine --quick",
        "$ nnperf roofline resnet50",
        "$ nnperf predict resnet50",
        "$ nnperf study run --demo",
    ):
        assert step in r.stdout
    assert "Total params: 21,840" in r.stdout and "GEMM FLOP/s" in r.stdout
    assert "best: h100-sxm5-80gb" in r.stdout  # resnet50 b32 fits every card; the H100 has the highest roofs
    assert "KV cache 37.82 MB" in r.stdout  # GPT-2's decode step: 12 x 2 x 12 x 513 x 64 x 4 B
    assert (tmp_path / "demo-out" / "roofline_resnet50.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The demo study: every case run, the report written with every section of a performance study.
    from nnperf.report.study_report import SECTION_TITLES

    assert "12 case(s): 12 run (12 ok, 0 failed)" in r.stdout
    report = (tmp_path / "demo-out" / "results" / "report" / "report.html").read_text()
    for title in SECTION_TITLES:
        assert title in report
