"""The Slurm executor: real daemons (scripts/slurm_local.sh) run a study and a cancelled job is recorded.

The fast tests at the top put fake Slurm commands on PATH to reach the end states a one-node test cluster
cannot produce quickly (NODE_FAIL, TIMEOUT, a job that vanished, an unreachable controller). The slow ones
start slurmctld, slurmd (and munged) once for the module and stop them by PID afterwards; they are skipped,
with the reason, where the daemons cannot be started (set NNPERF_REQUIRE_SLURM=1 to fail instead).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_fixture import LocalSlurm, SlurmUnavailable, start_local_slurm, stop_local_slurm

from nnperf.errors import UsageError
from nnperf.experiments.matrix import expand
from nnperf.experiments.slurm import SlurmExecutor, check_slurm, sbatch_options, slurm_fingerprint
from nnperf.experiments.spec import load_spec
from nnperf.experiments.store import ResultStore

ROOT = Path(__file__).resolve().parents[2]
TINY = f"{ROOT / 'tests' / 'data' / 'user_model.py'}:make_tiny"
SLEEPY = f"{ROOT / 'tests' / 'data' / 'failing_model.py'}:sleepy"


def _spec(model: str, input: str, modes: str, batches: str, slurm: str, timeout_s: int = 120) -> str:
    return f"""
name: slurm-test
models:
  - {{name: "{model}", input: {input}, label: m}}
axes:
  mode: [{modes}]
  batch: [{batches}]
environments:
  - {{name: cluster, threads: 1, slurm: {{{slurm}}}}}
run: {{warmup: 1, min_iters: 2, min_time_s: 0, timeout_s: {timeout_s}}}
"""


def _records(store: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((store / "cases").glob("*.json"))}


# -- fake Slurm commands ----------------------------------------------------------------------------------
_FAKE = """#!/bin/bash
# A stand-in for {name}: prints $FAKE_SLURM/{name}.out (exit 0), or $FAKE_SLURM/{name}.err (exit 1).
echo "$@" >> "$FAKE_SLURM/{name}.argv"
if [ -f "$FAKE_SLURM/{name}.err" ]; then cat "$FAKE_SLURM/{name}.err" >&2; exit 1; fi
cat "$FAKE_SLURM/{name}.out" 2>/dev/null
exit 0
"""


@pytest.fixture()
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory whose files script fake sinfo/sbatch/squeue/sacct/scancel/srun, first on PATH (submitit
    checks that srun exists before it submits)."""
    bin_dir, state = tmp_path / "bin", tmp_path / "fake"
    bin_dir.mkdir()
    state.mkdir()
    for name in ("sinfo", "sbatch", "squeue", "sacct", "scancel", "srun"):
        path = bin_dir / name
        path.write_text(_FAKE.format(name=name))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (state / "sinfo.out").write_text("debug*\n")
    (state / "sbatch.out").write_text("Submitted batch job 77\n")
    (state / "sacct.err").write_text("Slurm accounting storage is disabled\n")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    return state


def _three_cases(tmp_path: Path, slurm: str = "partition: debug") -> tuple:
    study = load_spec(_spec(TINY, "3x16x16", "infer", "1, 2, 4", slurm))
    cases = expand(study).cases
    assert len(cases) == 3  # one mode x three batches
    return study, cases, ResultStore(tmp_path / "results")


def test_check_slurm_without_sinfo_says_how_to_run_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no sinfo, no sbatch
    with pytest.raises(UsageError) as err:
        check_slurm()
    message = str(err.value)
    assert message.startswith(
        "Slurm is not reachable (sinfo: sinfo, sbatch, squeue, scancel not found on PATH)"
    )
    assert "local executor" in message and "remove `slurm:`" in message
    assert "\n" not in message


def test_sbatch_options_follow_the_environment(tmp_path: Path) -> None:
    slurm = (
        "partition: gpu, account: lab, qos: high, cpus_per_task: 4, mem: 8G, gres: 'gpu:1', constraint: a100"
    )
    study = load_spec(_spec(TINY, "3x16x16", "infer", "1", slurm, timeout_s=90))
    opts = sbatch_options(study.environments[0], study)
    # No slurm.time: run.timeout_s = 90 s rounded up to whole minutes = 2, plus a 2-minute margin = 4.
    assert opts == [
        "--partition=gpu",
        "--time=4",
        "--account=lab",
        "--qos=high",
        "--cpus-per-task=4",
        "--mem=8G",
        "--gres=gpu:1",
        "--constraint=a100",
        "--no-requeue",
        "--ntasks=1",
        "--nodes=1",
    ]
    timed = load_spec(_spec(TINY, "3x16x16", "infer", "1", "partition: gpu, time: '00:30:00'"))
    assert "--time=00:30:00" in sbatch_options(timed.environments[0], timed)


def test_dead_jobs_are_recorded_failed_with_their_state(tmp_path: Path, fake_slurm: Path) -> None:
    study, cases, store = _three_cases(tmp_path, "partition: debug, setup: [module load torch]")
    ex = SlurmExecutor(store, record_grace_s=0.2)
    assert ex.submit(cases, study) == ["77"]
    argv = (fake_slurm / "sbatch.argv").read_text()
    script = Path(argv.split()[-1]).read_text()  # submitit's job script: the options as #SBATCH lines
    # 120 s = 2 min + the 2-minute margin; submitit's USR2 comes 30 s before the limit
    for line in (
        "--array=0-2%3",
        "--partition=debug",
        "--time=4",
        "--signal=USR2@30",
        "--no-requeue",
        "--ntasks=1",
    ):
        assert f"#SBATCH {line}\n" in script
    assert "module load torch" in script and "submitit.core._submit" in script
    # Task 0 lost its node, task 1 hit its time limit, task 2 left the queue (accounting is off).
    (fake_slurm / "squeue.out").write_text("77_0|NODE_FAIL|None\n77_1|TIMEOUT|None\n")
    t0 = time.monotonic()
    result = ex.wait(poll_s=0.05, timeout_s=30)
    assert time.monotonic() - t0 < 10
    assert result == {c.id: "failed" for c in cases}
    fp = slurm_fingerprint(cases[0].environment)
    assert fp == "slurm-cluster"
    errors = [json.loads(store.case_path(c.id, fp).read_text())["error"] for c in cases]
    assert errors[0].startswith("Slurm job 77_0 ended NODE_FAIL before the case wrote its record")
    assert errors[1].startswith("Slurm job 77_1 ended TIMEOUT")
    assert errors[2].startswith("Slurm job 77_2 left the queue without a record")
    record = json.loads(store.case_path(cases[0].id, fp).read_text())
    assert record["status"] == "failed" and record["failed_stage"] == "slurm"
    assert record["case"]["slurm_job"] == "77_0" and record["case"]["environment"] == "cluster"
    # Resume: failed cases are not resubmitted unless asked.
    assert ex.submit(cases, study) == []
    assert ex.last_submit.failed_before == 3
    assert ex.submit(cases, study, retry_failed=True) == ["77"]
    assert ex.last_submit.submitted == 3


def test_vanished_job_takes_its_state_from_sacct_when_accounting_works(
    tmp_path: Path, fake_slurm: Path
) -> None:
    study, cases, store = _three_cases(tmp_path)
    ex = SlurmExecutor(store, record_grace_s=0.2)
    ex.submit(cases[:1], study)
    (fake_slurm / "sacct.err").unlink()
    (fake_slurm / "sacct.out").write_text("77_0|OUT_OF_MEMORY\n")
    (fake_slurm / "squeue.err").write_text("slurm_load_jobs error: Invalid job id specified\n")
    assert ex.wait(poll_s=0.05, timeout_s=30) == {cases[0].id: "failed"}
    error = json.loads(store.case_path(cases[0].id, "slurm-cluster").read_text())["error"]
    assert error.startswith("Slurm job 77_0 ended OUT_OF_MEMORY")


def test_running_jobs_are_adopted_not_resubmitted_and_wait_times_out(
    tmp_path: Path, fake_slurm: Path
) -> None:
    study, cases, store = _three_cases(tmp_path)
    SlurmExecutor(store).submit(cases, study)
    (fake_slurm / "squeue.out").write_text(
        "77_0|RUNNING|None\n77_1|PENDING|Resources\n77_2|PENDING|Priority\n"
    )
    ex = SlurmExecutor(store)  # a new process, say: it reads the ledger
    assert ex.submit(cases, study) == []
    assert ex.last_submit.in_queue == 3
    states = ex.status()
    assert states[cases[0].id].state == "RUNNING" and states[cases[1].id].detail == "Resources"
    assert ex.wait(poll_s=0.05, timeout_s=0.2) == {
        cases[0].id: "running",
        cases[1].id: "pending",
        cases[2].id: "pending",
    }
    assert not (tmp_path / "results" / "cases").exists()  # nothing recorded for cases still in the queue


def test_unreachable_controller_stops_the_wait(tmp_path: Path, fake_slurm: Path) -> None:
    study, cases, store = _three_cases(tmp_path)
    ex = SlurmExecutor(store, unreachable_s=0.3)
    ex.submit(cases, study)
    (fake_slurm / "squeue.err").write_text("slurm_load_jobs error: Unable to contact slurm controller\n")
    with pytest.raises(UsageError, match=r"has not answered squeue for 0\.3 s"):
        ex.wait(poll_s=0.05)


def test_sbatch_refusal_names_the_environment(tmp_path: Path, fake_slurm: Path) -> None:
    study, cases, store = _three_cases(tmp_path)
    (fake_slurm / "sbatch.err").write_text(
        "sbatch: error: Batch job submission failed: Invalid partition name\n"
    )
    with pytest.raises(UsageError, match=r"sbatch refused the jobs of environment 'cluster' \(sbatch: error"):
        SlurmExecutor(store).submit(cases, study)


def test_unknown_partition_is_refused_before_submitting(tmp_path: Path, fake_slurm: Path) -> None:
    study, cases, store = _three_cases(tmp_path, "partition: gpu")
    with pytest.raises(UsageError, match=r"Slurm partition 'gpu' does not exist \(sinfo lists: debug\)"):
        SlurmExecutor(store).submit(cases, study)
    assert not (fake_slurm / "sbatch.argv").exists()


# -- real daemons ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSlurm]:
    try:
        cluster = start_local_slurm(tmp_path_factory.mktemp("slurm"))
    except SlurmUnavailable as exc:
        if os.environ.get("NNPERF_REQUIRE_SLURM") == "1":
            pytest.fail(f"NNPERF_REQUIRE_SLURM=1 but no local Slurm: {exc}")
        pytest.skip(f"no local Slurm cluster (needs root and Debian's slurm packages): {exc}")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLURM_CONF", str(cluster.conf))
    try:
        yield cluster
    finally:
        mp.undo()
        stop_local_slurm(cluster)


@pytest.mark.slow
def test_study_through_real_slurm_gets_every_record(slurm_cluster: LocalSlurm, tmp_path: Path) -> None:
    slurm = f"partition: {slurm_cluster.partition}, cpus_per_task: 1, mem: 1G, setup: 'echo set-up ran'"
    study = load_spec(_spec(TINY, "3x16x16", "infer, train", "1, 2", slurm))
    cases = expand(study).cases
    assert len(cases) == 4  # 2 modes x 2 batches
    store = ResultStore(tmp_path / "results")
    ex = SlurmExecutor(store, python=sys.executable)
    jobs = ex.submit(cases, study)
    assert len(jobs) == 1 and ex.last_submit.submitted == 4  # one environment: one array of 4 tasks
    result = ex.wait(poll_s=1, timeout_s=240)
    records = _records(tmp_path / "results")
    errors = {n: r.get("error") for n, r in records.items() if r["status"] != "ok"}
    assert result == {c.id: "ok" for c in cases}, errors
    assert sorted(records) == sorted(f"{c.id}@slurm-cluster.json" for c in cases)
    for record in records.values():
        assert record["case"]["node"]  # the job notes where it ran
        assert record["case"]["slurm_job"].startswith(f"{jobs[0]}_")
        assert record["spec"]["threads"] == 1
    logs = list((tmp_path / "results" / "slurm").rglob(f"{jobs[0]}_*.out"))
    assert len(logs) == 4 and all("set-up ran" in p.read_text() for p in logs)
    # Resume: everything is recorded, nothing is submitted again.
    assert SlurmExecutor(store).submit(cases, study) == []


@pytest.mark.slow
def test_study_runner_dispatches_slurm_environments(
    slurm_cluster: LocalSlurm, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nnperf.experiments.runner import run_study

    slurm = f"partition: {slurm_cluster.partition}, cpus_per_task: 1, mem: 1G"
    study = load_spec(_spec(TINY, "3x16x16", "infer, train", "1", slurm))
    store = ResultStore(tmp_path / "results")
    result = run_study(study, store, machine_if_missing=False)
    assert (result.total, result.ran, result.ok, result.failed) == (2, 2, 2, 0), result.warnings
    assert len(_records(tmp_path / "results")) == 2
    assert store.load().warnings == []  # the executor's slurm/ folder belongs to the store
    again = run_study(study, store, machine_if_missing=False)
    assert (again.ran, again.skipped_done) == (0, 2)
    from nnperf.cli.main import main

    assert main(["study", "status", str(store.root)]) == 0
    assert "Slurm: 2 submitted case(s), 0 not recorded yet" in capsys.readouterr().out


@pytest.mark.slow
def test_cancelled_job_is_recorded_failed_within_60_s(slurm_cluster: LocalSlurm, tmp_path: Path) -> None:
    # The sleepy model's real step sleeps an hour: only a cancel ends these cases.
    study = load_spec(
        _spec(SLEEPY, "4", "infer", "1, 2", f"partition: {slurm_cluster.partition}, time: '10'")
    )
    cases = expand(study).cases
    assert len(cases) == 2
    store = ResultStore(tmp_path / "results")
    ex = SlurmExecutor(store)
    (job,) = ex.submit(cases, study)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = ex.status()
        if all(s.state == "RUNNING" for s in states.values()):
            break
        time.sleep(0.5)
    assert all(s.state == "RUNNING" for s in states.values()), states
    t0 = time.monotonic()
    subprocess.run(["scancel", f"{job}_0"], check=True, timeout=30)  # as a user would
    assert ex.cancel([cases[1].id]) == [f"{job}_1"]  # through the executor
    result = ex.wait(poll_s=1, timeout_s=60)
    elapsed = time.monotonic() - t0
    assert result == {cases[0].id: "failed", cases[1].id: "failed"}
    assert elapsed < 60
    errors = [json.loads(store.case_path(c.id, "slurm-cluster").read_text())["error"] for c in cases]
    assert errors[0].startswith(f"Slurm job {job}_0 was cancelled (CANCELLED)"), errors[0]
    assert errors[1].startswith(f"Slurm job {job}_1 was cancelled (CANCELLED by nnperf)"), errors[1]


@pytest.mark.slow
def test_check_slurm_with_no_controller_says_how_to_run_locally(
    slurm_cluster: LocalSlurm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixture only makes sure the Slurm commands are installed; this conf names another controller.
    conf = tmp_path / "slurm.conf"  # a controller on a port where nothing listens
    conf.write_text(
        "ClusterName=none\nSlurmctldHost=localhost\nSlurmctldPort=1\nAuthType=auth/munge\n"
        "NodeName=localhost NodeAddr=127.0.0.1 CPUs=1 State=UNKNOWN\n"
        "PartitionName=p Nodes=localhost State=UP\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(conf))
    with pytest.raises(
        UsageError, match=r"^Slurm is not reachable \(sinfo: .*controller.*\): run the study's local"
    ):
        check_slurm(timeout_s=30)
