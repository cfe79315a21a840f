"""The roofline arithmetic of the classic examples, by hand."""

from __future__ import annotations

import pytest

from nnperf.analysis import roofline as rl


def test_classic_intensities() -> None:
    # axpy: 2 FLOPs per 24 bytes = 0.0833 FLOPs/byte
    assert rl.intensity(rl.AXPY["flops"], rl.AXPY["bytes"]) == pytest.approx(0.0833, abs=1e-4)
    # 7-point stencil: 7 FLOPs per 8 x 8 bytes = 0.109 FLOPs/byte ("0.11")
    assert rl.intensity(rl.STENCIL_7PT["flops"], rl.STENCIL_7PT["bytes"]) == pytest.approx(0.109, abs=1e-3)
    # with the neighbours in cache: 7 per 16 bytes = 0.4375 ("0.44")
    assert rl.intensity(rl.STENCIL_7PT_CACHED["flops"], rl.STENCIL_7PT_CACHED["bytes"]) == 0.4375


def test_ridge_and_attainable() -> None:
    peak, bw = 160e9, 40e9
    assert rl.ridge(peak, bw) == 4.0  # 160 GFLOP/s / 40 GB/s = 4 FLOPs/byte
    assert rl.attainable(0.0833, peak, bw) == pytest.approx(0.0833 * 40e9)  # memory roof: 3.33 GFLOP/s
    assert rl.attainable(100.0, peak, bw) == peak  # compute roof


def test_placement_classifies_by_the_ridge_and_by_efficiency() -> None:
    peak, bw = 160e9, 40e9
    axpy = rl.place(2, 24, peak, bw)
    assert axpy.bound == "memory" and axpy.efficiency is None
    gemm = rl.place(2 * 1024**3, 3 * 4 * 1024**2, peak, bw, achieved_flops_per_s=150e9)
    # 2n^3 / (3 n^2 x 4 B) = n/6 = 170.7 FLOPs/byte > ridge 4: compute-bound at 150/160 = 94%
    assert gemm.bound == "compute" and gemm.efficiency == pytest.approx(150 / 160)
    slow = rl.place(2, 24, peak, bw, achieved_flops_per_s=0.1e9)  # 3% of its 3.33 GFLOP/s roof
    assert slow.bound == "below both roofs" and slow.headroom == pytest.approx(33.3, rel=1e-2)
    with pytest.raises(ValueError, match="bytes moved must be positive"):
        rl.place(1, 0, peak, bw)


def test_ceilings_from_a_profile_dict() -> None:
    profile = {
        "measured": {
            "flops": {"fp32": 158e9, "fp64": 80e9},
            "bandwidth": {"dram": {"copy": 38e9, "triad": 43e9}, "l1": {"read_sum": 280e9}},
        },
        "nominal": {"flops": {"fp32": 166e9}},
    }
    c = rl.ceilings_from_profile(profile)
    assert c.peak("fp32").flops_per_s == 158e9 and c.peak("fp32", "nominal").flops_per_s == 166e9
    assert c.memory("dram").kernel == "triad" and c.memory("dram").bytes_per_s == 43e9
    assert c.memory("l1").kernel == "read_sum"
    with pytest.raises(KeyError, match="no measured compute roof for bf16"):
        c.peak("bf16")
