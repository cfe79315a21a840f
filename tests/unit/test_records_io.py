"""Versioned JSON records: atomic writes, clear errors on truncated, foreign and future files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnperf.errors import RecordError
from nnperf.records.jsonio import read_record, write_record


def test_round_trip_and_no_temporary_left(tmp_path: Path) -> None:
    path = write_record(tmp_path / "sub" / "r.json", {"schema": "s", "schema_version": 1, "x": [1, 2]})
    assert read_record(path, "s", 1)["x"] == [1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_interrupted_write_keeps_the_old_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_record(tmp_path / "r.json", {"schema": "s", "schema_version": 1, "v": "old"})

    def boom(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(KeyboardInterrupt):
        write_record(path, {"schema": "s", "schema_version": 1, "v": "new"})
    monkeypatch.undo()
    assert read_record(path, "s", 1)["v"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema": "s", "schema_version": 1, "x": [1, ', "not valid JSON"),
        ('{"traceEvents": []}', "not a 's' record"),
        ("[1, 2]", "not a 's' record"),
        ('{"schema": "s", "schema_version": 9}', "newer than this nnperf"),
        ('{"schema": "s"}', "no valid schema_version"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(RecordError, match=message) as info:
        read_record(path, "s", 1)
    assert "\n" not in str(info.value)


def test_upgraders_run_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text('{"schema": "s", "schema_version": 1, "a": 1}')
    upgraders = {1: lambda d: {**d, "b": d["a"] + 1}, 2: lambda d: {**d, "c": d["b"] + 1}}
    data = read_record(path, "s", 3, upgraders)
    assert (data["a"], data["b"], data["c"], data["schema_version"]) == (1, 2, 3, 3)
    with pytest.raises(RecordError, match="no upgrader"):
        read_record(path, "s", 2, {})
