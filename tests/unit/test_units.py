"""The one set of unit formatters every view uses."""

from __future__ import annotations

import pytest

from nnperf.units import fmt_bytes, fmt_count, fmt_ms, fmt_time


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (float("nan"), "-"),
        (0.0, "0.00 s"),
        (12.345, "12.35 s"),
        (1.0, "1.00 s"),
        (0.0034, "3.40 ms"),
        (1.25e-5, "12.5 us"),
        (8e-8, "80 ns"),
        (-0.002, "-2.00 ms"),
    ],
)
def test_fmt_time_picks_the_unit_that_fits(seconds: float | None, text: str) -> None:
    assert fmt_time(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (float("nan"), "-"), (0.0005, "0.50 ms"), (9.5, "9500.00 ms"), (12, "12.00 s")],
)
def test_fmt_ms_keeps_milliseconds_for_comparable_columns(seconds: float | None, text: str) -> None:
    assert fmt_ms(seconds) == text


def test_counts_and_bytes_use_si_prefixes() -> None:
    assert fmt_count(1_234_567) == "1.23 M"
    assert fmt_count(999) == "999"
    assert fmt_bytes(2.5e9) == "2.50 GB"
    assert fmt_bytes(12) == "12 B"
