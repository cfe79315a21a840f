"""``measure``: one real run of a model, measured by the documented protocol and joined with static costs.

Stages, each of which can fail on its own and is then named in the record (``failed_stage``) and the error:

1. **validate** the :class:`RunSpec` (a :class:`~nnperf.errors.UsageError` before anything runs);
2. **build** the model on the device (fresh weights) and the data source; **prepare** dtype, memory format,
   optimizer, threads; **compile** (``torch.compile``, lazy: its errors appear in the first warm-up step,
   which is then reported as the compile stage) or **trace** (``torch.jit.trace``);
3. **predict**: the static analysis of the same model and input (meta tensors) for the predicted memory
   peak and FLOPs (a failure there is a warning, not a failed run);
4. **warm-up** and **timed** steps (:mod:`nnperf.measure.protocol`), with process CPU time, peak RSS, CUDA
   peaks, other processes' CPU load and -- when asked -- ``perf stat`` around the timed region only;
5. **count**: one more step on the eager model under the dispatch-level counter, which records FLOPs and
   bytes per op (the same counter as the static analysis) and the live-tensor peak: the bytes of tensors
   created in the step and alive at once, plus parameters, buffers, the batch and optimizer state;
6. **profile** (optional): ``torch.profiler`` over a few more steps, joined with the counted costs.

Whatever was measured before a failure stays in the record; a failure never loses a record.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from nnperf.errors import NnperfError, UsageError
from nnperf.records.measurement import MODES, Measurement, RunSpec

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DATA_KINDS = ("synthetic", "generated")
DATA_WAIT_WARNING = 0.30  # share of the step spent waiting for data above which a run is data-bound
OTHERS_WARNING = 0.10  # other processes' CPU share (of all CPUs) above which results understate the machine


def validate(spec: RunSpec) -> None:
    """Raise UsageError naming the first bad setting and the fix."""
    from nnperf.models import parse_dtype
    from nnperf.static.optimizers import OPTIMIZERS
    from nnperf.static.summary import AUTOCAST_DTYPES

    if spec.mode not in MODES:
        raise UsageError(f"unknown mode {spec.mode!r}: use 'infer' or 'train'")
    for name in ("batch", "min_iters"):
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
    if spec.seq is not None and (not isinstance(spec.seq, int) or spec.seq < 1):
        raise UsageError(f"sequence length must be a positive integer, got {spec.seq!r}")
    if spec.context is not None:
        if isinstance(spec.context, bool) or not isinstance(spec.context, int) or spec.context < 1:
            raise UsageError(f"KV-cache context must be a positive number of tokens, got {spec.context!r}")
        if spec.mode != "infer":
            raise UsageError("a decode step (--context) is inference only: use --mode infer")
        if spec.data != "synthetic":
            raise UsageError(f"a decode step (--context) runs on synthetic tokens, not data {spec.data!r}")
    if not isinstance(spec.warmup, int) or spec.warmup < 1:
        raise UsageError(f"warmup must be at least 1 step, got {spec.warmup!r}")
    if spec.threads is not None and (not isinstance(spec.threads, int) or spec.threads < 1):
        raise UsageError(f"threads must be a positive integer, got {spec.threads!r}")
    if not isinstance(spec.workers, int) or spec.workers < 0:
        raise UsageError(f"workers must be 0 or more, got {spec.workers!r}")
    if spec.min_time_s < 0 or spec.budget_s <= 0:
        raise UsageError(
            f"time budget must be positive, got min_time_s={spec.min_time_s}, budget_s={spec.budget_s}"
        )
    parse_dtype(spec.dtype)
    if spec.autocast is not None and spec.autocast not in AUTOCAST_DTYPES:
        raise UsageError(f"unknown autocast dtype {spec.autocast!r}: use one of {', '.join(AUTOCAST_DTYPES)}")
    if spec.optimizer is not None and spec.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {spec.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    if spec.compile is not None and spec.compile not in COMPILE_MODES:
        raise UsageError(f"unknown compile mode {spec.compile!r}: use one of {', '.join(COMPILE_MODES)}")
    if spec.compile is not None and spec.jit:
        raise UsageError("--compile and --jit both given: pick one way to compile the model")
    device = spec.device.split(":")[0]
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {spec.device!r}: use 'cpu' or 'cuda' (or 'cuda:N')")
    if spec.data not in DATA_KINDS and not Path(spec.data).is_dir():
        raise UsageError(
            f"data {spec.data!r} is neither 'synthetic', 'generated' nor a directory: "
            "give an ImageFolder directory (e.g. ImageNet's train/) or one of those words"
        )
    if spec.workers and spec.data == "synthetic":
        raise UsageError(
            f"--workers {spec.workers} needs a real pipeline: add --data generated or --data DIR "
            "(synthetic batches are already on the device)"
        )


class _StageError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc)
    return "out of memory" in text.lower() or "can't allocate memory" in text


def _describe_failure(spec: RunSpec, stage: str, phase: str | None, exc: BaseException) -> str:
    where = f"{spec.mode}, batch {spec.batch}, {spec.dtype}, {spec.device}"
    if _is_oom(exc):
        return (
            f"out of memory at batch {spec.batch} on {spec.device} ({stage}"
            f"{', ' + phase + ' phase' if phase else ''}): lower --batch"
            f"{' or use --autocast bf16' if spec.autocast is None else ''}"
        )
    if stage == "compile":
        how = f"torch.compile(mode={spec.compile!r})" if spec.compile else "torch.jit.trace"
        flag = "--compile" if spec.compile else "--jit"
        return f"{how} failed for {spec.model!r} ({where}): {_first_line(exc)}; run without {flag}"
    in_phase = f" in the {phase} phase" if phase else ""
    return f"model {spec.model!r} failed{in_phase} during {stage} ({where}): {_first_line(exc)}"


def _environment(device: Any) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "hostname": platform.node(),
    }
    if device.type == "cuda":
        env["cuda_device"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def _cpu_peaks(dtype: str, threads: int, profile: Any | None) -> tuple[float | None, float | None, str]:
    """(measured GEMM peak at ``threads`` or the closest below, nominal peak for ``threads``, note)."""
    from nnperf.machine.nominal import nominal_cpu

    measured = None
    note = "no machine profile cached: run `nnperf machine` for a measured peak (MFU)"
    if profile is not None:
        by_threads = profile.measured.get("gemm", {}).get(dtype, {}).get("threads", {})
        usable = sorted(
            (int(t) for t, r in by_threads.items() if r.get("best") and int(t) <= threads), reverse=True
        )
        if usable:
            measured = float(by_threads[str(usable[0])]["best"])
            note = f"measured peak: {dtype} GEMM at {usable[0]} thread(s) from the cached machine profile"
        else:
            note = f"the cached machine profile has no {dtype} GEMM peak at <= {threads} threads"
    nominal = None
    if profile is not None and profile.probes.get("cpu"):
        nominal = nominal_cpu(profile.probes["cpu"], threads=threads).get("flops", {}).get(dtype)
    return measured, nominal, note


def _peaks(device: Any, dtype: str, threads: int) -> tuple[float | None, float | None, str]:
    """The compute peaks the run's FLOP/s is compared with: (measured, nominal, how they were found)."""
    try:
        from nnperf.machine.probes import collect_probes, fingerprint
        from nnperf.machine.profile import load_cached

        probes = collect_probes()
        profile = load_cached(fingerprint(probes))
        if device.type == "cuda":
            import torch

            from nnperf.machine.nominal import nominal_gpu

            card = nominal_gpu(torch.cuda.get_device_name(device)) or {}
            nominal = (card.get("flops") or {}).get(dtype)
            gpu = profile.measured.get("gpu", {}) if profile is not None else {}
            measured = (gpu.get("flops") or {}).get(dtype) if isinstance(gpu, dict) else None
            return (
                measured,
                nominal,
                "GPU peaks: measured from the cached profile, nominal from the spec sheet",
            )
        if profile is None:
            from nnperf.machine.nominal import nominal_cpu

            nominal = nominal_cpu(probes.get("cpu", {}), threads=threads).get("flops", {}).get(dtype)
            return None, nominal, "no machine profile cached: run `nnperf machine` for a measured peak (MFU)"
        return _cpu_peaks(dtype, threads, profile)
    except Exception as exc:  # peaks are context, never a reason to fail a measurement
        return None, None, f"machine peaks unavailable ({_first_line(exc)})"


def _make_source(spec: RunSpec, workload: Any, device: Any, train: bool, data_root: Path | None) -> Any:
    from nnperf.measure import data

    if spec.data == "synthetic":
        return data.synthetic_source(workload, device, train)
    if workload.family == "text" or hasattr(workload, "tokens"):
        if spec.data != "generated":
            raise UsageError(
                f"--data {spec.data} is an image folder but {spec.model!r} takes tokens: "
                "use --data synthetic or --data generated (token batches through a DataLoader)"
            )
        return data.token_source(workload, device, train, workers=spec.workers)
    if spec.data == "generated":
        from nnperf.machine.profile import cache_dir

        root = data_root if data_root is not None else cache_dir() / "imagefolder"
        folder = data.write_image_folder(root, classes=4, images_per_class=max(16, 2 * spec.batch))
    else:
        folder = Path(spec.data)
    import torch

    from nnperf.models import DTYPES

    return data.image_folder_source(
        folder,
        workload,
        device,
        workers=spec.workers,
        dtype=DTYPES[spec.dtype] if spec.autocast is None else torch.float32,
        channels_last=spec.channels_last,
    )


def measure(
    spec: RunSpec,
    *,
    module: Any | None = None,
    input: tuple[int, ...] | None = None,
    perf: bool = False,
    profile: bool = False,
    trace_path: str | Path | None = None,
    predict: bool = True,
    prediction: dict[str, Any] | None = None,
    count: bool = True,
    peaks: bool = True,
    data_root: str | Path | None = None,
    clock: Callable[[], float] = time.perf_counter,
    thread_clock: Callable[[], float] = time.thread_time,
) -> Measurement:
    """Measure ``spec`` (see the module docstring); returns a Measurement, failed or not.

    ``module`` is an ``nn.Module`` to measure instead of a registered name (then give ``input``, the shape of
    one sample). ``prediction`` is the static analysis of the same model and input already made (a
    ``StaticSummary.to_dict()``, as a study stores it), used instead of analysing the model again. Raises :class:`UsageError` for bad settings before anything runs; any failure after that is
    recorded in the returned Measurement (``status == "failed"``).
    """
    import torch

    from nnperf import __version__

    validate(spec)
    device = torch.device(spec.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {spec.device!r} is not available here (no CUDA GPU): use --device cpu")
    m = Measurement(
        spec=spec,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        nnperf_version=__version__,
    )
    stage = "build"
    phase: list[str | None] = [None]
    old_threads = torch.get_num_threads()
    source = None
    try:
        with ExitStack() as stack:
            if spec.threads is not None:
                torch.set_num_threads(spec.threads)
            m.environment = _environment(device)
            run, source = _prepare(spec, device, module, input, data_root)
            m.samples_per_step = spec.batch
            m.tokens_per_step = (
                spec.batch * run.workload.spec.seq if hasattr(run.workload, "tokens") else None
            )
            m.data_description = source.description
            if spec.channels_last:
                m.notes.append("channels_last: model and image batches in NHWC memory format")

            if prediction is not None:
                _prediction_from_dict(m, spec, prediction)
            elif predict:
                stage = "predict"
                _predict(m, spec, module, input)

            stage = "compile" if (spec.compile or spec.jit) else "warmup"
            if spec.jit:
                run.runner = _trace(run)

            def mark(p: str) -> None:
                phase[0] = p

            def timed_step(tmark: Callable[[str], None]) -> None:
                def both(p: str) -> None:
                    phase[0] = p
                    tmark(p)

                run.step(both)

            region: dict[str, Any] = {}

            def on_timed_start() -> None:
                nonlocal stage
                stage = "timed"
                region.update(_start_region(stack, device, perf, clock))

            sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
            timer = None
            if device.type == "cuda":
                from nnperf.measure.protocol import CudaEventTimer

                timer = CudaEventTimer(torch)
            from nnperf.measure.protocol import time_steps

            samples = time_steps(
                timed_step,
                warmup=spec.warmup,
                min_iters=spec.min_iters,
                min_time_s=spec.min_time_s,
                budget_s=spec.budget_s,
                synchronize=sync,
                device_timer=timer,
                clock=clock,
                thread_clock=thread_clock,
                on_timed_start=on_timed_start,
            )
            _end_region(m, region, device, clock)
            m.warmup_time_s = samples.warmup_s
            m.step_time_s = samples.step_s
            m.phase_time_s = samples.phase_s
            m.phase_cpu_s = samples.phase_cpu_s
            m.device_phase_time_s = samples.device_phase_s
            m.stopped_by = samples.stopped_by
            m.steps_per_sample = samples.inner
            if samples.inner > 1:
                m.notes.append(
                    f"steps under 1 ms: timed in blocks of {samples.inner} (each sample a block's mean); "
                    "no per-phase times"
                )
            if samples.phase_cpu_s:  # not for blocked tiny steps, whose phases are not recorded
                m.time_s["main_thread_cpu"] = sum(sum(v) for v in samples.phase_cpu_s.values())
            phase[0] = None
            records: list[Any] = []

            if count:
                stage = "count"
                records = _count(m, run, mark)
            if peaks:
                measured, nominal, note = _peaks(device, spec.autocast or spec.dtype, torch.get_num_threads())
                m.flops["measured_peak_per_s"] = measured
                m.flops["nominal_peak_per_s"] = nominal
                m.notes.append(note)
            if profile or trace_path is not None:
                stage = "profile"
                _profile(m, run, device, trace_path, records)
    except UsageError:
        raise
    except (Exception, MemoryError) as exc:
        m.status = "failed"
        m.failed_stage = stage
        m.error = _describe_failure(spec, stage, phase[0], exc)
        if isinstance(exc, NnperfError):
            m.error = str(exc)
    finally:
        torch.set_num_threads(old_threads)
        if source is not None:
            source.close()
    m.warnings.extend(_quality_warnings(m))
    return m


def _prepare(spec: RunSpec, device: Any, module: Any, input: Any, data_root: Any) -> tuple[Any, Any]:
    import torch

    from nnperf.measure.step import PreparedRun
    from nnperf.models import InputSpec, build_workload
    from nnperf.static.optimizers import default_optimizer, make_optimizer

    in_spec = InputSpec(
        batch=spec.batch, sample_shape=input, seq=spec.seq, dtype=spec.dtype, context=spec.context
    )
    workload = build_workload(module if module is not None else spec.model, in_spec, device=device)
    model = workload.model
    train = spec.mode == "train"
    model.train(train)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
        workload.model = model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = None
    if train:
        optimizer = make_optimizer(spec.optimizer or default_optimizer(workload.family), params)
    source = _make_source(spec, workload, device, train, Path(data_root) if data_root else None)
    batches = source.batches()
    if spec.channels_last and spec.data == "synthetic":
        batches = _channels_last(batches)
    runner: Callable[..., Any] = model
    if spec.compile is not None:
        runner = torch.compile(model, mode=None if spec.compile == "default" else spec.compile)
    run = PreparedRun(
        workload=workload,
        model=model,
        runner=runner,
        train=train,
        device=device,
        batches=batches,
        optimizer=optimizer,
        autocast=spec.autocast,
        params=params,
    )
    return run, source


def _channels_last(batches: Any) -> Any:
    import torch

    for args, kwargs in batches:
        yield (
            tuple(
                a.contiguous(memory_format=torch.channels_last)
                if isinstance(a, torch.Tensor) and a.dim() == 4
                else a
                for a in args
            ),
            kwargs,
        )


def _trace(run: Any) -> Any:
    import torch

    args, kwargs = run.next_batch()
    with torch.no_grad() if not run.train else torch.enable_grad():
        return torch.jit.trace(
            run.model,
            example_inputs=args if args else None,
            example_kwarg_inputs=kwargs or None,
            strict=False,
            check_trace=False,
        )


def _predict(m: Measurement, spec: RunSpec, module: Any, input: Any) -> None:
    from nnperf.static.summary import summarize

    try:
        s = summarize(
            module if module is not None else spec.model,
            batch=spec.batch,
            input=input,
            seq=spec.seq,
            dtype=spec.dtype,
            mode=spec.mode,
            optimizer=spec.optimizer,
            autocast=spec.autocast,
            context=spec.context,
        )
    except NnperfError as exc:
        m.warnings.append(f"no static prediction: {exc}")
        return
    except Exception as exc:
        m.warnings.append(f"no static prediction: {_first_line(exc)}")
        return
    _set_prediction(
        m,
        spec,
        {p: t.flops for p, t in s.training.items()},
        s.inference.flops,
        s.memory.peak_train,
        s.memory.peak_infer,
        f"nnperf static analysis ({s.profile.tensor_mode} tensors)",
    )


def _prediction_from_dict(m: Measurement, spec: RunSpec, data: dict[str, Any]) -> None:
    """The predicted FLOPs and memory peak from a stored static analysis (both passes, except for a decode
    step: inference only, ``training`` null)."""
    training = data.get("training") or {}
    _set_prediction(
        m,
        spec,
        {p: training[p]["flops"] for p in ("forward", "loss", "backward", "optimizer") if p in training},
        data["inference"]["flops"],
        data["memory"]["peak_train"],
        data["memory"]["peak_infer"],
        f"nnperf static analysis ({data.get('tensor_mode', '?')} tensors), stored",
    )


def _set_prediction(
    m: Measurement,
    spec: RunSpec,
    train_flops_by_phase: dict[str, int],
    infer_flops: int,
    peak_train: int,
    peak_infer: int,
    method: str,
) -> None:
    """The prediction of the run's mode: the training step's FLOPs by phase and peak, or inference's."""
    if spec.mode == "train":
        m.flops["predicted"] = sum(train_flops_by_phase.values())
        m.flops["predicted_by_phase"] = train_flops_by_phase
        m.memory["predicted_peak_bytes"] = peak_train
    else:
        m.flops["predicted"] = infer_flops
        m.memory["predicted_peak_bytes"] = peak_infer
    m.memory["predicted_method"] = method


def _start_region(stack: ExitStack, device: Any, perf: bool, clock: Callable[[], float]) -> dict[str, Any]:
    import torch

    from nnperf.machine.cpustat import load_window
    from nnperf.measure import cputime, process_memory

    out: dict[str, Any] = {}
    if device.type == "cuda":
        process_memory.cuda_reset(torch, device)
    out["rss_reset"] = process_memory.reset_peak_rss()
    if perf:
        from nnperf.measure.perf_counters import PerfSession

        session = PerfSession()
        session.__enter__()
        out["perf"] = session
        stack.callback(_close_once, out, "perf")
    window = load_window()
    window.__enter__()
    out["load"] = window
    stack.callback(_close_once, out, "load")
    out["cpu"] = cputime.snapshot(clock)
    return out


def _close_once(region: dict[str, Any], key: str) -> Any:
    """Exit the context ``region[key]`` if still open (normally at the end of the timed region; on a
    failure, when the ExitStack unwinds), and return it."""
    ctx = region.pop(key, None)
    if ctx is not None:
        ctx.__exit__(None, None, None)
    return ctx


def _end_region(m: Measurement, region: dict[str, Any], device: Any, clock: Callable[[], float]) -> None:
    import torch

    from nnperf.measure import cputime, process_memory

    end = cputime.snapshot(clock)
    m.time_s.update(cputime.region(region["cpu"], end))
    result = _close_once(region, "load").result
    others = result.others_share
    workers = m.time_s.get("workers_cpu")
    if others is not None and workers and m.time_s["real"] > 0:
        # Our DataLoader workers are separate processes: their CPU time is ours, not another program's.
        others = max(others - workers / (m.time_s["real"] * (os.cpu_count() or 1)), 0.0)
    m.load = {"others_share": others, "steal_share": result.steal_share}
    rss, method = process_memory.peak_rss(region["rss_reset"])
    m.memory["peak_rss_bytes"] = rss
    m.memory["peak_rss_method"] = method
    if device.type == "cuda":
        m.memory.update(process_memory.cuda_peaks(torch, device))
    session = _close_once(region, "perf")
    if session is not None:
        m.counters = {"perf": session.result.to_dict()}


def _count(m: Measurement, run: Any, mark: Callable[[str], None]) -> list[Any]:
    """One step on the eager model under the cost counter: counted FLOPs/bytes and the live-tensor peak."""
    import torch

    from nnperf.static import aggregate
    from nnperf.static.counter import CostCounter
    from nnperf.static.memory import LiveBytes, storage_bytes
    from nnperf.static.scope import ModuleScope

    batch = run.next_batch()
    flat = [t for t in torch.utils._pytree.tree_flatten(batch)[0] if isinstance(t, torch.Tensor)]
    state = []
    if run.optimizer is not None:
        for per_param in run.optimizer.state.values():
            state.extend(v for v in per_param.values() if isinstance(v, torch.Tensor))
    for p in run.params:  # the step clears gradients first; do it now so they are not baseline
        p.grad = None
    fixed = [*run.model.parameters(), *run.model.buffers(), *flat, *state]
    baseline = storage_bytes(fixed)
    live = LiveBytes(exclude=fixed)
    scope = ModuleScope(run.model, record_calls=False)
    counter = CostCounter(scope.current, live)

    def counted_mark(p: str) -> None:
        mark(p)
        counter.set_phase(p)

    with scope, counter:
        run.compute(batch, counted_mark, runner=run.model)
        if run.train:
            scope.reset_backward()
    by_phase: dict[str, aggregate.Totals] = {}
    for r in counter.records:
        by_phase.setdefault(r.phase, aggregate.Totals()).add(r)
    total = aggregate.totals(counter.records)
    m.flops["counted"] = total.flops
    m.flops["counted_by_phase"] = {p: t.flops for p, t in by_phase.items()}
    m.flops["uncounted_ops"] = dict(total.uncounted_ops)
    m.flops["method"] = "nnperf dispatch-level counter over one eager step on the real tensors"
    m.bytes["counted"] = total.bytes
    m.bytes["counted_by_phase"] = {p: t.bytes for p, t in by_phase.items()}
    m.bytes["method"] = "minimum traffic per op (each input read once, each output written once)"
    m.memory["peak_live_bytes"] = baseline + live.peak
    m.memory["live_baseline_bytes"] = baseline
    m.memory["peak_live_method"] = (
        "dispatch-level tracker: parameters, buffers, batch and optimizer state plus the peak of tensors "
        "created in one step and alive at once"
    )
    return counter.records


def _profile(
    m: Measurement, run: Any, device: Any, trace_path: str | Path | None, records: list[Any]
) -> None:
    from nnperf.measure.op_breakdown import join_costs, profile_step

    profiled = profile_step(
        lambda: run.step(),
        model=run.model,
        device=device,
        trace_path=Path(trace_path) if trace_path is not None else None,
    )
    m.ops = join_costs(profiled, records).to_dict()
    m.trace_path = str(trace_path) if trace_path is not None else None


def _quality_warnings(m: Measurement) -> list[str]:
    from nnperf.analysis.stats import describe, noisy_warning

    out: list[str] = []
    if not m.step_time_s:
        return out
    d = describe(m.step_time_s)
    noisy = noisy_warning(d["spread"], d["n"], "close other programs or raise --iters / --min-time")
    if noisy is not None:
        out.append(noisy)
    if m.stopped_by == "budget" and d["n"] < 5:
        out.append(f"budget: only {d['n']} timed step(s) fitted in the time budget: raise --budget")
    others = m.load.get("others_share")
    if others is not None and others > OTHERS_WARNING:
        out.append(
            f"contention: other processes used {others:.0%} of the CPUs during the timed steps: "
            "the figures understate this machine; close other programs and measure again"
        )
    steal = m.load.get("steal_share")
    if steal is not None and steal > 0.05:
        out.append(f"steal: the hypervisor took {steal:.0%} of the vCPUs' time (a noisy neighbour)")
    wait = m.data_wait_share
    if wait is not None and wait > DATA_WAIT_WARNING:
        out.append(
            f"data-bound: {wait:.0%} of each step waits for the next batch: add --workers, "
            "or use --data synthetic to time compute alone"
        )
    return out
