"""Run a study: expand the matrix, run each case in its own process, keep every result.

* **Isolation.** Each case runs in a child process (:mod:`nnperf.experiments.case`) with a timeout
  (``run.timeout_s``): a crash, an out-of-memory kill or a hang ends that case only, and the parent records it
  as failed with the reason (signal, exit status, timeout).
* **Never lose a result.** The child writes its record atomically as soon as it ends; the parent writes one
  only when the child could not. A record exists for a case exactly when the case finished.
* **Resume.** Running a study again skips every case that has a record for this machine (its fingerprint):
  finished ones always, failed ones unless ``retry_failed``. Temp files left by a write that was killed
  midway are removed first.
* **Once per environment.** The machine profile (cached by ``nnperf machine``; measured quickly if there is
  none) and the static analysis of each model and input are stored once, for the report.

Cases of environments with a ``slurm:`` section are submitted as job arrays through
:class:`nnperf.experiments.slurm.SlurmExecutor` (checked reachable first) and run on the cluster while the
local cases run here; the runner then waits for the jobs, and a job that ends without a record (cancelled,
time limit, node failure) is recorded as failed. Interrupting the wait leaves the jobs running: the next run of
the study picks them up instead of submitting them again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnperf.errors import NnperfError
from nnperf.experiments.case import case_payload, static_key

Progress = Callable[[str, int, int, float | None], None]  # (message, done, total, eta seconds)


@dataclass
class StudyResult:
    total: int = 0
    ran: int = 0
    ok: int = 0
    failed: int = 0
    skipped_done: int = 0
    skipped_failed: int = 0
    skipped_other: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{self.total} case(s): {self.ran} run ({self.ok} ok, {self.failed} failed)"]
        if self.skipped_done or self.skipped_failed:
            parts.append(
                f"{self.skipped_done} already done, {self.skipped_failed} failed before (--retry-failed runs them)"
            )
        if self.skipped_other:
            parts.append(f"{len(self.skipped_other)} not run here")
        return "; ".join(parts)


def _die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except OSError:
        pass


def _failure_reason(returncode: int | None, timed_out: bool, timeout_s: float, stderr: str) -> str:
    if timed_out:
        return f"timed out after {timeout_s:g} s: raise run.timeout_s or lower the batch / iterations"
    if returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode).name
        hint = " (killed: out of memory? the kernel's OOM killer sends SIGKILL)" if sig == "SIGKILL" else ""
        return f"the case process died from {sig}{hint}"
    last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
    return f"the case process exited with status {returncode} without a record: {last[:300]}"


def _has_op_costs(path: Any) -> bool:
    """Whether a stored static summary has the op costs the report's projection needs (``cost_classes``);
    one written by an older nnperf lacks them and is analysed again."""
    try:
        return "cost_classes" in json.loads(path.read_text())
    except (OSError, ValueError):
        return False


def _store_static(store: Any, case: Any, result: StudyResult) -> None:
    key = static_key(case)
    if store.has_static(key) and _has_op_costs(store.static_path(key)):
        return
    from nnperf.static.summary import summarize

    s = case.spec
    try:
        summary = summarize(
            case.model.name,
            batch=s.batch,
            input=case.model.input,
            seq=s.seq,
            dtype=s.dtype,
            mode="train" if s.context is None else "infer",  # a decode step has no training step
            optimizer=s.optimizer,
            autocast=s.autocast,
            context=s.context,
        )
    except NnperfError as exc:
        result.warnings.append(f"no static analysis for {key}: {exc}")
        return
    except Exception as exc:  # the measured case will say what is wrong with the model
        result.warnings.append(f"no static analysis for {key}: {type(exc).__name__}: {exc}")
        return
    store.write_static(key, static_record(summary, key))


def static_record(summary: Any, key: str) -> dict[str, Any]:
    """What a study stores of a model's static analysis: the summary, its store key, and the passes' op costs in
    compact form (``cost_classes``), so the report can time them at any machine's roofs."""
    from nnperf.analysis.projection import cost_classes

    data = summary.to_dict()
    data["store_key"] = key
    data["cost_classes"] = {
        "infer": cost_classes(summary.profile.infer_ops),
        "train": cost_classes(summary.profile.train_ops) if summary.profile.training_analysed else None,
    }
    return data


def _machine(store: Any, result: StudyResult, quick_if_missing: bool) -> str:
    """This machine's profile into the store (cached one, else a quick measurement); returns its fingerprint."""
    from nnperf.machine.probes import collect_probes, fingerprint
    from nnperf.machine.profile import load_cached, machine_profile

    probes = collect_probes()
    fp = fingerprint(probes)
    profile = load_cached(fp)
    if profile is None and quick_if_missing:
        profile = machine_profile(refresh=True, quick=True)
        result.warnings.append("no cached machine profile: measured a quick one (`nnperf machine` for full)")
    if profile is not None:
        store.write_machine(profile.to_dict())
    return fp


def run_case_process(
    case: Any, study: Any, store: Any, fingerprint: str, python: str = sys.executable
) -> tuple[str, str | None]:
    """Run one case in a child process; returns (status, error). Writes a failed record if the child could not."""
    from nnperf.records.measurement import Measurement

    payload = case_payload(case, study, fingerprint, store.static_path(static_key(case)))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
        payload_path = f.name
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # run from a checkout without installing, too
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    timeout = study.run.timeout_s
    timed_out = False
    try:
        proc = subprocess.Popen(
            [python, "-m", "nnperf.experiments.case", payload_path, str(store.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            _, stderr = proc.communicate()
    finally:
        os.unlink(payload_path)
    status = store.case_status(case.id, fingerprint)
    if status is not None and not timed_out:
        if status == "failed":
            record = json.loads(store.case_path(case.id, fingerprint).read_text())
            return status, record.get("error")
        return status, None
    error = _failure_reason(proc.returncode, timed_out, timeout, stderr or "")
    m = Measurement(spec=case.spec, status="failed", failed_stage="process", error=error)
    record = m.to_dict()
    record["case"] = payload["case"]
    store.write_case(record)
    return "failed", error


def run_study(
    study: Any,
    store: Any,
    *,
    retry_failed: bool = False,
    progress: Progress | None = None,
    machine_if_missing: bool = True,
    python: str = sys.executable,
) -> StudyResult:
    """Run every case of ``study`` not already in ``store`` (see the module docstring)."""
    from nnperf.experiments.matrix import expand

    result = StudyResult()
    expansion = expand(study)
    result.skipped_other.extend(expansion.skipped)
    cleaned = store.clean_partials()
    if cleaned:
        result.warnings.append(f"removed {len(cleaned)} partial file(s) left by an interrupted write")
    store.write_spec(study.source_text)
    fingerprint = _machine(store, result, machine_if_missing)
    todo = []
    slurm_cases = []
    for case in expansion.cases:
        result.total += 1
        if case.environment.slurm:
            slurm_cases.append(case)  # resume is the Slurm executor's (its records are keyed per environment)
            continue
        status = store.case_status(case.id, fingerprint)
        if status == "ok":
            result.skipped_done += 1
        elif status == "failed" and not retry_failed:
            result.skipped_failed += 1
        else:
            todo.append(case)
    executor = None
    if slurm_cases:
        from nnperf.experiments.slurm import SlurmExecutor

        executor = SlurmExecutor(store, python=python)
        for case in slurm_cases:  # the static analysis does not depend on the machine
            _store_static(store, case, result)
        executor.submit(slurm_cases, study, retry_failed=retry_failed)  # UsageError when Slurm is unreachable
        submitted = executor.last_submit
        result.skipped_done += submitted.done
        result.skipped_failed += submitted.failed_before
    durations: list[float] = []
    for i, case in enumerate(todo):
        s = case.spec
        label = f"{case.model.label} {s.mode} b{s.batch} {s.dtype} [{case.environment.name}]"
        eta = (sum(durations) / len(durations)) * (len(todo) - i) if durations else None
        if progress is not None:
            progress(f"running {label}", i, len(todo), eta)
        t0 = time.perf_counter()
        _store_static(store, case, result)
        status, error = run_case_process(case, study, store, fingerprint, python)
        durations.append(time.perf_counter() - t0)
        result.ran += 1
        if status == "ok":
            result.ok += 1
        else:
            result.failed += 1
        if progress is not None:
            eta = (sum(durations) / len(durations)) * (len(todo) - i - 1)
            progress(f"{label}: {status}" + (f" ({error})" if error else ""), i + 1, len(todo), eta)
    if executor is not None:
        statuses = executor.wait(poll_s=2, progress=progress)
        result.ran += len(statuses)
        result.ok += sum(v == "ok" for v in statuses.values())
        result.failed += sum(v == "failed" for v in statuses.values())
    return result
