"""A model that cannot run on meta tensors is counted on real CPU tensors, and the result says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

import nnperf

ROOT = Path(__file__).resolve().parents[2]


class DataDependent(torch.nn.Module):
    """Branches on a value: meta tensors have none, so this fails on meta."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum().item() > 1e9:  # never true, but needs a real value
            x = x * 2
        return self.fc(x)


def test_model_failing_on_meta_is_counted_on_cpu_with_a_warning() -> None:
    s = nnperf.summary(DataDependent(), input=(16,), batch=2)
    assert s.profile.tensor_mode == "cpu"
    assert any("failed on meta tensors" in w and "real CPU tensors" in w for w in s.profile.warnings)
    assert s.forward.macs == 2 * 16 * 4  # batch 2 x 16 in x 4 out


def test_cli_reports_the_fallback(tmp_path: Path) -> None:
    factory = tmp_path / "dd.py"
    factory.write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.fc = torch.nn.Linear(8, 2)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x) if x.max().item() < 1e9 else x\n"
        "def make():\n"
        "    return M()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    r = subprocess.run(
        [sys.executable, "-m", "nnperf", "summary", f"{factory}:make", "--input", "8"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Counted on cpu tensors" in r.stdout
    assert "failed on meta tensors" in r.stdout


def test_frozen_model_has_no_backward_or_optimizer_but_still_summarizes() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4))
    for p in model.parameters():
        p.requires_grad_(False)
    s = nnperf.summary(model, input=(16,), mode="train")
    assert s.forward.macs == 16 * 8 + 8 * 4  # batch 1
    assert s.backward.calls == 0 and s.optimizer.calls == 0
    assert s.memory.gradients == 0 and s.memory.optimizer == 0
    assert s.profile.params_trainable == 0 and s.profile.params_total == 16 * 8 + 8 + 8 * 4 + 4
