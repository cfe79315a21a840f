"""Calibration kernels: the classic roofline arithmetic, the measured points, the chart, and the roofs of this
machine checked against kernels of known intensity (the slow test at the end)."""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

import pytest

from nnperf.analysis.calibration import (
    axpy_elements,
    blocked_stencil_fn,
    calibration_points,
    find_point,
    gemm_intensity,
    make_axpy,
    slab_planes,
    stencil_fn,
    stencil_points,
)
from nnperf.analysis.roofline import (
    AXPY,
    STENCIL_7PT,
    STENCIL_7PT_CACHED,
    BandwidthRoof,
    Ceilings,
    ComputeRoof,
    attainable,
    intensity,
    place,
    ridge,
)
from nnperf.analysis.roofline_points import RooflinePoints
from nnperf.cli.kernels_cmd import add_kernels_args, run_kernels
from nnperf.errors import UsageError
from nnperf.report.roofline_chart import point_cells, roofline_table, write_chart

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MiB = 2**20
# Hand roofs: fp32 160 GFLOP/s, DRAM 40 GB/s (ridge 4 FLOP/B), L3 200 GB/s.
HAND = Ceilings(
    compute=(ComputeRoof("fp32", 160e9, "measured"),),
    bandwidth=(
        BandwidthRoof("dram", 40e9, "triad", "measured"),
        BandwidthRoof("l3", 200e9, "triad", "measured"),
    ),
)
CACHES = {"l1": 32 * 2**10, "l2": 1 * MiB, "l3": 32 * MiB}
# The Must-show tolerance: a calibration point within 10% of its roof.
TOLERANCE = 0.10


# ---- the classic arithmetic (lecture 7), by hand --------------------------------------------------------
def test_axpy_intensity() -> None:
    # z[i] = x[i] + a*y[i]: 1 multiply + 1 add = 2 FLOPs; read x, y and write z: 3 x 8 B = 24 B
    assert intensity(AXPY["flops"], AXPY["bytes"]) == pytest.approx(2 / 24)
    assert round(intensity(AXPY["flops"], AXPY["bytes"]), 3) == 0.083


def test_stencil_intensities() -> None:
    # 7 FLOPs per point; 7 reads + 1 write of 8 B = 64 B: 7/64 = 0.109375
    assert intensity(STENCIL_7PT["flops"], STENCIL_7PT["bytes"]) == 0.109375
    assert round(7 / 64, 2) == 0.11
    # neighbours held in cache: 1 read + 1 write of 8 B = 16 B: 7/16 = 0.4375
    assert intensity(STENCIL_7PT_CACHED["flops"], STENCIL_7PT_CACHED["bytes"]) == 0.4375
    assert round(7 / 16, 2) == 0.44


def test_ridge_is_peak_over_bandwidth() -> None:
    # 160 GFLOP/s / 40 GB/s = 4 FLOP/B
    assert ridge(160e9, 40e9) == 4.0
    # axpy left of the ridge: memory-bound, attainable 2/24 x 40 GB/s = 3.333 GFLOP/s
    p = place(AXPY["flops"], AXPY["bytes"], 160e9, 40e9)
    assert p.bound == "memory" and p.attainable_flops_per_s == pytest.approx(40e9 / 12)
    # the cached stencil is still memory-bound: 0.4375 x 40 GB/s = 17.5 GFLOP/s
    assert attainable(7 / 16, 160e9, 40e9) == pytest.approx(17.5e9)
    # at the ridge both roofs give 160 GFLOP/s
    assert attainable(4.0, 160e9, 40e9) == 160e9


def test_gemm_intensity_by_hand() -> None:
    # n = 1024 fp32: 2 n^3 = 2_147_483_648 FLOPs over 3 n^2 x 4 B = 12_582_912 B: 170.67 FLOP/B (= n/6)
    assert gemm_intensity(1024, 4) == pytest.approx(2_147_483_648 / 12_582_912)
    assert gemm_intensity(1024, 4) == pytest.approx(1024 / 6)


def test_axpy_size_fills_half_the_llc() -> None:
    # 32 MiB LLC: half is 16 MiB = 699_050 x 24 B, the largest power of 2 below is 2^19 (3 x 4 MiB = 12 MiB)
    assert axpy_elements(32 * MiB) == 2**19
    # 4 MiB: 2 MiB / 24 B = 87_381 elements -> 2^16
    assert axpy_elements(4 * MiB) == 2**16
    assert axpy_elements(None) == 2**19  # unknown LLC: a fixed size, said in the notes


def test_the_kernels_compute_what_they_claim() -> None:
    import torch

    z = make_axpy(8)()
    assert torch.equal(z, torch.full((8,), 1.0 + 3.0 * 2.0, dtype=torch.float64))  # x + 3*y, x=1, y=2

    gen = torch.Generator().manual_seed(0)
    u = torch.rand(6, 5, 7, generator=gen, dtype=torch.float64)
    out = torch.zeros_like(u)
    stencil_fn(u, out)()
    i, j, k = 2, 3, 4
    want = (
        u[i, j, k]
        + u[i - 1, j, k]
        + u[i + 1, j, k]
        + u[i, j - 1, k]
        + u[i, j + 1, k]
        + u[i, j, k - 1]
        + u[i, j, k + 1]
    ) / 7
    assert out[i, j, k].item() == pytest.approx(want.item())
    assert out[0].abs().sum() == 0 and out[:, :, -1].abs().sum() == 0  # the boundary is not updated
    assert stencil_points(256) == 254**3
    # blocked in slabs of 1, 2 and 3 planes (4 interior planes: the last slab is short), the same result
    for planes in (1, 2, 3):
        blocked = torch.zeros_like(u)
        blocked_stencil_fn(u, blocked, planes)()
        assert torch.allclose(blocked, out, rtol=1e-14, atol=0)


def test_slab_fits_half_the_llc() -> None:
    # 256^2 fp64 planes are 512 KiB; half of 32 MiB holds 32 planes; a slab of k needs 2k + 2: k <= 15 -> 8
    assert slab_planes(256, 32 * MiB) == 8
    # 128^2 planes are 128 KiB: 128 planes in 16 MiB, k <= 63 -> 32
    assert slab_planes(128, 32 * MiB) == 32
    assert slab_planes(256, None) == 8  # unknown LLC
    assert slab_planes(256, 1 * MiB) == 1  # never below one plane


# ---- measured points on a quick run, under hand roofs ---------------------------------------------------
@pytest.fixture(scope="module")
def quick_points() -> RooflinePoints:
    return calibration_points(HAND, dtype="fp32", sizes=(64, 128), quick=True, caches=CACHES)


def test_quick_run_structure(quick_points: RooflinePoints) -> None:
    r = quick_points
    assert [p.label for p in r.points] == [
        "axpy fp64 N=2^19",
        "stencil7 fp64 128^3",
        "stencil7 tiled",
        "gemm fp32 n=64",
        "gemm fp32 n=128",
        "triad fp64 128 MiB",
    ]
    assert r.compute_roof.flops_per_s == 160e9 and r.bandwidth_roof.bytes_per_s == 40e9
    assert r.kind == "measured" and r.ridge_flops_per_byte == 4.0
    by = {p.label: p for p in r.points}
    axpy = by["axpy fp64 N=2^19"]
    assert (axpy.flops, axpy.bytes) == (2 * 2**19, 24 * 2**19)  # 1_048_576 FLOPs, 12_582_912 B
    far, near = by["stencil7 fp64 128^3"], by["stencil7 tiled"]
    assert far.flops == near.flops == 7 * 126**3  # 14_002_632 FLOPs on the interior
    assert (far.bytes, near.bytes) == (64 * 126**3, 16 * 126**3)
    assert (far.intensity_flops_per_byte, near.intensity_flops_per_byte) == (7 / 64, 7 / 16)
    g = by["gemm fp32 n=64"]
    assert (g.flops, g.bytes) == (2 * 64**3, 3 * 64 * 64 * 4)  # 524_288 FLOPs over 49_152 B: 10.67 FLOP/B
    triad = by["triad fp64 128 MiB"]  # max(4 x 32 MiB, 64 MiB) per array: 16_777_216 fp64 elements
    assert (triad.flops, triad.bytes) == (2 * 16_777_216, 3 * 8 * 16_777_216)
    for p in r.points:
        assert p.source == "measured" and p.plotted and p.time_s > 0
        assert p.achieved_flops_per_s == pytest.approx(p.flops / p.time_s)
        roof = min(160e9, p.intensity_flops_per_byte * 40e9)
        assert p.attainable_flops_per_s == pytest.approx(roof)
        assert p.efficiency == pytest.approx(p.achieved_flops_per_s / roof)
        if p.efficiency >= 0.1:  # below 10% of its roof a point is "below both roofs"
            assert p.bound == ("compute" if p.intensity_flops_per_byte > 4 else "memory")
    assert sum(p.time_share for p in r.points) == pytest.approx(1.0)
    assert any("ideal count" in n for n in r.notes) and any("7 passes" in n for n in r.notes)
    # the chart draws the GEMM dtype's compute roofs only, and every bandwidth roof
    assert {c.dtype for c in r.ceilings.compute} == {"fp32"} and r.ceilings.bandwidth == HAND.bandwidth


def test_bad_arguments_fail_before_measuring() -> None:
    with pytest.raises(UsageError, match="no compute roof for 'fp64'"):
        calibration_points(HAND, dtype="fp64")
    with pytest.raises(UsageError, match="not a CPU dtype"):
        calibration_points(HAND, dtype="tf32")
    with pytest.raises(UsageError, match="GEMM sizes"):
        calibration_points(HAND, sizes=(0,))
    with pytest.raises(UsageError, match="no bandwidth roof for 'l1'"):
        calibration_points(HAND, memory_level="l1")
    with pytest.raises(UsageError, match="unknown timing protocol 'slow'"):
        calibration_points(HAND, protocol="slow")


def test_chart_and_table_show_the_point_figures(quick_points: RooflinePoints, tmp_path: Path) -> None:
    png = write_chart(quick_points, tmp_path / "kernels.png")
    assert png.read_bytes()[:8] == PNG_MAGIC
    page = write_chart(quick_points, tmp_path / "kernels.html").read_text()
    assert page.count('<g class="point">') == len(quick_points.points)
    table = roofline_table(quick_points)
    for p in quick_points.points:
        cells = point_cells(p)
        row = next(line for line in table.splitlines() if line.startswith(cells["point"] + " "))
        for column in ("FLOP/B", "attainable", "achieved", "efficiency", "bound"):
            assert f" {cells[column]} " in row, (column, row)
        # the printed figures are the point's own: achieved / attainable = efficiency, to print precision
        achieved, roof = (float(x) for x in re.findall(r"([\d.]+) GFLOP/s", row)[1::-1])
        assert achieved / roof == pytest.approx(p.efficiency, rel=0.01)


# ---- the command -------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    """The options `nnperf roofline` already has, plus the two --kernels adds."""
    p = argparse.ArgumentParser()
    p.add_argument("--machine")
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--memory-level", default="dram")
    p.add_argument("--output", "-o")
    add_kernels_args(p)
    return p


def test_run_kernels_prints_the_table_and_writes_the_chart(
    machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "kernels.svg"
    args = _parser().parse_args(["--kernels", "--quick", "--machine", str(machine), "-o", str(out)])
    assert run_kernels(args) == 0
    captured = capsys.readouterr()
    assert "calibration kernels" in captured.out and "ridge 4 FLOP/B" in captured.out  # 160 G / 40 G
    assert "gemm fp32 n=512" in captured.out and "triad fp64" in captured.out
    # the test profile is not this machine's: the table says the efficiencies compare two machines
    assert "compare two machines" in captured.out
    assert out.read_text().lstrip().startswith("<?xml") and "chart written to" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dtype", "tf32"], "--dtype must be one of"),
        (["-o", "chart.pdf"], "unknown chart format for 'chart.pdf'"),
        (["--memory-level", "l9"], "unknown memory level 'l9'"),
        (["--dtype", "bf16"], "no compute roof for 'bf16'"),
    ],
)
def test_run_kernels_bad_options(machine: Path, argv: list[str], message: str) -> None:
    args = _parser().parse_args(["--kernels", "--machine", str(machine), *argv])
    with pytest.raises(UsageError, match=re.escape(message)):
        run_kernels(args)


def test_run_kernels_takes_no_model(machine: Path) -> None:
    args = _parser().parse_args(["--kernels", "--machine", str(machine)])
    args.model = "resnet50"
    with pytest.raises(UsageError, match="drop the model 'resnet50'"):
        run_kernels(args)


def test_nnperf_roofline_kernels_command(
    machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from nnperf.cli import main as cli

    out = tmp_path / "kernels.png"
    assert cli.main(["roofline", "--kernels", "--quick", "--machine", str(machine), "-o", str(out)]) == 0
    assert "calibration kernels" in capsys.readouterr().out
    assert out.read_bytes()[:8] == PNG_MAGIC


# ---- Must-show: this machine's roofs, checked by the kernels -----------------------------------------------
def _rates(points: RooflinePoints) -> dict[str, tuple[float, float, str]]:
    """Per checked kernel: (its rate, its roof's rate, label): the best GEMM size's FLOP/s against the compute
    roof (compute-bound: n/6 FLOP/B for fp32, right of the ridge), the triad's bytes/s against the DRAM roof."""
    gemm, triad = find_point(points, "gemm", best=True), find_point(points, "triad")
    assert gemm.bound == "compute" and triad.bound == "memory"
    return {
        "gemm": (gemm.achieved_flops_per_s, points.compute_roof.flops_per_s, gemm.label),
        "triad": (
            triad.achieved_flops_per_s / triad.intensity_flops_per_byte,
            points.bandwidth_roof.bytes_per_s,
            triad.label,
        ),
    }


def _misses(best: dict[str, tuple[float, float, str]]) -> dict[str, str]:
    """Kernels outside the check (the best GEMM within 10% of the compute roof, the triad within 10% of the
    DRAM roof), each with what it reached."""
    return {
        kind: f"{label}: {achieved / roof:.1%} of its roof (best {achieved:.4g} against best roof {roof:.4g})"
        for kind, (achieved, roof, label) in best.items()
        if not (1 - TOLERANCE <= achieved / roof <= 1 + TOLERANCE)
    }


@pytest.mark.slow
def test_calibration_meets_this_machines_roofs(tmp_path: Path) -> None:
    from nnperf.analysis.roofline import ceilings_from_profile
    from nnperf.machine.cpustat import load_window
    from nnperf.machine.profile import machine_profile

    def measure() -> tuple[float | None, RooflinePoints]:
        # Roofs and kernels from the same run: a quick profile measured now (not cached, not saved), and
        # the kernels timed by its quick protocol (rates come from the fastest sample, and more samples find
        # a faster one: a full-protocol GEMM has sat ~15% above a quick-protocol roof here). The load window
        # records how much CPU other processes took meanwhile, what a failure here usually means.
        with load_window() as window:
            profile = machine_profile(refresh=True, quick=True, save=False)
            points = calibration_points(
                ceilings_from_profile(profile), dtype="fp32", memory_level="dram", protocol="quick"
            )
        return window.result.others_share, points

    # A shared VM: a neighbour's burst during the profile or the kernels moves one figure by more than 10%
    # (DRAM bandwidth here has been seen to vary 17-43 GB/s from run to run; on 2026-11-27 a quick profile's
    # GEMM roof read 86 GFLOP/s and the next one 155, and the same triad ran 14-36% above the roof measured
    # seconds before it). A roof is the best rate the machine reaches, as STREAM reports its best time: so
    # each attempt measures roofs and kernels afresh, interleaved, and the check compares the best kernel rate
    # with the best roof over the attempts so far (one attempt alone when it agrees); at most three attempts
    # (five cost the suite a minute on a noisy host, where the test then skips anyway).
    best: dict[str, tuple[float, float, str]] = {}
    roofs: dict[str, list[float]] = {}
    for attempt in range(3):
        others, points = measure()
        print(_report(points, others))
        for kind, (achieved, roof, label) in _rates(points).items():
            a, r, _ = best.get(kind, (0.0, 0.0, label))
            best[kind] = (max(a, achieved), max(r, roof), label)
            roofs.setdefault(kind, []).append(roof)
        failures = _misses(best)
        if not failures:
            break
        print(
            f"attempt {attempt + 1}: calibration disagreed ({'; '.join(failures.values())}); measuring again"
        )
    # When the roofs themselves (the same kernels, the same protocol) moved by more than the tolerance from one
    # measurement to the next, a 10% agreement cannot be judged on this machine now: say so with the numbers
    # rather than pass or fail on noise. With steady roofs, a disagreement fails.
    unsteady = {
        kind: (min(values), max(values))
        for kind, values in roofs.items()
        if max(values) > (1 + TOLERANCE) * min(values)
    }
    if failures and all(kind in unsteady for kind in failures):
        pytest.skip(
            f"the host was too noisy to judge a 10% agreement: over {len(next(iter(roofs.values())))} measurements "
            "the roofs ranged "
            + ", ".join(f"{k} {lo:.4g}-{hi:.4g}" for k, (lo, hi) in unsteady.items())
            + f"; still disagreeing: {'; '.join(failures.values())}"
        )
    # Both checked points, with the roofs they are checked against, drawn on one chart.
    chart = write_chart(points, tmp_path / "calibration.png")
    assert chart.read_bytes()[:8] == PNG_MAGIC
    assert find_point(points, "gemm").plotted and find_point(points, "triad").plotted
    busy = (
        ""
        if others is None
        else f"; other processes used {others:.0%} of the CPUs meanwhile (over ~20%: contention, not the "
        "roofs, is the likely cause)"
    )
    assert not failures, f"{'; '.join(failures.values())}{busy}"


def _report(points: RooflinePoints, others: float | None) -> str:
    gemm = [p for p in points.points if p.kind == "gemm"]
    lines = [
        f"roofs: {points.compute_roof.dtype} {points.compute_roof.flops_per_s / 1e9:.1f} GFLOP/s, "
        f"DRAM {points.bandwidth_roof.bytes_per_s / 1e9:.1f} GB/s; others' CPU share {others}"
    ]
    lines += [
        f"  {p.label}: {p.achieved_flops_per_s / 1e9:.3g} GFLOP/s, {p.efficiency:.1%}" for p in points.points
    ]
    lines.append(f"  gemm median efficiency over sizes: {statistics.median(p.efficiency for p in gemm):.1%}")
    return "\n".join(lines)
