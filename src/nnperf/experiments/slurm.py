"""Run a study's Slurm environments: one job array per environment, one array task per case, via submitit.

* **Submission.** The cases of an environment become one job array submitted through submitit
  (``SlurmExecutor.map_array``), whose resources come from the environment's ``slurm:`` mapping (partition,
  account, qos, time, cpus_per_task, mem, gres, constraint, passed to sbatch as they are written; ``setup``
  lines run first in the job). Without ``slurm.time`` the job's limit is ``run.timeout_s`` rounded up to whole
  minutes plus :data:`TIME_MARGIN_MIN`: submitit asks Slurm for a USR2 signal ``SIGNAL_DELAY_S`` before the
  limit (Slurm may send it up to a minute earlier) and ends the task when it arrives, so the margin keeps the
  case's own timeout, which records it, first. Task *i* calls :func:`run_task` on payload *i*: the same payload and case process as the local
  runner, so **the job writes its own record** into the results store (which must be on a file system the
  compute nodes share, as must the virtualenv with nnperf and submitit).
* **Waiting without sacct.** submitit learns a job's state only from ``sacct``; where accounting is off
  (``accounting_storage/none``, as on the test cluster and many small clusters) ``sacct`` fails, a cancelled
  job stays ``UNKNOWN`` and ``job.done()`` stays False forever (seen with submitit 1.5.4 against the local
  daemons). So nnperf uses submitit to submit and follows the tasks itself, as below; submitit's own
  waiting (``job.result()``, ``job.done()``) is never called.
* **Never hang.** :meth:`SlurmExecutor.wait` polls ``squeue -t all`` (jobs that ended stay listed for
  Slurm's ``MinJobAge``). A task that ended without a record (CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY,
  a crash) gets a failed record naming the state and the tail of its log. A task that left the queue
  altogether is looked up in ``sacct`` when accounting works, and otherwise recorded as having "left the
  queue without a record". Jobs are submitted with ``--no-requeue``, so a node failure ends the case instead
  of rerunning it behind the study's back (``--retry-failed`` reruns it).
* **Fingerprint.** Records are keyed ``<case id>@<fingerprint>``. The submitter must know the key before the
  job runs (to resume), so a Slurm case's fingerprint is a stable id of its environment,
  ``slurm-<environment name>`` (:func:`slurm_fingerprint`), not the compute node's machine fingerprint; the
  job adds the node's host name (``case.node``) and its Slurm task id (``case.slurm_job``) to the record.
* **Status, cancel, resume.** Every submitted task is kept in ``<store>/slurm/jobs.json`` with the job
  scripts, payloads and logs beside it, so another process can ask for the status or cancel, and running the
  study again skips cases with a record (failed ones unless ``retry_failed``) and *adopts* cases whose task
  is still pending or running instead of submitting them twice.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnperf.errors import NnperfError, UsageError
from nnperf.experiments.case import case_payload, static_key

__all__ = [
    "ACTIVE_STATES",
    "SLURM_DIR",
    "CaseState",
    "SlurmExecutor",
    "SubmitSummary",
    "check_slurm",
    "sbatch_options",
    "slurm_fingerprint",
]

SLURM_DIR = "slurm"  # inside the results store: job scripts, payloads, logs and the ledger (jobs.json)
LEDGER_SCHEMA = "nnperf.slurm-jobs"

#: Job states in which a task may still write its record (squeue's long names).
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
    }
)
# The job said it ended normally or with an error: the case process probably wrote its record, which a shared
# file system may show a little later. Other end states (CANCELLED, TIMEOUT, ...) wait only a moment.
_FINISHED_STATES = frozenset({"COMPLETED", "FAILED"})
# Pending reasons that never clear by themselves: the task is cancelled and recorded as failed.
_HOPELESS_REASONS = frozenset({"BadConstraints", "DependencyNeverSatisfied", "InvalidAccount", "InvalidQOS"})

_LOCAL_HINT = (
    "run the study's local environments instead (remove `slurm:` from the environment: the local executor "
    "runs it on this machine), or run the study where sbatch reaches a Slurm controller (check SLURM_CONF)"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

Progress = Callable[[str, int, int, float | None], None]  # as the local runner's: (message, done, total, eta)


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.strip().splitlines()) if ln.strip()), "")


def check_slurm(partitions: Iterable[str] = (), timeout_s: float = 20.0) -> None:
    """Raise :class:`UsageError` unless the Slurm commands exist and the controller answers ``sinfo``.

    With ``partitions``, each must be one the controller lists.
    """
    missing = [c for c in ("sinfo", "sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        raise UsageError(
            f"Slurm is not reachable (sinfo: {', '.join(missing)} not found on PATH): {_LOCAL_HINT}"
        )
    try:
        proc = subprocess.run(
            ["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"Slurm is not reachable (sinfo: no answer from the controller in {timeout_s:g} s): {_LOCAL_HINT}"
        ) from None
    except OSError as exc:
        raise UsageError(f"Slurm is not reachable (sinfo: {exc}): {_LOCAL_HINT}") from None
    if proc.returncode != 0:
        reason = _last_line(proc.stderr) or f"exit status {proc.returncode}"
        raise UsageError(f"Slurm is not reachable (sinfo: {reason}): {_LOCAL_HINT}")
    known = {p.strip().rstrip("*") for p in proc.stdout.split()}
    for partition in partitions:
        if partition not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise UsageError(
                f"Slurm partition {partition!r} does not exist (sinfo lists: {listed}): "
                "fix the environment's slurm.partition"
            )


def slurm_fingerprint(environment: Any) -> str:
    """The fingerprint of a Slurm environment's records: ``slurm-<environment name>`` (module docstring)."""
    return "slurm-" + _UNSAFE.sub("_", environment.name)


#: Minutes added to the case timeout for a job's default time limit, and how long before that limit submitit's
#: USR2 arrives (it ends a task that is not checkpointable); Slurm may send it up to 60 s early.
TIME_MARGIN_MIN = 2
SIGNAL_DELAY_S = 30


def _time_limit(slurm: Mapping[str, Any], timeout_s: float) -> str:
    if slurm.get("time"):
        return str(slurm["time"])
    return str(max(1, math.ceil(timeout_s / 60)) + TIME_MARGIN_MIN)  # sbatch reads a bare number as minutes


def sbatch_options(environment: Any, study: Any) -> list[str]:
    """The sbatch options of an environment's job array (without --array, --output and --job-name)."""
    slurm = environment.slurm or {}
    opts = [f"--partition={slurm['partition']}", f"--time={_time_limit(slurm, study.run.timeout_s)}"]
    for key, flag in (
        ("account", "--account"),
        ("qos", "--qos"),
        ("cpus_per_task", "--cpus-per-task"),
        ("mem", "--mem"),
        ("gres", "--gres"),
        ("constraint", "--constraint"),
    ):
        if slurm.get(key) is not None:
            opts.append(f"{flag}={slurm[key]}")
    # A node failure ends the case (recorded as failed) rather than rerunning it unseen; one task per case.
    opts += ["--no-requeue", "--ntasks=1", "--nodes=1"]
    return opts


def _as_parameters(options: Iterable[str]) -> dict[str, Any]:
    """``["--partition=debug", "--no-requeue"]`` -> ``{"partition": "debug", "no-requeue": True}``: sbatch
    options as submitit's ``additional_parameters``, which it writes back as ``#SBATCH`` lines unchanged."""
    out: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.removeprefix("--").partition("=")
        out[key] = value if sep else True
    return out


@dataclass
class CaseState:
    """Where a submitted case is: ``state`` is "ok" or "failed" once recorded, else Slurm's job state."""

    case_id: str
    state: str
    job: str  # the array task, e.g. "123_4"
    detail: str = ""  # the pending reason, or the recorded error


@dataclass
class SubmitSummary:
    job_ids: list[str] = field(default_factory=list)
    submitted: int = 0  # cases in the new job arrays
    done: int = 0  # already recorded ok
    failed_before: int = 0  # recorded failed (rerun with retry_failed)
    in_queue: int = 0  # still pending or running from an earlier submission: adopted, not resubmitted


@dataclass
class _Task:
    case_id: str
    job: str  # array job id
    index: int  # array task index
    log: str
    case: dict[str, Any]  # the record's case section
    spec: dict[str, Any]
    cancelled: bool = False  # cancelled through this executor

    @property
    def task_id(self) -> str:
        return f"{self.job}_{self.index}"

    @property
    def fingerprint(self) -> str:
        return str(self.case["fingerprint"])


class SlurmExecutor:
    """Submit cases as Slurm job arrays, follow them, record the ones that die (see the module docstring).

    ``fingerprint_for_env`` maps an environment to its records' fingerprint; ``python`` is the interpreter
    the jobs run (it must exist on the compute nodes: a virtualenv on the shared file system).
    """

    def __init__(
        self,
        store: Any,
        fingerprint_for_env: Callable[[Any], str] = slurm_fingerprint,
        *,
        python: str = sys.executable,
        record_grace_s: float = 30.0,
        command_timeout_s: float = 30.0,
        unreachable_s: float = 300.0,
    ) -> None:
        self.store = store
        self.fingerprint_for_env = fingerprint_for_env
        self.python = python
        self.record_grace_s = record_grace_s
        self.command_timeout_s = command_timeout_s
        self.unreachable_s = unreachable_s
        self.work_dir = Path(store.root).resolve() / SLURM_DIR
        self.last_submit = SubmitSummary()
        self._tracked: dict[str, _Task] = {}  # the cases wait() follows
        self._submitted = False  # after submit(), wait() and status() follow its cases only

    # -- the ledger ----------------------------------------------------------------------------------
    @property
    def ledger_path(self) -> Path:
        return self.work_dir / "jobs.json"

    def _load_ledger(self) -> dict[str, _Task]:
        try:
            data = json.loads(self.ledger_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("schema") != LEDGER_SCHEMA:
            return {}
        out: dict[str, _Task] = {}
        for cid, t in (data.get("tasks") or {}).items():
            try:
                out[cid] = _Task(
                    cid, str(t["job"]), int(t["index"]), t["log"], t["case"], t["spec"], t["cancelled"]
                )
            except (KeyError, TypeError, ValueError):
                continue  # a damaged entry: that case is submitted again
        return out

    def _save_ledger(self, tasks: Mapping[str, _Task]) -> None:
        data = {
            "schema": LEDGER_SCHEMA,
            "tasks": {
                cid: {
                    "job": t.job,
                    "index": t.index,
                    "log": t.log,
                    "case": t.case,
                    "spec": t.spec,
                    "cancelled": t.cancelled,
                }
                for cid, t in tasks.items()
            },
        }
        _write_json(self.ledger_path, data)

    # -- Slurm commands ------------------------------------------------------------------------------
    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=self.command_timeout_s)

    def _queue(self, jobs: Iterable[str]) -> dict[str, tuple[str, str]] | None:
        """{task id: (state, reason)} of the tasks of ``jobs`` Slurm knows; None when it did not answer."""
        ids = sorted(set(jobs))
        if not ids:
            return {}
        try:
            proc = self._run(
                [
                    "squeue",
                    "--noheader",
                    "--array",
                    "--states=all",
                    f"--jobs={','.join(ids)}",
                    "--format=%i|%T|%r",
                ]
            )
        except (subprocess.TimeoutExpired, OSError):
            return None
        if proc.returncode != 0:
            # Every id unknown (all left the queue) is an answer, not an unreachable controller.
            return {} if "Invalid job id" in proc.stderr else None
        out: dict[str, tuple[str, str]] = {}
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) >= 3:
                out[parts[0]] = (parts[1], parts[2])
        return out

    def _sacct_state(self, task_id: str) -> str | None:
        """The task's end state from accounting, or None where accounting is off or does not know it."""
        if shutil.which("sacct") is None:
            return None
        try:
            proc = self._run(
                [
                    "sacct",
                    "--noheader",
                    "--parsable2",
                    "--allocations",
                    f"--jobs={task_id}",
                    "--format=JobID,State",
                ]
            )
        except (subprocess.TimeoutExpired, OSError):
            return None
        if proc.returncode != 0:  # "Slurm accounting storage is disabled"
            return None
        for line in proc.stdout.splitlines():
            jid, _, state = line.partition("|")
            if jid == task_id and state:
                return state.split()[0]  # "CANCELLED by 0" -> "CANCELLED"
        return None

    # -- submit --------------------------------------------------------------------------------------
    def fingerprint(self, case: Any) -> str:
        return self.fingerprint_for_env(case.environment)

    def submit(self, cases: Iterable[Any], study: Any, *, retry_failed: bool = False) -> list[str]:
        """Submit the cases that need running, one job array per environment; returns the new job ids.

        Skips cases with a record (failed ones unless ``retry_failed``) and adopts cases whose earlier task
        is still queued or running; :attr:`last_submit` counts each kind. Raises :class:`UsageError` when
        Slurm is not reachable or sbatch refuses a job.
        """
        cases = list(cases)
        self.last_submit = SubmitSummary()
        self._submitted = True
        if not cases:
            return []
        check_slurm({c.environment.slurm["partition"] for c in cases if c.environment.slurm})
        summary = SubmitSummary()
        ledger = self._load_ledger()
        queue = self._queue({ledger[c.id].job for c in cases if c.id in ledger}) or {}
        groups: dict[Any, list[Any]] = {}
        for case in cases:
            if not case.environment.slurm:
                raise UsageError(
                    f"environment {case.environment.name!r} has no slurm: section: run it locally"
                )
            status = self.store.case_status(case.id, self.fingerprint(case))
            if status == "ok":
                summary.done += 1
                continue
            if status == "failed" and not retry_failed:
                summary.failed_before += 1
                continue
            old = ledger.get(case.id)
            if old is not None and queue.get(old.task_id, ("", ""))[0] in ACTIVE_STATES:
                summary.in_queue += 1
                self._tracked[case.id] = old
                continue
            groups.setdefault(case.environment, []).append(case)
        for environment, group in groups.items():
            tasks = self._submit_array(environment, group, study)
            summary.job_ids.append(tasks[0].job)
            summary.submitted += len(tasks)
            for task in tasks:
                ledger[task.case_id] = task
                self._tracked[task.case_id] = task
            self._save_ledger(ledger)  # after each array: a later failure never forgets a submitted job
        self.last_submit = summary
        return summary.job_ids

    def _submit_array(self, environment: Any, cases: list[Any], study: Any) -> list[_Task]:
        fingerprint = self.fingerprint_for_env(environment)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path(
            tempfile.mkdtemp(prefix=f"{_UNSAFE.sub('_', environment.name)}-{stamp}-", dir=self._mkdir())
        )
        payloads = [case_payload(c, study, fingerprint, self.store.static_path(static_key(c))) for c in cases]
        for i, payload in enumerate(payloads):
            _write_json(folder / f"{i}.json", payload)
        store = str(Path(self.store.root).resolve())
        src = str(Path(__file__).resolve().parents[2])  # a checkout that is not installed works too
        setup = [
            f"# written by nnperf for environment {environment.name!r}: array task i runs case i.json",
            *((environment.slurm or {}).get("setup") or ()),
            f"export PYTHONPATH={shlex.quote(src)}${{PYTHONPATH:+:$PYTHONPATH}}",
        ]
        import submitit  # lazy: only Slurm environments need it
        from submitit.core.utils import FailedJobError

        # The job runs the case with the interpreter given here (a virtualenv on the shared file system);
        # no requeue after a timeout: a case that ran out of time is recorded, not silently rerun.
        executor = submitit.SlurmExecutor(folder=folder, python=self.python, max_num_timeout=0)
        executor.update_parameters(
            job_name=f"nnperf-{study.name}-{environment.name}",
            setup=setup,
            use_srun=False,  # one process per task: the case runner starts its own subprocess
            signal_delay_s=SIGNAL_DELAY_S,
            array_parallelism=len(cases),
            stderr_to_stdout=True,  # one log per task, read back for a failed task's error
            # chdir: relative paths in the spec (data dirs, file.py models) resolve as they do here
            additional_parameters={
                **_as_parameters(sbatch_options(environment, study)),
                "chdir": os.getcwd(),
            },
        )
        paths = [str(folder / f"{i}.json") for i in range(len(payloads))]
        try:
            jobs = executor.map_array(run_task, paths, [store] * len(paths))
        except (
            FailedJobError
        ) as exc:  # sbatch exited non-zero (check_slurm has just seen the controller answer)
            reason = _last_line(str(exc)) or "sbatch failed"
            raise UsageError(
                f"sbatch refused the jobs of environment {environment.name!r} ({reason}): "
                "fix its slurm: settings (partition, time, mem, gres, ...)"
            ) from None
        job = jobs[0].job_id.split("_")[0]  # array tasks are "<array id>_<index>"
        return [
            _Task(p["case"]["id"], job, i, str(jobs[i].paths.stdout), p["case"], p["spec"])
            for i, p in enumerate(payloads)
        ]

    def _mkdir(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir

    # -- status and cancel ---------------------------------------------------------------------------
    def _tasks(self) -> dict[str, _Task]:
        return dict(self._tracked) if self._submitted else self._load_ledger()

    def status(self) -> dict[str, CaseState]:
        """The state of every submitted case (this executor's, else every case in the store's ledger)."""
        tasks = self._tasks()
        queue = self._queue({t.job for t in tasks.values()})
        out: dict[str, CaseState] = {}
        for cid, t in tasks.items():
            recorded = self.store.case_status(cid, t.fingerprint)
            if recorded is not None:
                out[cid] = CaseState(cid, recorded, t.task_id, self._recorded_error(t) or "")
            elif queue is None:
                out[cid] = CaseState(cid, "UNKNOWN", t.task_id, "the Slurm controller did not answer")
            elif t.task_id in queue:
                state, reason = queue[t.task_id]
                out[cid] = CaseState(cid, state, t.task_id, "" if reason == "None" else reason)
            else:
                out[cid] = CaseState(cid, "GONE", t.task_id, "left the queue without a record")
        return out

    def cancel(self, case_ids: Iterable[str] | None = None) -> list[str]:
        """``scancel`` the tasks of ``case_ids`` (default: every unrecorded one); returns the task ids.

        :meth:`wait` then records them as failed (CANCELLED).
        """
        ledger = self._load_ledger()
        tasks = self._tasks()
        wanted = set(tasks) if case_ids is None else set(case_ids)
        chosen = [
            t
            for cid, t in tasks.items()
            if cid in wanted and self.store.case_status(cid, t.fingerprint) is None
        ]
        if not chosen:
            return []
        try:
            proc = self._run(["scancel", *(t.task_id for t in chosen)])
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise UsageError(
                f"scancel did not answer ({exc}): cancel the jobs with scancel yourself"
            ) from None
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:  # some had ended: fine
            raise UsageError(
                f"scancel failed ({_last_line(proc.stderr)}): cancel the jobs with scancel yourself"
            )
        for t in chosen:
            t.cancelled = True
            ledger[t.case_id] = t
        self._save_ledger(ledger)
        return [t.task_id for t in chosen]

    # -- wait ----------------------------------------------------------------------------------------
    def wait(
        self, poll_s: float = 2.0, timeout_s: float | None = None, progress: Progress | None = None
    ) -> dict[str, str]:
        """Follow the submitted cases until each has a record: {case id: "ok" | "failed"}.

        A task that ends without a record gets a failed record (module docstring). After ``timeout_s`` the
        unfinished cases are returned with their Slurm state in lower case ("pending", "running"); they go on
        running, and a later :meth:`wait` (or running the study again) picks them up. Raises
        :class:`UsageError` when the controller has not answered for ``unreachable_s``.
        """
        tasks = self._tasks()
        results: dict[str, str] = {}
        ended_at: dict[str, float] = {}  # when each task was first seen ended without a record
        states: dict[str, str] = {}
        start = time.monotonic()
        last_answer = start
        total = len(tasks)
        while True:
            for cid, t in tasks.items():
                if cid not in results:
                    recorded = self.store.case_status(cid, t.fingerprint)
                    if recorded is not None:
                        results[cid] = recorded
                        self._report(progress, t, recorded, len(results), total)
            pending = {cid: t for cid, t in tasks.items() if cid not in results}
            if not pending:
                return results
            now = time.monotonic()
            queue = self._queue({t.job for t in pending.values()})
            if queue is None:
                if now - last_answer > self.unreachable_s:
                    raise UsageError(
                        f"the Slurm controller has not answered squeue for {self.unreachable_s:g} s: "
                        "the jobs may still run; run the study again later to collect their records"
                    )
            else:
                last_answer = now
                for cid, t in pending.items():
                    state, reason = queue.get(t.task_id, ("", ""))
                    states[cid] = state or "GONE"
                    if state in ACTIVE_STATES:
                        if state == "PENDING" and reason in _HOPELESS_REASONS:
                            self._run_quietly(["scancel", t.task_id])
                            self._fail(
                                t,
                                f"Slurm job {t.task_id} could never start ({reason}): "
                                "fix the environment's slurm: settings",
                            )
                            results[cid] = "failed"
                            self._report(progress, t, "failed", len(results), total)
                        continue
                    if not state:  # left the queue: accounting may still know how it ended
                        state = self._sacct_state(t.task_id) or ""
                    first = ended_at.setdefault(cid, now)
                    grace = (
                        self.record_grace_s
                        if state in _FINISHED_STATES
                        else min(self.record_grace_s, 2 * poll_s)
                    )
                    if now - first < grace:
                        continue
                    if self.store.case_status(cid, t.fingerprint) is not None:
                        continue  # it arrived just now: the next round counts it
                    self._fail(t, self._death(t, state))
                    results[cid] = "failed"
                    self._report(progress, t, "failed", len(results), total)
            if timeout_s is not None and now - start >= timeout_s:
                for cid in tasks:
                    results.setdefault(cid, states.get(cid, "unknown").lower())
                return results
            time.sleep(poll_s)

    def _death(self, t: _Task, state: str) -> str:
        if state == "CANCELLED" or (not state and t.cancelled):
            what = "was cancelled (CANCELLED" + (" by nnperf" if t.cancelled else "") + ")"
        elif state:
            what = f"ended {state}"
        else:
            what = (
                "left the queue without a record "
                "(end state unknown: squeue no longer lists it, sacct has no record)"
            )
        if state or t.cancelled:
            what += " before the case wrote its record"
        log = _log_tail(t.log)
        return f"Slurm job {t.task_id} {what}; log {t.log}" + (f": {log}" if log else "")

    def _fail(self, t: _Task, error: str) -> None:
        from nnperf.records.measurement import Measurement, RunSpec

        m = Measurement(spec=RunSpec.from_dict(t.spec), status="failed", failed_stage="slurm", error=error)
        record = m.to_dict()
        record["case"] = {**t.case, "slurm_job": t.task_id}
        self.store.write_case(record)

    def _recorded_error(self, t: _Task) -> str | None:
        try:
            return json.loads(self.store.case_path(t.case_id, t.fingerprint).read_text()).get("error")
        except (OSError, ValueError, AttributeError):
            return None

    def _run_quietly(self, argv: list[str]) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            self._run(argv)

    @staticmethod
    def _report(progress: Progress | None, t: _Task, status: str, done: int, total: int) -> None:
        if progress is not None:
            progress(
                f"{t.case.get('model')} [{t.case.get('environment')}] (Slurm {t.task_id}): {status}",
                done,
                total,
                None,
            )


def _log_tail(path: str, limit: int = 200) -> str:
    try:
        with open(path, errors="replace") as f:
            return _last_line(f.read()[-4000:])[:limit]
    except OSError:
        return ""


def _write_json(path: Path, data: Any) -> None:
    """Atomically (temp file + rename), so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- inside the job --------------------------------------------------------------------------------------
def run_task(payload_path: str, store: str) -> int:
    """What a submitit array task runs: the case of ``payload_path``; a failure is the case's record."""
    try:
        return main([payload_path, store])
    except NnperfError as exc:
        print(f"nnperf: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """``python -m nnperf.experiments.slurm PAYLOAD STORE``: run the case; its record names node and task."""
    import socket

    from nnperf.experiments.case import run_case

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m nnperf.experiments.slurm PAYLOAD.json STORE_ROOT")
    payload = json.loads(Path(args[0]).read_text())
    array, index = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    payload["case"]["node"] = socket.gethostname()
    if array and index:
        payload["case"]["slurm_job"] = f"{array}_{index}"
    return run_case(payload, args[1])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NnperfError as exc:
        print(f"nnperf: {exc}", file=sys.stderr)
        sys.exit(2)
