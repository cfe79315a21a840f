"""Sweep analysis on synthetic curves, sweep sizes, and STREAM byte counting."""

from __future__ import annotations

import math

import pytest

from nnperf.machine.stream import array_bytes_for, stream_bytes
from nnperf.machine.sweep import find_levels, segment, sweep_sizes

KiB, MiB = 2**10, 2**20
CACHES = {"l1": 32 * KiB, "l2": 1 * MiB, "l3": 32 * MiB}


def staircase(levels: list[tuple[float, float]], sizes: list[int], ramp_octaves: float = 0.0) -> list[dict]:
    """bandwidth(size): plateau bw_i while size <= edge_i; with ramp_octaves > 0 the drop after each edge
    is linear in log-bandwidth over that many octaves."""
    out = []
    for s in sizes:
        bw = levels[-1][1]
        for k, (edge, level_bw) in enumerate(levels[:-1]):
            if s <= edge:
                bw = level_bw
                break
            nxt = levels[k + 1][1]
            over = math.log2(s / edge)
            if ramp_octaves and over < ramp_octaves and (k + 1 == len(levels) - 1 or s <= levels[k + 1][0]):
                bw = math.exp(math.log(level_bw) + (math.log(nxt) - math.log(level_bw)) * over / ramp_octaves)
                break
        out.append({"bytes": s, "bytes_per_s": bw})
    return out


SIZES = sweep_sizes(8 * KiB, 256 * MiB, 4)
STEPS = [(32 * KiB, 200e9), (1 * MiB, 150e9), (32 * MiB, 120e9), (math.inf, 30e9)]


def test_sweep_sizes_log_spaced() -> None:
    s = sweep_sizes(16 * KiB, 64 * KiB, 2)
    # 16 KiB * 2^(i/2), i = 0..4, rounded to 64 B lines: 16384, 23168 (23170.5), 32768, 46336 (46341), 65536
    assert s == [16384, 23168, 32768, 46336, 65536]
    with pytest.raises(ValueError):
        sweep_sizes(0, 10, 1)


def test_segment_exact_steps() -> None:
    assert segment([5, 5, 5, 3, 3, 1, 1, 1], 3) == [(0, 3), (3, 5), (5, 8)]


def test_find_levels_sharp_staircase() -> None:
    res = find_levels(staircase(STEPS, SIZES), CACHES)
    for name, size in CACHES.items():
        bp = res["breakpoints"][name]
        # the drop happens between the last point <= size and the next point (a quarter octave further):
        # the crossing lies within that quarter octave
        assert size <= bp["bytes"] <= size * 2**0.25, (name, bp)
    lv = res["levels"]
    assert lv["l1"]["bytes_per_s"] == pytest.approx(200e9)
    assert lv["l2"]["bytes_per_s"] == pytest.approx(150e9)
    assert lv["l3"]["bytes_per_s"] == pytest.approx(120e9)
    assert lv["dram"]["bytes_per_s"] == pytest.approx(30e9)
    # drop = plateau before / after: 200/150
    assert res["breakpoints"]["l1"]["drop"] == pytest.approx(200 / 150)


def test_find_levels_gradual_llc_ramp_and_noise() -> None:
    # a shared L3 that fades into DRAM over two octaves, and +-3% alternating noise everywhere
    curve = staircase(STEPS, SIZES, ramp_octaves=2.0)
    for i, p in enumerate(curve):
        p["bytes_per_s"] *= 1.03 if i % 2 else 0.97
    res = find_levels(curve, CACHES)
    for name in CACHES:
        ratio = res["breakpoints"][name]["ratio"]
        # the midpoint of a two-octave ramp is one octave past the edge: ratio <= 2 (+ a quarter-octave step)
        assert 1 / 1.25 <= ratio <= 2 * 2**0.25, (name, ratio)
    assert res["levels"]["dram"]["bytes_per_s"] == pytest.approx(30e9, rel=0.05)


def test_find_levels_does_not_use_sizes_to_place_breakpoints() -> None:
    # the same curve, but the caller claims an L2 of 4 MiB: the breakpoint stays where the data drops (1 MiB)
    res = find_levels(staircase(STEPS, SIZES), {**CACHES, "l2": 4 * MiB})
    assert res["breakpoints"]["l2"]["bytes"] < 1.2 * MiB
    assert res["breakpoints"]["l2"]["ratio"] < 0.3


def test_find_levels_empty() -> None:
    assert find_levels([], CACHES) == {"levels": {}, "breakpoints": {}}


def test_stream_bytes_as_stream_counts() -> None:
    n = 1000
    # copy c=a and scale b=s*c: read one array, write one -> 2 x 8 B x 1000 = 16000
    assert stream_bytes("copy", n) == 16000
    assert stream_bytes("scale", n) == 16000
    # add c=a+b and triad a=b+s*c: read two, write one -> 3 x 8 B x 1000 = 24000
    assert stream_bytes("add", n) == 24000
    assert stream_bytes("triad", n) == 24000


def test_stream_array_size_rule() -> None:
    # STREAM's rule: each array >= 4 x LLC; 32 MiB LLC -> 128 MiB per array
    assert array_bytes_for(32 * MiB) == 128 * MiB
    # small or unknown LLC: the 64 MiB floor
    assert array_bytes_for(None) == 64 * MiB
    assert array_bytes_for(2 * MiB) == 64 * MiB


def test_stream_kernels_compute_stream_values() -> None:
    pytest.importorskip("torch")
    from nnperf.machine.stream import SCALAR, make_kernels

    k = make_kernels(16)
    # STREAM's sequence from a=1, b=2, c=0: copy c=1; scale b=3*1=3; add c=1+3=4; triad a=3+3*4=15
    for name in ("copy", "scale", "add", "triad"):
        r = k[name]()
    assert SCALAR == 3.0
    assert float(r[0]) == 15.0
