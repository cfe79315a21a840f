"""`nnperf roofline` as a user runs it, against a machine profile written by the test (no measurement)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nnperf.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]


def nnperf(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "nnperf", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_resnet18_png_and_the_table(machine: Path, tmp_path: Path) -> None:
    out = tmp_path / "roofline.png"
    r = nnperf("roofline", "resnet18", "--machine", str(machine), "--level", "op", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ridge 4 FLOP/B" in r.stdout  # 160 GFLOP/s / 40 GB/s
    conv = next(line for line in r.stdout.splitlines() if line.startswith("convolution "))
    relu = next(line for line in r.stdout.splitlines() if line.startswith("relu_ "))
    assert " compute " in conv and " memory " in relu
    assert "chart written to" in r.stderr


def test_svg_and_html_charts(machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    svg, page = tmp_path / "chart.svg", tmp_path / "chart.html"
    assert cli.main(["roofline", "mnist-cnn", "--machine", str(machine), "-o", str(svg)]) == 0
    table = capsys.readouterr().out
    assert "mnist-cnn: estimated roofline, op level (fp32, DRAM)" in table
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"

    assert (
        cli.main(["roofline", "mnist-cnn", "--machine", str(machine), "--level", "module", "-o", str(page)])
        == 0
    )
    capsys.readouterr()
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    assert len(re.findall(r'<g class="point"><title>', text)) >= 2  # hover tooltips on the points
    assert not re.search(r"https?://", text)  # self-contained: no script, stylesheet or font from the web
    assert not re.search(r"<(script|link|img)\b", text)


def test_model_level_in_training_mode(machine: Path, capsys: pytest.CaptureFixture) -> None:
    assert (
        cli.main(["roofline", "mnist-cnn", "--machine", str(machine), "--level", "model", "--mode", "train"])
        == 0
    )
    out = capsys.readouterr().out
    assert "inference, by pass" in out and "training step, by pass" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "layer"], "unknown roofline level 'layer'"),
        (["-o", "chart.pdf"], "unknown chart format for 'chart.pdf'"),
        (["--dtype", "bf16"], "no compute roof for 'bf16'"),
        (["--memory-level", "l1"], "no bandwidth roof for 'l1'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    machine: Path, capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert cli.main(["roofline", "mnist-cnn", "--machine", str(machine), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_without_a_profile_a_quick_one_is_measured_and_said(
    machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from nnperf.machine import profile as profile_mod
    from nnperf.machine.profile import load_profile

    calls: list[dict] = []

    def fake_machine_profile(**kwargs):
        calls.append(kwargs)
        return load_profile(machine)

    monkeypatch.setattr(profile_mod, "load_cached", lambda fingerprint: None)
    monkeypatch.setattr(profile_mod, "machine_profile", fake_machine_profile)
    assert cli.main(["roofline", "mnist-cnn", "--level", "model"]) == 0
    assert calls and calls[0]["quick"] is True
    assert "measuring a quick one" in capsys.readouterr().err
