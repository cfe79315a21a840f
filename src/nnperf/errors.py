"""The small exception hierarchy of nnperf.

Every error raised at a boundary names the bad value and the fix in one line; the CLI prints that line and
exits with status 2 (no traceback).
"""

from __future__ import annotations


class NnperfError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class UsageError(NnperfError):
    """A bad argument: malformed shape, unknown dtype, conflicting options."""


class ModelError(NnperfError):
    """A model that cannot be found, built or run."""


class UnknownModelError(ModelError):
    """A model name that no source knows; carries close names as suggestions."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = list(suggestions or [])
        hint = (
            f"did you mean {', '.join(repr(s) for s in self.suggestions)}?"
            if self.suggestions
            else "run `nnperf models` to list the available models"
        )
        super().__init__(
            f"unknown model {name!r}: {hint} (or give a transformers config.json path, "
            "a 'file.py:factory' or a 'package.module:factory')"
        )


class RecordError(NnperfError):
    """A record file that is missing, truncated, foreign or of an unsupported version."""
