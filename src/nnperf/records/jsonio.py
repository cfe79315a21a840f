"""Versioned JSON records, written atomically.

Every record is one JSON object with ``schema`` (what it is) and ``schema_version``. Writing goes to a
temporary file in the same directory, flushed and fsync'd, then renamed over the target: a crash or an
interrupt leaves either the old file or the new one, never half a record. Reading checks the schema, refuses
newer versions, and runs the registered upgraders on older ones (pyperf's ``_JSON_VERSION`` approach).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnperf.errors import RecordError

Upgrader = Callable[[dict[str, Any]], dict[str, Any]]


def write_record(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # an interrupt included: never leave the temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_record(
    path: str | Path, schema: str, version: int, upgraders: dict[int, Upgrader] | None = None
) -> dict[str, Any]:
    """Read a record of ``schema``, upgrading it to ``version``; RecordError names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecordError(f"record file {str(path)!r} does not exist") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(
            f"record file {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}): truncated or "
            "foreign; delete it and measure again"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != schema:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise RecordError(f"record file {str(path)!r} holds {found!r}, not a {schema!r} record")
    found_version = data.get("schema_version")
    if not isinstance(found_version, int) or found_version < 1:
        raise RecordError(f"record file {str(path)!r} has no valid schema_version")
    if found_version > version:
        raise RecordError(
            f"record file {str(path)!r} is {schema} version {found_version}, newer than this nnperf "
            f"understands ({version}): upgrade nnperf"
        )
    while found_version < version:
        upgrade = (upgraders or {}).get(found_version)
        if upgrade is None:
            raise RecordError(f"no upgrader from {schema} version {found_version} to {version}")
        data = upgrade(data)
        found_version += 1
        data["schema_version"] = found_version
    return data
