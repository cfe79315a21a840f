"""Formatting of counts, FLOPs and bytes with their units spelled out (SI prefixes unless stated)."""

from __future__ import annotations

_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def fmt_count(n: float) -> str:
    """1234567 -> '1.23 M' (SI)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}"
    return f"{n:g}"


def fmt_count_short(n: float) -> str:
    """A rate or count for a table cell: 3 significant digits below 1000 ('9.23', '570'), SI above ('2.23 K')."""
    return fmt_count(n) if abs(n) >= 1000 else f"{n:.3g}"


def fmt_flops(n: float) -> str:
    """FLOPs with an SI prefix and a trailing space for the unit: '4.11 G'."""
    s = fmt_count(n)
    return s if s[-1].isalpha() else s + " "


def fmt_bytes(n: float) -> str:
    """Bytes in SI units (1 MB = 10**6 bytes)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}B"
    return f"{n:g} B"


def _missing(x: float | None) -> bool:
    return x is None or x != x  # None or NaN


def fmt_time(seconds: float | None) -> str:
    """A duration in the unit that fits it: '1.52 s', '3.40 ms', '12.5 us', '80 ns'; '-' when missing."""
    if _missing(seconds):
        return "-"
    assert seconds is not None
    size = abs(seconds)
    if size >= 1 or size == 0:
        return f"{seconds:.2f} s"
    if size >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if size >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.3g} ns"


def fmt_ms(seconds: float | None) -> str:
    """A duration in milliseconds (seconds from 10 s up), for table columns that compare step times."""
    if _missing(seconds):
        return "-"
    assert seconds is not None
    return f"{seconds * 1e3:.2f} ms" if seconds < 10 else f"{seconds:.2f} s"
