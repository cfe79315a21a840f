"""The results store of a study: atomic per-case records, forgiving loads, resume status, merge and export."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from nnperf.errors import RecordError, UsageError
from nnperf.experiments.export import case_rows, export_csv, export_parquet, to_dataframe
from nnperf.experiments.store import ResultStore, StoreContents, merge_stores, static_file_stem
from nnperf.records.machine_profile import MachineProfile
from nnperf.records.measurement import Measurement, RunSpec

FP_A = "aaaaaaaaaaaaaaaa"
FP_B = "bbbbbbbbbbbbbbbb"
SPEC = "name: sweep\nmodels: [resnet18]\nbatch: [8, 16]\n"


def _case(
    case_id: str, fingerprint: str = FP_A, batch: int = 8, status: str = "ok", study: str = "sweep"
) -> dict[str, Any]:
    if status == "ok":
        m = Measurement(
            spec=RunSpec(model="resnet18", batch=batch),
            samples_per_step=batch,
            step_time_s=[0.2, 0.1, 0.4, 0.3],
            time_s={"real": 1.0, "user": 0.7, "system": 0.1},
            memory={"peak_live_bytes": 500, "predicted_peak_bytes": 400},
            flops={"counted": 2_000_000_000},
            environment={"torch": "2.14.1", "python": "3.12.0"},
            warnings=["noisy", "contention"],
        )
    else:
        m = Measurement(
            spec=RunSpec(model="resnet18", batch=batch),
            status="failed",
            failed_stage="warmup",
            error="out of memory at batch 512 on cpu: lower --batch",
        )
    record = m.to_dict()
    record["case"] = {
        "id": case_id,
        "study": study,
        "environment": "default",
        "model": "resnet18",
        "fingerprint": fingerprint,
    }
    return record


def _machine(fingerprint: str, mode: str = "quick") -> dict[str, Any]:
    return MachineProfile(
        fingerprint=fingerprint,
        created="2026-11-27T00:00:00Z",
        mode=mode,
        probes={"cpu": {"model": "test cpu"}},
        nominal={},
        measured={},
        caches={},
    ).to_dict()


def _static(model: str = "resnet18") -> dict[str, Any]:
    return {"schema": "nnperf.static-summary", "schema_version": 1, "model": model, "params": {"total": 1}}


def _store(root: Path, fingerprint: str, ids: list[str]) -> ResultStore:
    store = ResultStore(root)
    store.write_spec(SPEC)
    store.write_machine(_machine(fingerprint))
    for i, case_id in enumerate(ids):
        store.write_case(_case(case_id, fingerprint, batch=8 * (i + 1)))
    return store


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


# -- writing and reading ---------------------------------------------------------------------------------
def test_round_trip_layout_and_status(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "res")
    path = store.write_case(_case("0123456789abcdef"))
    store.write_case(_case("fedcba9876543210", status="failed"))
    store.write_machine(_machine(FP_A))
    store.write_static("resnet18 infer b8", _static())
    store.write_spec(SPEC)

    assert path == tmp_path / "res" / "cases" / f"0123456789abcdef@{FP_A}.json"
    assert sorted(p.name for p in (tmp_path / "res").rglob("*") if p.is_file()) == sorted(
        [
            f"0123456789abcdef@{FP_A}.json",
            f"fedcba9876543210@{FP_A}.json",
            f"{FP_A}.json",
            f"{static_file_stem('resnet18 infer b8')}.json",
            "study.yaml",
        ]
    )
    contents = store.load()
    assert contents.warnings == []
    assert [c["case"]["id"] for c in contents.cases] == ["0123456789abcdef", "fedcba9876543210"]
    assert contents.cases[0]["spec"]["batch"] == 8
    assert contents.cases[1]["error"].startswith("out of memory")
    assert list(contents.machines) == [FP_A]
    assert contents.statics["resnet18 infer b8"]["store_key"] == "resnet18 infer b8"
    assert contents.spec_text == SPEC

    assert store.case_status("0123456789abcdef", FP_A) == "ok"
    assert store.case_status("fedcba9876543210", FP_A) == "failed"
    assert store.case_status("0123456789abcdef", FP_B) is None  # same case, other machine: not run there
    assert store.has_static("resnet18 infer b8") and not store.has_static("resnet18 infer b16")


def test_corrupt_case_reads_as_not_run(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.write_case(_case("0123456789abcdef"))
    path.write_text(path.read_text()[:100])  # truncated
    assert store.case_status("0123456789abcdef", FP_A) is None


def test_static_keys_are_sanitised_without_collisions(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert static_file_stem("resnet18") == "resnet18"  # a safe key stays readable
    a, b = store.static_path("hf/bert seq=128"), store.static_path("hf_bert_seq_128")
    assert a != b and "/" not in a.name and " " not in a.name
    store.write_static("hf/bert seq=128", _static("bert"))
    assert store.has_static("hf/bert seq=128") and not store.has_static("hf_bert_seq_128")
    assert store.load().statics["hf/bert seq=128"]["model"] == "bert"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("case"), "no 'case' section"),
        (lambda r: r.update(schema="nnperf.static-summary"), "not a 'nnperf.measurement' record"),
        (lambda r: r["case"].update(id="../escape"), "not a valid name"),
        (lambda r: r["case"].update(fingerprint="a@b"), "not a valid name"),
        (lambda r: r.update(status="maybe"), "not 'ok' or 'failed'"),
    ],
)
def test_write_case_refuses_bad_records(tmp_path: Path, change: Any, message: str) -> None:
    record = _case("0123456789abcdef")
    change(record)
    with pytest.raises(RecordError, match=message):
        ResultStore(tmp_path).write_case(record)
    assert not (tmp_path / "cases").exists() or list((tmp_path / "cases").iterdir()) == []


def test_write_spec_refuses_another_study(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write_spec("name: a\nmodels: [resnet18]\n")
    store.write_spec("name: a\nmodels: [resnet18, resnet50]\n")  # same study, edited: replaced
    assert "resnet50" in (tmp_path / "study.yaml").read_text()
    with pytest.raises(UsageError, match="holds study 'a', not 'b': use another --results directory"):
        store.write_spec("name: b\nmodels: [resnet18]\n")
    assert "resnet50" in (tmp_path / "study.yaml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["study.yaml"]  # no temp file left behind


# -- forgiving loads ---------------------------------------------------------------------------------------
def test_bad_files_are_skipped_with_a_warning_naming_them(tmp_path: Path) -> None:
    store = _store(tmp_path, FP_A, ["0000000000000001", "0000000000000002"])
    cases = tmp_path / "cases"
    bad = {
        "corrupt": cases / f"0000000000000003@{FP_A}.json",
        "foreign": cases / f"0000000000000004@{FP_A}.json",
        "newer": cases / f"0000000000000005@{FP_A}.json",
        "misnamed": cases / f"0000000000000006@{FP_A}.json",
        "temp": cases / f".0000000000000007@{FP_A}.json.k2j3h4.tmp",
        "stray": cases / "notes.txt",
        "machine": tmp_path / "machines" / f"{FP_B}.json",
    }
    bad["corrupt"].write_text('{"schema": "nnperf.measurement", "schema_version": 1, "spec": {')
    bad["foreign"].write_text(json.dumps({"traceEvents": []}))
    bad["newer"].write_text(json.dumps({**_case("0000000000000005"), "schema_version": 99}))
    bad["misnamed"].write_text(json.dumps(_case("0000000000000001")))  # holds case 1 under case 6's name
    bad["temp"].write_text('{"schema": "nnperf.meas')
    bad["stray"].write_text("hello")
    bad["machine"].write_text(json.dumps(_machine(FP_A)))  # profile of A filed under B

    contents = store.load()
    assert [c["case"]["id"] for c in contents.cases] == ["0000000000000001", "0000000000000002"]
    assert list(contents.machines) == [FP_A]
    assert len(contents.warnings) == len(bad)
    for path in bad.values():
        assert sum(path.name in w for w in contents.warnings) == 1, path.name
    assert all("\n" not in w for w in contents.warnings)
    joined = "\n".join(contents.warnings)
    for reason in ("not valid JSON", "holds None", "newer than this nnperf"):
        assert reason in joined
    assert "does not match its case" in joined and "interrupted write" in joined

    # The rest still exports: the report renders from what is readable.
    assert len(case_rows(contents)) == 2


def test_clean_partials_removes_only_temp_files(tmp_path: Path) -> None:
    store = _store(tmp_path, FP_A, ["0000000000000001"])
    temps = [
        tmp_path / "cases" / f".0000000000000002@{FP_A}.json.abc123.tmp",
        tmp_path / ".study.yaml.xyz.tmp",
    ]
    for t in temps:
        t.write_text("partial")
    before = _tree(tmp_path)
    assert sorted(store.clean_partials()) == sorted(temps)
    after = _tree(tmp_path)
    assert set(before) - set(after) == {str(t.relative_to(tmp_path)) for t in temps}
    assert store.load().warnings == []
    assert store.clean_partials() == []


def test_missing_store_loads_empty(tmp_path: Path) -> None:
    contents = ResultStore(tmp_path / "nope").load()
    assert contents == StoreContents()


# -- merge -------------------------------------------------------------------------------------------------
def test_merge_two_machines_then_again_adds_nothing(tmp_path: Path) -> None:
    _store(tmp_path / "a", FP_A, ["0000000000000001", "0000000000000002"])
    _store(tmp_path / "b", FP_B, ["0000000000000001", "0000000000000002"])
    ResultStore(tmp_path / "a").write_static("resnet18", _static())
    ResultStore(tmp_path / "b").write_static("resnet18", _static())  # same model, identical summary

    report = merge_stores([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    # 2 cases + 1 machine from each store, the static summary once (b's copy is a duplicate of a's)
    assert (report.added, report.duplicates, report.conflicts) == (7, 1, [])
    assert report.added_by_kind == {"cases": 4, "machines": 2, "models": 1}
    merged = ResultStore(tmp_path / "merged").load()
    assert merged.warnings == []
    assert sorted((c["case"]["id"], c["case"]["fingerprint"]) for c in merged.cases) == [
        ("0000000000000001", FP_A),
        ("0000000000000001", FP_B),
        ("0000000000000002", FP_A),
        ("0000000000000002", FP_B),
    ]
    assert sorted(merged.machines) == [FP_A, FP_B]
    assert merged.spec_text == SPEC

    snapshot = _tree(tmp_path / "merged")
    again = merge_stores([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    assert (again.added, again.duplicates, again.conflicts) == (0, 8, [])
    assert _tree(tmp_path / "merged") == snapshot
    assert "added 0 record(s)" in again.text() and "8 duplicate(s)" in again.text()


def test_merge_conflict_is_reported_and_dest_unchanged(tmp_path: Path) -> None:
    _store(tmp_path / "a", FP_A, ["0000000000000001"])
    b = _store(tmp_path / "b", FP_A, [])
    b.write_case(_case("0000000000000001", FP_A, status="failed"))  # same case and machine, other result
    merge_stores([tmp_path / "a"], tmp_path / "merged")
    snapshot = _tree(tmp_path / "merged")

    report = merge_stores([tmp_path / "b"], tmp_path / "merged")
    assert report.added == 0 and report.duplicates == 1  # the identical machine profile
    assert len(report.conflicts) == 1 and f"0000000000000001@{FP_A}.json" in report.conflicts[0]
    assert "conflict:" in report.summary()
    assert _tree(tmp_path / "merged") == snapshot
    assert ResultStore(tmp_path / "merged").case_status("0000000000000001", FP_A) == "ok"


def test_merge_refuses_bad_inputs_and_skips_bad_records(tmp_path: Path) -> None:
    _store(tmp_path / "a", FP_A, ["0000000000000001"])
    other = ResultStore(tmp_path / "other")
    other.write_spec("name: another\n")
    with pytest.raises(UsageError, match="different studies"):
        merge_stores([tmp_path / "a", tmp_path / "other"], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()  # refused before anything was copied
    with pytest.raises(UsageError, match="does not exist"):
        merge_stores([tmp_path / "missing"], tmp_path / "merged")
    with pytest.raises(UsageError, match="also the merge destination"):
        merge_stores([tmp_path / "a"], tmp_path / "a")

    newer = tmp_path / "a" / "cases" / f"0000000000000009@{FP_A}.json"
    newer.write_text(json.dumps({**_case("0000000000000009"), "schema_version": 2}))
    ResultStore(tmp_path / "a").write_case(_case("0000000000000008", study="elsewhere"))
    report = merge_stores([tmp_path / "a"], tmp_path / "merged")
    assert report.added_by_kind["cases"] == 1
    assert any(newer.name in w and "newer" in w for w in report.warnings)
    assert any("belongs to study 'elsewhere'" in w for w in report.warnings)
    assert [c["case"]["id"] for c in ResultStore(tmp_path / "merged").load().cases] == ["0000000000000001"]


# -- export ------------------------------------------------------------------------------------------------
def _exported(tmp_path: Path) -> StoreContents:
    store = _store(tmp_path / "res", FP_A, ["0000000000000001", "0000000000000002"])
    store.write_case(_case("0000000000000003", FP_A, batch=512, status="failed"))
    return store.load()


def test_rows_hold_the_derived_figures(tmp_path: Path) -> None:
    rows = case_rows(_exported(tmp_path))
    ok, failed = rows[0], rows[2]
    assert ok["case.id"] == "0000000000000001" and ok["fingerprint"] == FP_A and ok["spec.batch"] == 8
    # median of [0.1, 0.2, 0.3, 0.4] = (0.2 + 0.3) / 2 = 0.25 s; 8 samples / 0.25 s = 32 samples/s
    assert ok["step_time_s.median"] == pytest.approx(0.25)
    assert ok["step_time_s.n"] == 4
    assert ok["throughput.samples_per_s"] == pytest.approx(32.0)
    # non-CPU time = real - user - system = 1.0 - 0.7 - 0.1 = 0.2 s
    assert ok["time_s.non_cpu"] == pytest.approx(0.2)
    # achieved = 2e9 FLOPs / 0.25 s = 8e9 FLOP/s
    assert ok["flops.achieved_per_s"] == pytest.approx(8e9)
    assert ok["memory.peak_live_bytes"] == 500 and ok["memory.predicted_peak_bytes"] == 400
    assert ok["warnings"] == "noisy | contention"
    assert ok["environment.torch"] == "2.14.1"
    assert failed["status"] == "failed" and failed["failed_stage"] == "warmup"
    assert failed["step_time_s.median"] is None and failed["step_time_s.n"] == 0  # missing, not NaN


def test_export_csv(tmp_path: Path) -> None:
    path = export_csv(_exported(tmp_path), tmp_path / "out" / "all.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["case.id"] for r in rows] == ["0000000000000001", "0000000000000002", "0000000000000003"]
    assert {"case.study", "spec.mode", "spec.batch", "step_time_s.median", "step_time_s.p99"} <= set(rows[0])
    assert rows[1]["spec.batch"] == "16"
    assert float(rows[0]["step_time_s.median"]) == pytest.approx(0.25)
    assert rows[2]["step_time_s.median"] == "" and rows[2]["error"].startswith("out of memory")


def test_export_parquet_and_dataframe(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    contents = _exported(tmp_path)
    df = to_dataframe(contents)
    assert len(df) == 3
    assert {"case.id", "fingerprint", "status", "spec.batch", "throughput.samples_per_s"} <= set(df.columns)
    assert list(df["spec.batch"]) == [8, 16, 512]

    table = pq.read_table(export_parquet(contents, tmp_path / "all.parquet"))
    assert table.num_rows == 3
    assert table.column_names == list(df.columns)
    assert table.column("case.id").to_pylist() == ["0000000000000001", "0000000000000002", "0000000000000003"]
    assert table.column("step_time_s.median").to_pylist()[:2] == pytest.approx([0.25, 0.25])


def test_empty_store_exports_headers(tmp_path: Path) -> None:
    empty = StoreContents()
    assert len(to_dataframe(empty)) == 0 and "case.id" in to_dataframe(empty).columns
    with export_csv(empty, tmp_path / "e.csv").open() as f:
        assert next(csv.reader(f))[0] == "case.id"
