"""Scaling sweeps for real: the Amdahl fit on a workload with a known serial part, resnet18 thread scaling,
DDP with two gloo processes, and the CLI's one-line errors."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nnperf.analysis.scaling import ScalingResult
from nnperf.cli import main as cli_main
from nnperf.errors import UnknownModelError, UsageError
from nnperf.measure.scaling import batch_scaling, ddp_scaling, function_scaling, thread_scaling

FAST = {"warmup": 1, "min_iters": 5, "min_time_s": 0.2}


def test_amdahl_recovers_known_serial_fraction() -> None:
    # A serial part of 0.05 s then a parallel part of 0.20 s split over n pool threads (each sleeps 0.20/n):
    # T(n) = 0.05 + 0.20 / n, so s = 0.05 / 0.25 = 0.2 and T1 = 0.25 s. Sleeps, so other programs' CPU load
    # does not change the answer; a persistent pool, as a parallel runtime keeps one (starting threads
    # on this VM takes milliseconds, which would be an extra serial cost growing with n). Fixed
    # overheads (sleep overshoot, pool dispatch: ~0.5 ms per call here) count as serial time, hence
    # the long sleeps: they move s by ~0.002.
    serial, parallel = 0.05, 0.20
    with ThreadPoolExecutor(max_workers=8) as pool:

        def work(n: int) -> None:
            time.sleep(serial)
            list(pool.map(time.sleep, [parallel / n] * n))

        result = function_scaling(work, [1, 2, 4, 8], repeats=5)
    fit = result.amdahl()
    assert fit is not None
    assert abs(fit.serial_fraction - 0.2) <= 0.01  # within 5% of 0.2
    assert fit.t1 == pytest.approx(0.25, rel=0.05)
    assert fit.max_speedup == pytest.approx(5.0, rel=0.05)  # 1 / s
    rows = result.rows()
    assert rows[-1]["efficiency"] == pytest.approx(0.25 / (8 * (0.05 + 0.20 / 8)), rel=0.05)  # 0.4167


@pytest.mark.slow
def test_resnet18_thread_scaling_reports_efficiency() -> None:
    result = thread_scaling("resnet18", [1, 2], batch=2, input=(3, 64, 64), **FAST)
    assert [p.n for p in result.points] == [1, 2]
    assert all(p.ok for p in result.points), [p.error for p in result.points]
    assert [p.threads for p in result.points] == [1, 2]  # the thread count was really set
    rows = result.rows()
    for row in rows:
        assert row["median_step_s"] > 0 and row["throughput"] > 0
        # The machine is shared: no speedup is asserted, only a sane efficiency.
        assert 0 < row["efficiency"] <= 1.5
    assert rows[0]["efficiency"] == 1.0 and rows[0]["speedup"] == 1.0
    fit = result.fits()["amdahl"]
    assert 0 <= fit["serial_fraction"] <= 1
    assert result.to_dict()["points"][0]["detail"]["schema"] == "nnperf.measurement"


def test_batch_scaling_small_model() -> None:
    result = batch_scaling("mnist-cnn", [1, 4, 16], **FAST)
    assert [p.n for p in result.points] == [1, 4, 16]
    rows = result.rows()
    assert [r["samples_per_step"] for r in rows] == [1, 4, 16]
    sat = result.fits()["saturation"]
    assert sat["batch"] in (1, 4, 16) and sat["share_of_best"] >= 0.95


def test_thread_scaling_restores_threads_and_validates() -> None:
    import torch

    before = torch.get_num_threads()
    thread_scaling("mnist-cnn", "1", batch=2, warmup=1, min_iters=2, min_time_s=0.0)
    assert torch.get_num_threads() == before
    with pytest.raises(UsageError, match="threads 0 must be at least 1"):
        thread_scaling("mnist-cnn", [0, 1])
    with pytest.raises(UsageError, match="empty threads list"):
        thread_scaling("mnist-cnn", [])
    with pytest.raises(UsageError, match="what this sweep varies"):
        batch_scaling("mnist-cnn", [1], batch=2)
    with pytest.raises(UsageError, match="unknown run setting 'iters'"):
        thread_scaling("mnist-cnn", [1], iters=2)


@pytest.mark.slow
def test_ddp_two_gloo_processes(tmp_path: Path) -> None:
    result = ddp_scaling("mnist-cnn", [1, 2], batch=32, warmup=2, iters=12)
    assert all(p.ok for p in result.points), [p.error for p in result.points]
    two = result.points[1]
    assert two.detail["world_size"] == 2 and two.detail["backend"] == "gloo"
    assert len(two.detail["ranks"]) == 2  # per-rank samples kept (stragglers)
    assert two.samples_per_step == 64  # weak scaling: 32 per rank
    rows = result.rows()
    for row in rows:
        assert row["median_step_s"] > 0 and row["compute_s"] > 0, row
        assert row["allreduce_s"] > 0, row  # the hook timed a real all-reduce
        assert 0 <= row["overlap_share"] <= 1, row
        # The machine is shared: no scaling is asserted, only a sane efficiency.
        assert 0 < row["efficiency"] <= 1.5, rows
    assert result.settings["threads_per_rank"] >= 1
    assert "gustafson" in result.fits()
    # The record round-trips through JSON.
    again = ScalingResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again.rows() == rows


@pytest.mark.slow
def test_ddp_rank_failure_is_a_failed_point(tmp_path: Path) -> None:
    factory = tmp_path / "bad.py"
    factory.write_text(
        "import torch\n"
        "class Bad(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n"
        "        raise RuntimeError('boom in forward')\n"
        "def make():\n"
        "    return Bad()\n"
    )
    result = ddp_scaling(f"{factory}:make", [1], batch=2, input="4", warmup=1, iters=1)
    point = result.points[0]
    assert point.status == "failed"
    assert point.error.startswith("DDP with world size 1 failed")
    assert "RuntimeError: boom in forward" in point.error
    assert "\n" not in point.error


def test_ddp_validates_before_launching() -> None:
    with pytest.raises(UsageError, match="world size 0 must be at least 1"):
        ddp_scaling("mnist-cnn", [0, 2])
    with pytest.raises(UsageError, match="does not divide by world size 3"):
        ddp_scaling("mnist-cnn", [1, 3], batch=8, scaling="strong")
    with pytest.raises(UnknownModelError, match="unknown model"):
        ddp_scaling("no-such-model-xyz", [1])


def _cli(argv: list[str]) -> int:
    return cli_main.main(argv)  # main's real error handling (one line, exit 2) is what is tested


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "--threads 0 must be at least 1"),
        (["--threads", "1,two"], "--threads 'two' is not a positive integer"),
        (["--threads", ""], "empty --threads list"),
        (["--batch-sweep", "4,4"], "--batch-sweep 4 is listed twice"),
        (["--ddp", "1,2", "--mode", "infer"], "--ddp times training steps"),
        (["--ddp", "0"], "--ddp world size 0 must be at least 1"),
        (["--threads", "1", "-o", "plot.txt"], "the plot is a file ending in .png"),
    ],
)
def test_cli_one_line_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "COMMANDS", cli_main.COMMANDS)
    assert _cli(["scale", "mnist-cnn", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_cli_needs_one_sweep(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "COMMANDS", cli_main.COMMANDS)
    with pytest.raises(SystemExit) as exc:
        _cli(["scale", "mnist-cnn"])
    assert exc.value.code == 2
    assert "one of the arguments --threads --batch-sweep --ddp is required" in capsys.readouterr().err


def test_cli_threads_table_plot_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_main, "COMMANDS", cli_main.COMMANDS)
    plot, record = tmp_path / "scale.png", tmp_path / "scale.json"
    argv = ["scale", "mnist-cnn", "--threads", "1,2", "--batch", "4", "--iters", "3", "--min-time", "0"]
    assert _cli([*argv, "-o", str(plot), "--record", str(record)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("mnist-cnn: thread scaling (strong) mode=infer")
    assert "efficiency" in out.splitlines()[1] and "Amdahl fit: serial fraction" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(record.read_text())
    assert data["schema"] == "nnperf.scaling" and [r["n"] for r in data["rows"]] == [1, 2]


@pytest.mark.slow
def test_ddp_timeout_is_a_failed_point() -> None:
    # A million timed steps cannot finish in four seconds anywhere: the whole torchrun process group is
    # killed and the point says so, naming the world size.
    result = ddp_scaling("mnist-cnn", [2], iters=1_000_000, timeout_s=4)
    point = result.points[0]
    assert point.status == "failed"
    assert point.error == "DDP with world size 2 timed out after 4 s: lower --iters or the batch"
