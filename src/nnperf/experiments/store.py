"""The results store of a study: a directory of versioned JSON records, one file per case and machine.

Layout (``./nnperf-results`` by default)::

    study.yaml                            the spec that produced the store
    cases/<case id>@<fingerprint>.json    one nnperf.measurement record per case and machine
    machines/<fingerprint>.json           nnperf.machine-profile records
    models/<key>.json                     nnperf.static-summary records (the original key inside, "store_key")

One file per case is what makes resume, merge and a SIGKILL harmless: a case is finished exactly when its file
exists, every file is written atomically (temp file + fsync + rename, :func:`nnperf.records.jsonio.write_record`),
and merging stores from several machines is a union of file names, never an append. Reading is forgiving: a
corrupt, foreign, newer or misplaced file is skipped with a one-line warning naming it, so one bad file never
stops a report. Plain data: no torch import.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnperf.errors import RecordError, UsageError
from nnperf.records import machine_profile, measurement
from nnperf.records.jsonio import read_record, write_record
from nnperf.static import export as static_export

DEFAULT_ROOT = "nnperf-results"
SPEC_NAME = "study.yaml"
CASES, MACHINES, MODELS = "cases", "machines", "models"
SLURM_DIR = "slurm"  # the Slurm executor's job scripts, payloads and logs (nnperf.experiments.slurm)
REPORT_DIR = "report"  # where `nnperf study run` writes the report by default
TRACES = "traces"  # profiler traces of profiled cases (Chrome/Perfetto JSON), named like their case records

# A name that is safe as (part of) a file name everywhere: no separators, no '@' (it splits case files), and
# no leading dot (dot files are the temporary files of interrupted writes).
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def is_partial(path: Path) -> bool:
    """Whether ``path`` is the temporary file of an atomic write (``.<name>.<random>.tmp``, see jsonio)."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _check_name(value: Any, what: str, error: type[Exception] = UsageError) -> str:
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise error(f"{what} {value!r} is not a valid name: use letters, digits, '_', '-' and '.' only")
    return value


def static_file_stem(key: str) -> str:
    """The file name (without .json) of the static summary stored under ``key``.

    A key that is already a safe name is used as is (readable); otherwise unsafe characters become '_' and a
    hash of the original key is appended, so 'a/b' and 'a_b' never share a file.
    """
    if not key:
        raise UsageError("static summary key is empty: give the model's key")
    if _SAFE_NAME.fullmatch(key) and len(key) <= 100:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{_UNSAFE_CHARS.sub('_', key).lstrip('.')[:80]}-{digest}"


def study_name(spec_text: str) -> str | None:
    """The ``name`` of a study spec's YAML text; None when it does not parse or names no study."""
    import yaml

    try:
        data = yaml.safe_load(spec_text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    name = data.get("name", data.get("study"))
    return str(name) if name is not None else None


def _write_text_atomic(path: Path, text: str) -> Path:
    """Like jsonio.write_record, for text (study.yaml): temp file with the same naming, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _canonical(record: dict[str, Any]) -> str:
    # Compared as canonical JSON text, not as dicts: a failed case's statistics are NaN, and NaN != NaN.
    return json.dumps(record, sort_keys=True)


@dataclass
class StoreContents:
    """Everything readable in a store; ``warnings`` names each file that was skipped and why."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> profile record
    statics: dict[str, dict[str, Any]] = field(default_factory=dict)  # store key -> static summary record
    spec_text: str | None = None
    warnings: list[str] = field(default_factory=list)


class ResultStore:
    """A results store rooted at ``root`` (created on the first write)."""

    def __init__(self, root: str | Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    # -- paths ---------------------------------------------------------------------------------------
    def case_path(self, case_id: str, fingerprint: str) -> Path:
        _check_name(case_id, "case id")
        _check_name(fingerprint, "machine fingerprint")
        return self.root / CASES / f"{case_id}@{fingerprint}.json"

    def trace_path(self, case_id: str, fingerprint: str) -> Path:
        """Where a profiled case's trace goes: ``traces/<case id>@<fingerprint>.json``."""
        return self.root / TRACES / self.case_path(case_id, fingerprint).name

    def trace_files(self) -> list[Path]:
        return sorted((self.root / TRACES).glob("*.json")) if (self.root / TRACES).is_dir() else []

    def machine_path(self, fingerprint: str) -> Path:
        return self.root / MACHINES / f"{_check_name(fingerprint, 'machine fingerprint')}.json"

    def static_path(self, key: str) -> Path:
        return self.root / MODELS / f"{static_file_stem(key)}.json"

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_NAME

    # -- cases ---------------------------------------------------------------------------------------
    def case_status(self, case_id: str, fingerprint: str) -> str | None:
        """ "ok" or "failed" from the case's valid record; None when it is missing or unreadable (run it)."""
        path = self.case_path(case_id, fingerprint)
        if not path.is_file():
            return None
        try:
            record = self._read_case(path)
        except RecordError:
            return None
        return record["status"]

    def write_case(self, record: dict[str, Any]) -> Path:
        """Write a case's measurement record atomically to cases/<id>@<fingerprint>.json."""
        case = _validate_case(record, where="case record")
        return write_record(self.case_path(case["id"], case["fingerprint"]), record)

    # -- machines and static summaries ---------------------------------------------------------------
    def write_machine(self, profile: dict[str, Any]) -> Path:
        if profile.get("schema") != machine_profile.SCHEMA:
            raise RecordError(
                f"machine profile holds {profile.get('schema')!r}, not {machine_profile.SCHEMA!r}"
            )
        fingerprint = _check_name(profile.get("fingerprint"), "machine fingerprint", RecordError)
        return write_record(self.machine_path(fingerprint), profile)

    def write_static(self, key: str, summary: dict[str, Any]) -> Path:
        if summary.get("schema") != static_export.SCHEMA:
            raise RecordError(f"static summary holds {summary.get('schema')!r}, not {static_export.SCHEMA!r}")
        return write_record(self.static_path(key), {**summary, "store_key": key})

    def has_static(self, key: str) -> bool:
        """Whether a valid static summary is stored under ``key`` (a corrupt one counts as missing)."""
        path = self.static_path(key)
        if not path.is_file():
            return False
        try:
            data = read_record(path, static_export.SCHEMA, static_export.SCHEMA_VERSION)
        except RecordError:
            return False
        return data.get("store_key", key) == key

    # -- the spec ------------------------------------------------------------------------------------
    def write_spec(self, text: str) -> Path:
        """Keep a copy of the study spec; refuse to mix two studies in one store."""
        path = self.spec_path
        if path.is_file():
            try:
                old = path.read_text()
            except (OSError, UnicodeDecodeError):
                old = None
            if old == text:
                return path
            old_name = study_name(old) if old is not None else None
            new_name = study_name(text)
            # Same study, edited spec (a model added, say): cases are keyed by their own id, so the old
            # records stay valid and the copy is replaced. A different (or unreadable) study is refused.
            if old_name is None or old_name != new_name:
                raise UsageError(
                    f"store {str(self.root)!r} holds study {old_name!r}, not {new_name!r}: "
                    "use another --results directory"
                )
        return _write_text_atomic(path, text)

    # -- reading -------------------------------------------------------------------------------------
    def load(self) -> StoreContents:
        """Every valid record in the store; each skipped file is named in ``warnings``."""
        out = StoreContents()
        if not self.root.exists():
            return out
        if not self.root.is_dir():
            raise UsageError(f"results store {str(self.root)!r} is a file, not a directory: give a directory")
        known = {SPEC_NAME, CASES, MACHINES, MODELS, SLURM_DIR, REPORT_DIR, TRACES}
        for entry in sorted(self.root.iterdir()):
            if entry.name not in known:
                out.warnings.append(_stray(entry))
        if self.spec_path.is_file():
            try:
                out.spec_text = self.spec_path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                out.warnings.append(f"study spec {str(self.spec_path)!r} is unreadable ({exc}); skipped")
        for path in self._files(CASES, out.warnings):
            try:
                out.cases.append(self._read_case(path))
            except RecordError as exc:
                out.warnings.append(f"{exc}; skipped")
        for path in self._files(MACHINES, out.warnings):
            try:
                profile = read_record(path, machine_profile.SCHEMA, machine_profile.SCHEMA_VERSION)
                if profile.get("fingerprint") != path.stem:
                    raise RecordError(
                        f"record file {str(path)!r} holds the profile of machine {profile.get('fingerprint')!r}, "
                        f"not {path.stem!r}"
                    )
            except RecordError as exc:
                out.warnings.append(f"{exc}; skipped")
                continue
            out.machines[path.stem] = profile
        for path in self._files(MODELS, out.warnings):
            try:
                summary = read_record(path, static_export.SCHEMA, static_export.SCHEMA_VERSION)
                key = summary.get("store_key", path.stem)
                if not isinstance(key, str) or static_file_stem(key) != path.stem:
                    raise RecordError(f"record file {str(path)!r} holds the summary of key {key!r}")
            except (RecordError, UsageError) as exc:
                out.warnings.append(f"{exc}; skipped")
                continue
            out.statics[key] = {**summary, "store_key": key}
        return out

    def clean_partials(self) -> list[Path]:
        """Remove the temporary files that interrupted atomic writes left behind; returns them.

        Call it only while no study writes into this store (a running writer's temp file looks the same).
        """
        removed: list[Path] = []
        for folder in (self.root, self.root / CASES, self.root / MACHINES, self.root / MODELS):
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and is_partial(path):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    # -- helpers -------------------------------------------------------------------------------------
    def _files(self, sub: str, warnings: list[str]) -> list[Path]:
        """The .json files of a store subfolder; anything else there is warned about and ignored."""
        folder = self.root / sub
        if not folder.exists():
            return []
        if not folder.is_dir():
            warnings.append(f"{str(folder)!r} is not a directory; skipped")
            return []
        files = []
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".json" and not path.name.startswith("."):
                files.append(path)
            else:
                warnings.append(_stray(path))
        return files

    def _read_case(self, path: Path) -> dict[str, Any]:
        record = read_record(path, measurement.SCHEMA, measurement.SCHEMA_VERSION)
        case = _validate_case(record, where=f"record file {str(path)!r}")
        expected = f"{case['id']}@{case['fingerprint']}"
        if path.stem != expected:
            raise RecordError(
                f"record file {str(path)!r} holds case {expected!r}: its name does not match its case"
            )
        return record


def _validate_case(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The record's ``case`` section, after checking that this is a case's measurement record."""
    if not isinstance(record, dict) or record.get("schema") != measurement.SCHEMA:
        found = record.get("schema") if isinstance(record, dict) else type(record).__name__
        raise RecordError(f"{where} holds {found!r}, not a {measurement.SCHEMA!r} record")
    if record.get("schema_version") != measurement.SCHEMA_VERSION:
        raise RecordError(
            f"{where} is {measurement.SCHEMA} version {record.get('schema_version')!r}, "
            f"not {measurement.SCHEMA_VERSION}"
        )
    case = record.get("case")
    if not isinstance(case, dict):
        raise RecordError(f"{where} has no 'case' section: it is a bench record, not a study case")
    _check_name(case.get("id"), f"{where}: case id", RecordError)
    _check_name(case.get("fingerprint"), f"{where}: machine fingerprint", RecordError)
    if record.get("status") not in ("ok", "failed"):
        raise RecordError(f"{where} has status {record.get('status')!r}, not 'ok' or 'failed'")
    return case


def _stray(path: Path) -> str:
    if is_partial(path):
        return f"{str(path)!r} is the leftover of an interrupted write; ignored (`clean_partials` removes it)"
    return f"{str(path)!r} is not part of a results store; ignored"


# -- merge ---------------------------------------------------------------------------------------------
@dataclass
class MergeReport:
    """What a merge did. ``added`` and ``duplicates`` count records of every kind (cases, machines, models)."""

    dest: str = ""
    sources: list[str] = field(default_factory=list)
    added: int = 0
    duplicates: int = 0
    conflicts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    added_by_kind: dict[str, int] = field(default_factory=lambda: {CASES: 0, MACHINES: 0, MODELS: 0})

    def text(self) -> str:
        """A few lines for the terminal: the counts, then one line per conflict (``warnings`` are separate)."""
        k = self.added_by_kind
        lines = [
            f"merged {len(self.sources)} store(s) into {self.dest}: added {self.added} record(s) "
            f"({k[CASES]} case(s), {k[MACHINES]} machine profile(s), {k[MODELS]} model summary(ies)), "
            f"{self.duplicates} duplicate(s) skipped, {len(self.conflicts)} conflict(s)"
        ]
        lines += [f"conflict: {c}" for c in self.conflicts]
        return "\n".join(lines)

    summary = text


def merge_stores(sources: list[str | Path], dest: str | Path) -> MergeReport:
    """Copy every valid record of ``sources`` into ``dest`` (created if needed); never overwrite, never duplicate.

    A record whose file already exists in ``dest`` is a duplicate when identical and a conflict otherwise
    (``dest``'s copy is kept). Stores of different studies are refused before anything is copied; records a
    source cannot read (corrupt, foreign, newer schema) are left out with the source's warning.
    """
    if not sources:
        raise UsageError("nothing to merge: give one or more results directories")
    target = ResultStore(dest)
    if target.root.exists() and not target.root.is_dir():
        raise UsageError(f"merge destination {str(target.root)!r} is a file: give a directory")
    report = MergeReport(dest=str(target.root), sources=[str(s) for s in sources])
    loaded: list[tuple[Path, StoreContents]] = []
    for src in sources:
        root = Path(src)
        if not root.is_dir():
            raise UsageError(f"results store {str(root)!r} does not exist or is not a directory")
        if target.root.exists() and root.resolve() == target.root.resolve():
            raise UsageError(f"results store {str(root)!r} is also the merge destination: give another one")
        contents = ResultStore(root).load()
        report.warnings += contents.warnings
        loaded.append((root, contents))

    dest_contents = target.load()
    report.warnings += dest_contents.warnings
    names = {
        str(root): study_name(c.spec_text)
        for root, c in [(target.root, dest_contents), *loaded]
        if c.spec_text is not None and study_name(c.spec_text) is not None
    }
    if len(set(names.values())) > 1:
        listed = ", ".join(f"{n!r} ({r})" for r, n in names.items())
        raise UsageError(f"the stores hold different studies: {listed}; merge stores of one study only")
    study = next(iter(names.values()), None)

    spec_text = dest_contents.spec_text
    for root, contents in loaded:
        if contents.spec_text is None:
            pass
        elif spec_text is None:
            target.write_spec(contents.spec_text)
            spec_text = contents.spec_text
        elif contents.spec_text != spec_text:
            report.warnings.append(
                f"study spec of {str(root)!r} differs from that of {str(target.root)!r}; kept the latter"
            )
        for record in contents.cases:
            case = record["case"]
            if study is not None and case.get("study") not in (None, study):
                report.warnings.append(
                    f"case {case['id']}@{case['fingerprint']} in {str(root)!r} belongs to study "
                    f"{case.get('study')!r}, not {study!r}; not merged"
                )
                continue
            path = target.case_path(case["id"], case["fingerprint"])
            _merge_one(report, CASES, path, record, root, lambda r=record: target.write_case(r))
        for fingerprint, profile in contents.machines.items():
            path = target.machine_path(fingerprint)
            _merge_one(report, MACHINES, path, profile, root, lambda p=profile: target.write_machine(p))
        for key, summary in contents.statics.items():
            path = target.static_path(key)
            _merge_one(
                report, MODELS, path, summary, root, lambda k=key, s=summary: target.write_static(k, s)
            )
    return report


def _merge_one(
    report: MergeReport,
    kind: str,
    path: Path,
    record: dict[str, Any],
    source: Path,
    write: Callable[[], Path],
) -> None:
    """Copy one record unless ``path`` exists: identical there is a duplicate, different is a conflict."""
    if path.exists():
        try:
            existing = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            existing = None
        if existing is not None and _canonical(existing) == _canonical(record):
            report.duplicates += 1
        else:
            rel = f"{path.parent.name}/{path.name}"
            report.conflicts.append(
                f"{rel} from {str(source)!r} differs from the one in {str(report.dest)!r}; kept the latter"
            )
        return
    write()
    report.added += 1
    report.added_by_kind[kind] += 1
