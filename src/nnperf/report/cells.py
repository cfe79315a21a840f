"""Record values as table cells: read a number out of a record (``dotted_get``, ``finite``, ``median_or_none``) and write
it as the short text of a table cell, "-" where it is missing (``pct_cell``, ``time_cell``, ``bytes_cell``, ...).

Shared by the digested study and every section, so a value reads the same wherever the report shows it. The
leading underscores mark helpers private to :mod:`nnperf.report`: only its modules import them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from nnperf.units import fmt_bytes, fmt_count, fmt_time


# ---- formatting -----------------------------------------------------------------------------------------------
def finite(x: Any) -> float | None:
    """A usable number, or None (missing, NaN, infinite, not a number)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def pct_cell(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def ratio_cell(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def time_cell(x: float | None) -> str:
    return "-" if x is None else fmt_time(x)


def bytes_cell(x: float | None) -> str:
    return "-" if x is None else fmt_bytes(x)


def flops_cell(x: float | None) -> str:
    return "-" if x is None else fmt_count(x)


def rate_cell(x: float | None, unit: str = "FLOP/s") -> str:
    return "-" if x is None else f"{x / 1e9:.3g} G{unit}"


def num_cell(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def cores_cell(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def money_cell(x: float | None) -> str:
    return "-" if x is None else f"${x:.3g}"


def dotted_get(d: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def median_or_none(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def setting_text(name: str, value: Any) -> str:
    if name == "batch":
        return f"b{value}"
    if name == "seq":
        return f"seq{value}"
    if name in ("mode", "device", "dtype"):
        return str(value)
    return f"{name}={value}"
