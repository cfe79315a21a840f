"""``nnperf study run|merge|export`` and ``nnperf report`` (thin: parse, call the library, print)."""

from __future__ import annotations

import argparse
import sys

from nnperf.errors import UsageError

DEFAULT_RESULTS = "nnperf-results"


def add_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study",
        help="run a models x settings x environments study into a results store; merge and export stores",
        description="A study is a YAML spec (see README): every case runs in its own process and is recorded "
        "in the results store as soon as it ends; running again resumes.",
    )
    ssub = p.add_subparsers(dest="study_command", required=True)
    run = ssub.add_parser("run", help="run a study (or --demo) and write its report")
    src = run.add_mutually_exclusive_group(required=True)
    src.add_argument("spec", nargs="?", help="the study's YAML file")
    src.add_argument("--demo", action="store_true", help="the built-in demo study")
    run.add_argument(
        "--results", "-r", default=DEFAULT_RESULTS, help=f"results store (default {DEFAULT_RESULTS})"
    )
    run.add_argument("--retry-failed", action="store_true", help="run failed cases again")
    run.add_argument("--report", help="report folder (default RESULTS/report)")
    run.add_argument("--no-report", action="store_true", help="do not write the report")
    run.set_defaults(run=run_study_cmd)
    merge = ssub.add_parser("merge", help="merge result stores from several machines into one")
    merge.add_argument("sources", nargs="+", help="result stores to merge")
    merge.add_argument("--output", "-o", required=True, help="the merged store (may exist)")
    merge.set_defaults(run=run_merge)
    status = ssub.add_parser("status", help="cases recorded in a store, and the state of its Slurm jobs")
    status.add_argument("results", nargs="?", default=DEFAULT_RESULTS, help="a results store")
    status.set_defaults(run=run_status)
    cancel = ssub.add_parser("cancel", help="cancel a store's Slurm jobs that have not finished (scancel)")
    cancel.add_argument("results", nargs="?", default=DEFAULT_RESULTS, help="a results store")
    cancel.set_defaults(run=run_cancel)
    export = ssub.add_parser("export", help="all case records as one table: CSV or Parquet")
    export.add_argument("results", help="a results store")
    export.add_argument("--output", "-o", required=True, help="a .csv or .parquet file")
    export.set_defaults(run=run_export)


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write the performance report (Markdown + self-contained HTML) of a store"
    )
    p.add_argument("results", help="a results store (nnperf study run --results)")
    p.add_argument("--output", "-o", help="report folder (default RESULTS/report)")
    p.set_defaults(run=run_report)


class _Progress:
    """A rich progress bar with the ETA on a terminal; one line per event on stderr otherwise (logs, CI)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self._bar = None
        self._task = None

    def __call__(self, message: str, done: int, total: int, eta: float | None) -> None:
        if not self.tty:
            eta_text = (
                f", ETA {int(eta // 60)}m{int(eta % 60):02d}s" if eta is not None and done < total else ""
            )
            print(f"[{done}/{total}{eta_text}] {message}", file=sys.stderr, flush=True)
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(message, total=total)
        self._bar.update(self._task, completed=done, total=total, description=message[:80])
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def run_study_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnperf.experiments.runner import run_study
    from nnperf.experiments.spec import demo_spec, load_spec
    from nnperf.experiments.store import ResultStore

    study = demo_spec() if args.demo else load_spec(args.spec)
    store = ResultStore(args.results)
    print(f"study {study.name!r} into {args.results}", file=sys.stderr)
    progress = _Progress()
    try:
        result = run_study(study, store, retry_failed=args.retry_failed, progress=progress)
    finally:
        progress.close()
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for s in result.skipped_other:
        print(f"skipped: {s}", file=sys.stderr)
    print(result.summary())
    if not args.no_report:
        from nnperf.report.from_store import report_store

        out = Path(args.report) if args.report else Path(args.results) / "report"
        paths = report_store(args.results, out)
        print(f"report: {paths.html} (and {paths.markdown})")
    return 0


def run_merge(args: argparse.Namespace) -> int:
    from nnperf.experiments.store import merge_stores

    report = merge_stores(args.sources, args.output)
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(report.text())
    return 0


def run_status(args: argparse.Namespace) -> int:
    from collections import Counter
    from pathlib import Path

    from nnperf.experiments.slurm import SLURM_DIR, SlurmExecutor
    from nnperf.experiments.store import ResultStore

    store = ResultStore(args.results)
    contents = store.load()
    for w in contents.warnings:
        print(f"warning: {w}", file=sys.stderr)
    counts = Counter(
        (c.get("case", {}).get("environment", "?"), c.get("status", "?")) for c in contents.cases
    )
    print(f"{args.results}: {len(contents.cases)} case record(s)")
    for (env, status), n in sorted(counts.items()):
        print(f"  {env:<20} {status:<7} {n}")
    if (Path(args.results) / SLURM_DIR).is_dir():
        states = SlurmExecutor(store).status()
        pending = [s for s in states.values() if s.state not in ("ok", "failed")]
        print(f"Slurm: {len(states)} submitted case(s), {len(pending)} not recorded yet")
        for s in pending:
            print(f"  {s.case_id}  job {s.job}  {s.state}  {s.detail}".rstrip())
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnperf.experiments.slurm import SLURM_DIR, SlurmExecutor, check_slurm
    from nnperf.experiments.store import ResultStore

    if not (Path(args.results) / SLURM_DIR).is_dir():
        raise UsageError(f"{args.results!r} has no Slurm jobs: local cases stop with the study (Ctrl-C)")
    check_slurm()
    cancelled = SlurmExecutor(ResultStore(args.results)).cancel()
    print(f"cancelled {len(cancelled)} Slurm task(s): a study waiting on them records them as failed")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from nnperf.experiments import export
    from nnperf.experiments.store import ResultStore

    out = args.output
    if not out.endswith((".csv", ".parquet")):
        raise UsageError(f"--output {out!r}: give a file name ending in .csv or .parquet")
    contents = ResultStore(args.results).load()
    for w in contents.warnings:
        print(f"warning: {w}", file=sys.stderr)
    path = export.export_csv(contents, out) if out.endswith(".csv") else export.export_parquet(contents, out)
    print(f"{len(contents.cases)} case(s) written to {path}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nnperf.report.from_store import report_store

    out = Path(args.output) if args.output else Path(args.results) / "report"
    paths = report_store(args.results, out)
    print(f"report: {paths.html} (and {paths.markdown})")
    return 0
