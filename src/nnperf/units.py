"""Formatting of counts, FLOPs and bytes with their units spelled out (SI prefixes unless stated)."""

from __future__ import annotations

_SI = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K"))


def fmt_count(n: float) -> str:
    """1234567 -> '1.23 M' (SI)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.2f} {prefix}"
    return f"{n:g}"


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
