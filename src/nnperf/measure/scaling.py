"""Scaling sweeps: intra-op threads, batch size, data-parallel processes (DDP), or any timed callable.

Each sweep runs the measurement engine once per point and returns a
:class:`~nnperf.analysis.scaling.ScalingResult` (raw step times per point; speedups, efficiencies and the
Amdahl / Gustafson fits or the batch saturation derived from them). Library code: nothing is printed.

* :func:`thread_scaling` -- strong scaling over ``torch.set_num_threads`` (same batch, more threads), each
  point one :func:`nnperf.measure.bench.measure` run in this process; the thread count is restored after.
* :func:`batch_scaling` -- throughput against batch size at fixed threads; stops at the first batch that
  runs out of memory (larger ones are recorded as skipped).
* :func:`ddp_scaling` -- one ``torchrun`` launch of :mod:`nnperf.measure.ddp_worker` per world size (gloo
  on CPU, NCCL on CUDA). Weak scaling by default (per-rank batch fixed; the global batch grows with the
  world), strong with ``scaling="strong"`` (global batch fixed, split over the ranks). On CPU every rank
  gets the same intra-op threads at every world size (default: cores // largest world size), so the
  single-process point is one such rank alone.
* :func:`function_scaling` -- a callable ``fn(n)`` timed at each ``n`` (used to check the Amdahl fit on a
  workload whose serial part is known).

Views of a result (text table, Markdown section, plot) are at the end; they read the record, never measure.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from nnperf.analysis.scaling import SCALINGS, ScalingPoint, ScalingResult, parse_counts
from nnperf.errors import UsageError
from nnperf.units import fmt_ms

DDP_TIMEOUT_S = 600.0


def _stamp(result: ScalingResult) -> ScalingResult:
    from nnperf import __version__

    result.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    result.nnperf_version = __version__
    return result


def _runspec_kwargs(kwargs: dict[str, Any], varied: str) -> dict[str, Any]:
    from nnperf.records.measurement import RunSpec

    known = {f.name for f in fields(RunSpec)} - {"model"}
    for name in kwargs:
        if name == varied:
            raise UsageError(f"{name} is what this sweep varies: give the list of values, not {name}=...")
        if name not in known:
            raise UsageError(f"unknown run setting {name!r}: use RunSpec fields ({', '.join(sorted(known))})")
    return kwargs


def _label(model: Any, module: Any) -> str:
    if module is not None:
        return model if isinstance(model, str) and model else type(module).__name__
    if not isinstance(model, str) or not model.strip():
        raise UsageError(f"model {model!r} is not a name: give e.g. 'resnet18', or module=... with a label")
    return model


def _point_from(m: Any, n: int) -> ScalingPoint:
    return ScalingPoint(
        n=n,
        status="ok" if m.ok else "failed",
        error=m.error,
        step_time_s=list(m.step_time_s),
        samples_per_step=m.samples_per_step,
        threads=m.environment.get("torch_threads", m.spec.threads),
        detail=m.to_dict(),
    )


def _oversubscribed(n: int) -> str | None:
    cores = os.cpu_count() or 1
    if n > cores:
        return f"{n} threads on {cores} CPUs: oversubscribed, the extra threads time-share cores"
    return None


def thread_scaling(
    model: str,
    threads: Sequence[int] | str = (1, 2),
    *,
    module: Any | None = None,
    input: tuple[int, ...] | None = None,
    **runspec: Any,
) -> ScalingResult:
    """Strong scaling over intra-op threads: one measured run per thread count, same batch and settings.

    ``runspec`` holds the other :class:`~nnperf.records.measurement.RunSpec` fields (mode, batch, seq,
    dtype, warmup, min_iters, min_time_s, ...). PyTorch's thread count is restored afterwards.
    """
    import torch

    from nnperf.measure.bench import measure
    from nnperf.records.measurement import RunSpec

    counts = parse_counts(threads, "threads")
    kw = _runspec_kwargs(runspec, "threads")
    if str(kw.get("device", "cpu")).startswith("cuda"):
        raise UsageError(
            "thread scaling is for the CPU: drop --device cuda (GPU kernels ignore torch threads)"
        )
    label = _label(model, module)
    result = ScalingResult(kind="threads", model=label, scaling="strong")
    old = torch.get_num_threads()
    try:
        for n in counts:
            spec = RunSpec(model=label, threads=n, **kw)
            m = measure(spec, module=module, input=input, predict=False, count=False, peaks=False)
            result.points.append(_point_from(m, n))
            warning = _oversubscribed(n)
            if warning:
                result.warnings.append(warning)
    finally:
        torch.set_num_threads(old)
    first = result.points[0].detail.get("spec", {}) if result.points else {}
    result.settings = {k: v for k, v in first.items() if k != "threads"}
    result.notes.append(
        f"strong scaling: the same batch of {result.settings.get('batch')} at every thread count; "
        "efficiency = throughput(n) / (n * throughput(1))"
    )
    result.warnings.extend(_point_warnings(result))
    return _stamp(result)


def batch_scaling(
    model: str,
    batches: Sequence[int] | str = (1, 2, 4, 8, 16, 32),
    *,
    module: Any | None = None,
    input: tuple[int, ...] | None = None,
    tolerance: float = 0.05,
    **runspec: Any,
) -> ScalingResult:
    """Throughput against batch size (same threads and settings): one measured run per batch.

    The saturation batch is the smallest one within ``tolerance`` of the best throughput
    (:func:`~nnperf.analysis.scaling.batch_saturation`). After a batch runs out of memory the larger ones
    are not run (recorded as skipped).
    """
    from nnperf.measure.bench import measure
    from nnperf.records.measurement import RunSpec

    counts = sorted(parse_counts(batches, "batch"))
    kw = _runspec_kwargs(runspec, "batch")
    label = _label(model, module)
    result = ScalingResult(kind="batch", model=label, settings={"tolerance": tolerance})
    stop: str | None = None
    for b in counts:
        if stop is not None:
            result.points.append(ScalingPoint(n=b, status="skipped", error=stop))
            continue
        spec = RunSpec(model=label, batch=b, **kw)
        m = measure(spec, module=module, input=input, predict=False, count=False, peaks=False)
        result.points.append(_point_from(m, b))
        if not m.ok and m.error and m.error.startswith("out of memory"):
            stop = f"not run: batch {b} already ran out of memory"
    first = next((p.detail.get("spec", {}) for p in result.points if p.detail), {})
    result.settings.update({k: v for k, v in first.items() if k != "batch"})
    result.notes.append(
        f"saturation: the smallest batch whose throughput is within {tolerance:.0%} of the best measured"
    )
    result.warnings.extend(_point_warnings(result))
    return _stamp(result)


def function_scaling(
    fn: Callable[[int], Any],
    counts: Sequence[int] | str,
    *,
    repeats: int = 5,
    warmup: int = 1,
    label: str = "function",
    clock: Callable[[], float] = time.perf_counter,
) -> ScalingResult:
    """Time ``fn(n)`` ``repeats`` times at each ``n`` (strong scaling; one call = one step of one sample).

    The repeats go round-robin over the counts, so a slow drift of the machine affects every count alike.
    """
    ns = parse_counts(counts, "counts")
    if not isinstance(repeats, int) or repeats < 1:
        raise UsageError(f"repeats must be a positive integer, got {repeats!r}")
    for n in ns:
        for _ in range(warmup):
            fn(n)
    samples: dict[int, list[float]] = {n: [] for n in ns}
    for _ in range(repeats):
        for n in ns:
            t0 = clock()
            fn(n)
            samples[n].append(clock() - t0)
    result = ScalingResult(
        kind="function",
        model=label,
        scaling="strong",
        points=[ScalingPoint(n=n, step_time_s=samples[n], samples_per_step=1) for n in ns],
        settings={"repeats": repeats, "warmup": warmup},
    )
    return _stamp(result)


def _point_warnings(result: ScalingResult) -> list[str]:
    # Failed points are listed with their errors by the views; these are the measurements' own warnings.
    out = []
    label = _N_LABEL.get(result.kind, "n")
    for p in result.points:
        for w in p.detail.get("warnings", []):
            out.append(f"{label} {p.n}: {w}")
    return out


# -- DDP ---------------------------------------------------------------------------------------------------
def _worker_env(threads: int) -> dict[str, str]:
    import nnperf

    env = dict(os.environ)
    src = str(Path(nnperf.__file__).resolve().parents[1])  # so the ranks import this same nnperf
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env["OMP_NUM_THREADS"] = str(threads)  # torchrun would otherwise force 1 when several ranks run
    return env


def _failure_line(n: int, rc: int, stderr: str) -> str:
    from nnperf.measure.ddp_worker import ERROR_MARK

    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    ours = [ln.split(ERROR_MARK, 1)[1].strip() for ln in lines if ERROR_MARK in ln]
    if ours:
        why = ours[0]
    else:
        # torchrun's own failures (rendezvous, a killed rank): the rank's exception line says most; else the
        # last error-looking line that is not torchrun's report boilerplate ("error_file: <N/A>").
        exceptions = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception)\b.*:", ln)]
        errors = [ln for ln in lines if ("Error" in ln or "error" in ln) and not ln.startswith("error_file")]
        why = (exceptions or errors or lines or ["no output"])[-1]
    return f"DDP with world size {n} failed (exit status {rc}): {why[:300]}"


def _launch_failed(stderr: str) -> bool:
    """Whether torchrun failed before or around the worker's own code (no nnperf error mark in its output):
    a rendezvous or a gloo connection that a busy machine can break, worth one more launch."""
    from nnperf.measure.ddp_worker import ERROR_MARK

    return ERROR_MARK not in stderr


def ddp_scaling(
    model: str,
    world_sizes: Sequence[int] | str = (1, 2),
    *,
    batch: int = 8,
    input: tuple[int, ...] | str | None = None,
    seq: int | None = None,
    dtype: str = "fp32",
    device: str = "cpu",
    scaling: str = "weak",
    threads_per_rank: int | None = None,
    warmup: int = 3,
    iters: int = 10,
    bucket_cap_mb: float = 25.0,
    timeout_s: float = DDP_TIMEOUT_S,
) -> ScalingResult:
    """Data-parallel training steps at each world size, each a ``torchrun --standalone`` launch.

    ``scaling="weak"``: every rank trains on ``batch`` samples (the global batch is ``n * batch``);
    ``"strong"``: the global batch ``batch`` is split evenly (it must divide by every world size). The
    step is forward + loss + backward; each point also has the compute-only step (``no_sync``) and the
    all-reduce time, hence the exposed communication and the overlap share (see
    :meth:`~nnperf.analysis.scaling.ScalingPoint.communication`). A failed launch is a failed point whose
    error names the world size.
    """
    ns = parse_counts(world_sizes, "world size")
    if not isinstance(model, str) or not model.strip():
        raise UsageError(
            f"DDP ranks rebuild the model by name: give a name or 'file.py:factory', not {model!r}"
        )
    if scaling not in SCALINGS:
        raise UsageError(f"unknown scaling {scaling!r}: use 'weak' (per-rank batch fixed) or 'strong'")
    for name, value in (("batch", batch), ("iters", iters), ("warmup", warmup)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    dev = device.split(":")[0]
    if dev not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}: use 'cpu' (gloo) or 'cuda' (NCCL)")
    if scaling == "strong":
        bad = [n for n in ns if batch % n]
        if bad:
            raise UsageError(
                f"strong scaling splits the global batch {batch} over the ranks: it does not divide by "
                f"world size {bad[0]}; pick a batch divisible by {', '.join(map(str, ns))}"
            )
    cores = os.cpu_count() or 1
    if dev == "cuda":
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if max(ns) > gpus:
            raise UsageError(f"world size {max(ns)} needs {max(ns)} GPUs, this machine has {gpus}")
    if threads_per_rank is None:
        threads_per_rank = max(1, cores // max(ns))
    elif isinstance(threads_per_rank, bool) or not isinstance(threads_per_rank, int) or threads_per_rank < 1:
        raise UsageError(f"threads per rank must be a positive integer, got {threads_per_rank!r}")
    shape = input if isinstance(input, str) or input is None else "x".join(map(str, input))
    _check_builds(model, batch, shape, seq, dtype)
    result = ScalingResult(
        kind="ddp",
        model=model,
        scaling=scaling,
        settings={
            "mode": "train",
            "device": dev,
            "backend": "nccl" if dev == "cuda" else "gloo",
            "batch": batch,
            "batch_meaning": "per rank" if scaling == "weak" else "global (split over the ranks)",
            "input": shape,
            "seq": seq,
            "dtype": dtype,
            "threads_per_rank": threads_per_rank,
            "warmup": warmup,
            "iters": iters,
            "bucket_cap_mb": bucket_cap_mb,
            "launcher": "python -m torch.distributed.run --standalone",
        },
    )
    result.notes.append(
        (
            f"weak scaling: {batch} samples per rank at every world size (global batch n x {batch})"
            if scaling == "weak"
            else f"strong scaling: global batch {batch} split over the ranks"
        )
        + "; efficiency = throughput(n) / (n * throughput(1))"
    )
    if dev == "cpu":
        result.notes.append(
            f"{threads_per_rank} intra-op thread(s) per rank at every world size ({cores} CPUs): the "
            "1-process point is one such rank alone; ranks share the machine's memory bandwidth and caches"
        )
        if max(ns) * threads_per_rank > cores:
            result.warnings.append(
                f"{max(ns)} ranks x {threads_per_rank} threads > {cores} CPUs: oversubscribed, ranks "
                "time-share cores and the scaling understates a machine with enough cores"
            )
    result.notes.append(
        "step = forward + loss + backward with the gradient all-reduce; compute = the same step under "
        "no_sync() (no all-reduce); all-reduce = wall time with a bucket's all-reduce in flight; "
        "exposed = step - compute; overlap = 1 - exposed / all-reduce; per step, the slowest rank"
    )
    env = _worker_env(threads_per_rank)
    with tempfile.TemporaryDirectory(prefix="nnperf-ddp-") as tmp:
        for n in ns:
            per_rank = batch if scaling == "weak" else batch // n
            out = Path(tmp) / f"world{n}.json"
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                "-m", "nnperf.measure.ddp_worker",
                "--model", model, "--batch", str(per_rank), "--dtype", dtype, "--device", dev,
                "--threads", str(threads_per_rank), "--warmup", str(warmup), "--iters", str(iters),
                "--bucket-cap-mb", str(bucket_cap_mb), "--out", str(out),
            ]  # fmt: skip
            if shape:
                cmd += ["--input", shape]
            if seq is not None:
                cmd += ["--seq", str(seq)]
            point, stderr = _run_ddp(cmd, env, n, out, timeout_s, threads_per_rank)
            if point.status == "failed" and stderr is not None and _launch_failed(stderr):
                result.warnings.append(f"world size {n}: {point.error}; launched again once")
                point, _ = _run_ddp(cmd, env, n, out, timeout_s, threads_per_rank)
            result.points.append(point)
    result.warnings.extend(_point_warnings(result))
    for p in result.ok_points():
        ratio = p.detail.get("straggler_ratio")
        if ratio and ratio > 1.2:
            result.warnings.append(
                f"world size {p.n}: straggler: the slowest rank's compute is {ratio:.2f}x the fastest's"
            )
    return _stamp(result)


def _check_builds(model: str, batch: int, shape: str | None, seq: int | None, dtype: str) -> None:
    """Build the model on ``meta`` here (no memory, no launch): an unknown name or a bad shape is a one-line
    error before any process starts, not N ranks failing."""
    from nnperf.models import InputSpec, build_workload, parse_shape

    spec = InputSpec(batch=batch, sample_shape=parse_shape(shape) if shape else None, seq=seq, dtype=dtype)
    build_workload(model, spec, device="meta")


def _kill_tree(proc: subprocess.Popen) -> None:
    """Stop torchrun and every rank it started. The ranks run in sessions of their own (torchrun starts
    them so), so neither a signal to torchrun's process group nor torchrun's death reaches them: they are
    listed first, torchrun is asked to stop them (SIGTERM, which it forwards), and whatever is left after
    a few seconds is killed by process id."""
    import psutil

    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        tree = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs([*tree], timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _run_ddp(
    cmd: list[str], env: dict[str, str], n: int, out: Path, timeout_s: float, threads: int
) -> tuple[ScalingPoint, str | None]:
    """One torchrun launch: its point, and its stderr when it failed with an exit status (None otherwise)."""
    # A session of its own, so that killing its process group reaches torchrun's helpers; the ranks are
    # found by _kill_tree.
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        return ScalingPoint(
            n=n,
            status="failed",
            threads=threads,
            error=f"DDP with world size {n} timed out after {timeout_s:g} s: lower --iters or the batch",
        ), None
    except BaseException:  # an interrupt: the ranks are in their own session and would not get it
        _kill_tree(proc)
        raise
    if proc.returncode != 0 or not out.exists():
        return ScalingPoint(
            n=n, status="failed", threads=threads, error=_failure_line(n, proc.returncode, stderr)
        ), stderr
    import json

    record = json.loads(out.read_text())
    return ScalingPoint(
        n=n,
        step_time_s=list(record["step_time_s"]),
        compute_time_s=list(record["compute_time_s"]),
        allreduce_time_s=list(record["allreduce_time_s"]),
        samples_per_step=int(record["global_batch"]),
        threads=int(record["threads_per_rank"]),
        detail=record,
    ), None


# -- views (read the record, never measure) ----------------------------------------------------------------
_N_LABEL = {"threads": "threads", "batch": "batch", "ddp": "ranks", "function": "n"}


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _columns(result: ScalingResult) -> list[tuple[str, Callable[[dict[str, Any]], str]]]:
    cols: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        (_N_LABEL.get(result.kind, "n"), lambda r: str(r["n"])),
        ("median step", lambda r: fmt_ms(r["median_step_s"])),
        ("IQR", lambda r: fmt_ms(r["iqr_s"])),
        ("samples/s", lambda r: _num(r["throughput"], ".1f")),
    ]
    if result.kind == "batch":
        cols += [
            ("per sample", lambda r: fmt_ms(r["time_per_sample_s"])),
            ("of best", lambda r: f"{r['share_of_best']:.0%}"),
        ]
        return cols
    if result.kind == "ddp":
        cols += [
            ("compute", lambda r: fmt_ms(r.get("compute_s"))),
            ("all-reduce", lambda r: fmt_ms(r.get("allreduce_s"))),
            ("exposed", lambda r: fmt_ms(r.get("exposed_comm_s"))),
            ("overlap", lambda r: "-" if r.get("overlap_share") is None else f"{r['overlap_share']:.0%}"),
        ]
    cols += [
        (
            "scaled speedup" if result.scaling == "weak" else "speedup",
            lambda r: _num(r.get("scaled_speedup", r.get("speedup"))),
        ),
        ("efficiency", lambda r: "-" if r.get("efficiency") is None else f"{r['efficiency']:.0%}"),
    ]
    return cols


def fit_lines(result: ScalingResult) -> list[str]:
    """One line per fit (or why none could be made)."""
    fits = result.fits()
    out: list[str] = []
    if "amdahl" in fits:
        f = fits["amdahl"]
        top = "unbounded" if f["max_speedup"] is None else f"{f['max_speedup']:.2f}x"
        r2 = "-" if f["r2"] is None else f"{f['r2']:.3f}"
        out.append(
            f"Amdahl fit: serial fraction s = {f['serial_fraction']:.3f}, T1 = {fmt_ms(f['t1_s'])}, "
            f"maximum speedup 1/s = {top}, R^2 = {r2}"
        )
        out += [f"  ({n})" for n in f["notes"]]
    if "gustafson" in fits:
        f = fits["gustafson"]
        r2 = "-" if f["r2"] is None else f"{f['r2']:.3f}"
        out.append(
            f"Gustafson fit: serial fraction s = {f['serial_fraction']:.3f} (S(n) = n - s(n-1)), R^2 = {r2}"
        )
        out += [f"  ({n})" for n in f["notes"]]
    if "saturation" in fits:
        f = fits["saturation"]
        text = (
            f"saturation: batch {f['batch']} reaches {f['share_of_best']:.0%} of the best throughput "
            f"({f['best_throughput']:.1f} samples/s at batch {f['best_batch']}; band {f['tolerance']:.0%})"
        )
        if not f["saturated"]:
            text += "; not saturated within the sweep: try larger batches"
        out.append(text)
    if "unfitted" in fits:
        out.append(f"no fit: {fits['unfitted']}")
    return out


def _header(result: ScalingResult) -> str:
    s = result.settings
    what = {
        "threads": "thread scaling",
        "batch": "batch scaling",
        "ddp": "DDP scaling",
        "function": "scaling",
    }
    parts = [f"{result.model}: {what.get(result.kind, result.kind)}"]
    if result.scaling:
        parts.append(f"({result.scaling})")
    for key in ("mode", "device", "batch", "context", "dtype", "backend"):
        if s.get(key) is not None and not (result.kind == "batch" and key == "batch"):
            per_rank = (
                " per rank" if key == "batch" and result.kind == "ddp" and result.scaling == "weak" else ""
            )
            parts.append(f"{key}={s[key]}{per_rank}")
    if result.kind == "batch" and s.get("threads"):
        parts.append(f"threads={s['threads']}")
    return " ".join(parts)


def scaling_text(result: ScalingResult) -> str:
    """A plain-text table (one row per point) with the fits, notes and warnings below."""
    rows = result.rows()
    cols = _columns(result)
    cells = [[c[0] for c in cols]] + [[fmt(r) for _, fmt in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = [_header(result)]
    for j, row in enumerate(cells):
        lines.append("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    for p in result.points:
        if not p.ok:
            lines.append(f"{_N_LABEL.get(result.kind, 'n')} {p.n}: {p.status}: {p.error}")
    lines += fit_lines(result)
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def scaling_markdown(result: ScalingResult, figure: str | None = None) -> str:
    """A report section: heading, settings, the table, the fits, notes and warnings (and the figure)."""
    rows = result.rows()
    cols = _columns(result)
    lines = [f"## {_header(result)}", ""]
    if figure:
        lines += [f"![{result.kind} scaling of {result.model}]({figure})", ""]
    lines.append("| " + " | ".join(c[0] for c in cols) + " |")
    lines.append("|" + "|".join("---:" for _ in cols) + "|")
    lines += ["| " + " | ".join(fmt(r) for _, fmt in cols) + " |" for r in rows]
    failed = [p for p in result.points if not p.ok]
    if failed:
        lines.append("")
        lines += [f"- {_N_LABEL.get(result.kind, 'n')} {p.n}: {p.status}: {p.error}" for p in failed]
    fits = fit_lines(result)
    if fits:
        lines += ["", *[f"- {f.strip()}" for f in fits]]
    if result.notes or result.warnings:
        lines.append("")
        lines += [f"- note: {n}" for n in result.notes]
        lines += [f"- **warning**: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def write_scaling_plot(result: ScalingResult, path: str | Path) -> Path:
    """Throughput (left) and speedup with the ideal line and the fitted law (right); batch sweeps: one
    panel of throughput against batch with the saturation band. matplotlib's object API on Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"plot {str(path)!r}: give a file name ending in {', '.join(PLOT_SUFFIXES)}")
    rows = result.rows()
    if not rows:
        raise UsageError("no point of the sweep succeeded: nothing to plot")
    ns = [r["n"] for r in rows]
    thr = [r["throughput"] for r in rows]
    xlabel = {"threads": "intra-op threads", "batch": "batch size", "ddp": "processes (ranks)"}.get(
        result.kind, "n"
    )
    batch = result.kind == "batch"
    fig = Figure(figsize=(5.5 if batch else 10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1 if batch else 2, 1)
    ax.plot(ns, thr, "o-", color="#1f77b4", label="measured")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("samples / s")
    ax.set_title(f"{result.model}: throughput")
    ax.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    if batch:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        sat = result.fits().get("saturation")
        if sat:
            ax.axhspan(
                (1 - sat["tolerance"]) * sat["best_throughput"], sat["best_throughput"], color="#2ca02c", alpha=0.15,
                label=f"within {sat['tolerance']:.0%} of best",
            )  # fmt: skip
            ax.axvline(sat["batch"], color="#2ca02c", ls="--", label=f"saturation: batch {sat['batch']}")
        ax.legend()
    else:
        n0 = min(ns)
        ideal = [thr[0] * n / n0 for n in ns]
        ax.plot(ns, ideal, "--", color="#7f7f7f", label="ideal (linear)")
        ax.legend()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2 = fig.add_subplot(1, 2, 2)
        weak = result.scaling == "weak"
        sp = [r["scaled_speedup"] if weak else r["speedup"] for r in rows]
        ax2.plot(ns, sp, "o", color="#d62728", label="measured", zorder=3)
        grid = [n0 + (max(ns) - n0) * i / 50 for i in range(51)] if max(ns) > n0 else [n0]
        ax2.plot(grid, [g / n0 for g in grid], "--", color="#7f7f7f", label="ideal")
        fits = result.fits()
        if "amdahl" in fits:
            s = fits["amdahl"]["serial_fraction"]
            base = 1.0 / (s + (1 - s) / n0)  # speedups are relative to n0, the curve too
            ax2.plot(grid, [1.0 / (s + (1 - s) / g) / base for g in grid], "-", color="#2ca02c",
                     label=f"Amdahl, s = {s:.3f}")  # fmt: skip
        if "gustafson" in fits:
            s = fits["gustafson"]["serial_fraction"]
            ax2.plot(
                grid, [g - s * (g - 1) for g in grid], "-", color="#2ca02c", label=f"Gustafson, s = {s:.3f}"
            )
        ax2.set_xlabel(xlabel)
        ax2.set_ylabel("scaled speedup" if weak else "speedup")
        ax2.set_title("speedup" + (" (weak scaling)" if weak else ""))
        ax2.grid(alpha=0.3)
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None} if path.suffix.lower() == ".png" else None)
    return path
