"""Plain-text tables for the terminal: columns padded to their widest cell, numbers right-aligned."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(header: Sequence[str], rows: Sequence[dict[str, str]], numeric: set[str]) -> list[str]:
    """The header line and one line per row (a dict of cells by column); ``numeric`` columns right-aligned,
    two spaces between columns, no trailing spaces."""
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in header}

    def line(cells: dict[str, str]) -> str:
        parts = [cells[c].rjust(widths[c]) if c in numeric else cells[c].ljust(widths[c]) for c in header]
        return "  ".join(parts).rstrip()

    return [line({c: c for c in header})] + [line(r) for r in rows]
