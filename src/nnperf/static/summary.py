"""``summarize``: the static analysis engine behind ``nnperf summary`` and ``nnperf.summary``.

Two passes over the model, by default on meta tensors (nothing allocated, nothing computed):

1. *inference*: eval mode under ``torch.inference_mode`` — forward costs, module calls (output shapes), and
   the inference peak of live tensors;
2. *training step*: ``zero_grad(set_to_none=True)``, forward, loss, backward, optimizer step — every op of
   each phase counted, the tensors autograd saves for backward, gradients and optimizer state measured from
   what the step really creates.

The training peak is that of a steady-state step (optimizer state already exists, gradients of the previous
step already freed): ``baseline + max(optimizer state + peak of forward/loss/backward, peak of the step)``,
with baseline = parameters + buffers + inputs. If the model cannot run on meta tensors it is run on real
CPU tensors instead, and the result says so.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from nnperf.errors import ModelError, NnperfError, UsageError
from nnperf.records.static_profile import PHASES, MemoryBreakdown, ModuleCall, OpRecord, StaticProfile
from nnperf.static import aggregate
from nnperf.static.counter import CostCounter
from nnperf.static.memory import LiveBytes, SavedForBackward, storage_bytes
from nnperf.static.meta_cache import MetaOutputCache
from nnperf.static.optimizers import OPTIMIZERS, default_optimizer, make_optimizer
from nnperf.static.params import count_parameters
from nnperf.static.scope import ModuleScope

MODES = ("infer", "train")
TENSOR_MODES = ("auto", "meta", "fake", "cpu")
AUTOCAST_DTYPES = ("bf16", "fp16")
# Above this many parameters a model that fails on meta tensors is not retried on real CPU tensors.
_CPU_FALLBACK_MAX_BYTES = 4 * 2**30


def _tensors(value: Any) -> list[torch.Tensor]:
    flat, _ = tree_flatten(value)
    return [t for t in flat if isinstance(t, torch.Tensor)]


@dataclass(slots=True)
class _Pass:
    records: list[OpRecord]
    calls: list[ModuleCall]
    peak: int
    extra: dict[str, int]
    saved_by_module: dict[str, int] | None = None
    input_shapes: tuple[tuple[int, ...], ...] = ()


def _autocast(device: torch.device, dtype: str | None) -> contextlib.AbstractContextManager:
    """Mixed precision around forward and loss, as in ``torch.autocast`` recipes (backward outside)."""
    if dtype is None:
        return contextlib.nullcontext()
    from nnperf.models import DTYPES

    return torch.autocast(device.type, dtype=DTYPES[dtype])


def _inference_pass(
    workload: Any, device: torch.device, autocast: str | None = None, cache: MetaOutputCache | None = None
) -> _Pass:
    model = workload.model
    model.eval()
    quiet = CostCounter()  # a decode step's inputs come from an uncounted warm-up step: run it as the pass
    quiet.recording = False  # runs its ops (shape functions included, e.g. fp32 grouped_mm on meta)
    with quiet:
        args, kwargs = workload.make_inputs(device, train=False)
    kv_cache = workload.cache_tensors((args, kwargs))
    inputs = workload.input_tensors((args, kwargs))
    cache_ids = {id(t) for t in kv_cache}
    fed = [t for t in inputs if id(t) not in cache_ids]  # what the step is fed, its cache apart
    fixed = [*model.parameters(), *model.buffers(), *fed]
    baseline = storage_bytes(fixed)
    live = LiveBytes(exclude=fixed)
    # The cache is live data the step may replace: a dynamic cache frees each layer's old keys and values once
    # it has copied them into longer ones. Held here only by the cache itself, so those frees are seen.
    cache_before = storage_bytes(kv_cache)
    live.observe(kv_cache, "forward")
    del kv_cache, inputs
    scope = ModuleScope(model)
    counter = CostCounter(scope.current, live, cache)
    with scope, torch.inference_mode(), counter:
        counter.set_phase("forward")
        with _autocast(device, autocast):
            out = model(*args, **kwargs)
        del out
    # The keys and values held once the step has added its tokens: the same tensors for a static cache; a
    # dynamic cache replaced them with longer copies.
    held = max(cache_before, storage_bytes(workload.cache_tensors((args, kwargs))))
    return _Pass(
        counter.records,
        scope.calls,
        baseline + live.peak,
        {"inputs": storage_bytes(fed), "kv_cache": held},
        input_shapes=tuple(tuple(int(d) for d in t.shape) for t in fed),
    )


def _training_pass(
    workload: Any,
    device: torch.device,
    optimizer: str,
    autocast: str | None = None,
    cache: MetaOutputCache | None = None,
) -> _Pass:
    model = workload.model
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    args, kwargs = workload.make_inputs(device, train=True)
    inputs = _tensors((args, kwargs))
    fixed = [*model.parameters(), *model.buffers(), *inputs]
    baseline = storage_bytes(fixed)
    live = LiveBytes(exclude=fixed)
    saved = SavedForBackward(exclude=fixed)
    scope = ModuleScope(model, record_calls=False)
    counter = CostCounter(scope.current, live, cache)
    with scope, counter:
        for p in params:  # opt.zero_grad(set_to_none=True), without the torch._dynamo import it triggers
            p.grad = None
        counter.set_phase("forward")
        with saved.hooks(scope.current), _autocast(device, autocast):
            out = model(*args, **kwargs)
            counter.set_phase("loss")
            loss = workload.loss(out, (args, kwargs))
        counter.set_phase("backward")
        if loss.requires_grad:  # a fully frozen model has no backward (and nothing to optimize)
            loss.backward()
        scope.reset_backward()
        gradients = storage_bytes(p.grad for p in params if p.grad is not None)
        counter.set_phase("optimizer")
        end_of_backward = live.current  # gradients and whatever the step still holds
        state, transient = _optimizer_step(counter, live, optimizer, params)
        del out, loss
    step_peak = max(live.peak_by_phase.get(p, 0) for p in ("forward", "loss", "backward"))
    optimizer_peak = end_of_backward + transient
    peak_dynamic = state + max(step_peak, optimizer_peak)
    phase = (
        "optimizer"
        if optimizer_peak > step_peak
        else max(("forward", "loss", "backward"), key=lambda p: live.peak_by_phase.get(p, 0))
    )
    for p in params:  # leave the model as it was given
        p.grad = None
    extra = {
        "gradients": gradients,
        "optimizer": state,
        "activations": saved.total,
        "inputs": storage_bytes(inputs),
        "peak_phase": PHASES.index(phase),
    }
    by_module = saved.by_module()
    return _Pass(counter.records, [], baseline + peak_dynamic, extra, by_module)


def _optimizer_step(
    counter: CostCounter, live: LiveBytes, optimizer: str, params: list[torch.nn.Parameter]
) -> tuple[int, int]:
    """Cost one *steady-state* optimizer step; return (optimizer state bytes, peak transient bytes).

    PyTorch's CPU optimizers update parameters one at a time (the for-loop implementation), and the update
    of a parameter depends only on its shape and dtype. So the step is run for one representative of each
    (shape, dtype) group, its ops recorded with ``count`` = the group's size: the same totals as updating
    every parameter, at a fraction of the cost (GPT-3 175B: 12 updates instead of 1,156). Each
    representative is stepped twice and only the second step is recorded, because the first step of some
    optimizers differs (SGD's momentum buffer starts as a copy of the gradient; later steps scale and add).
    State bytes are the representatives' state times their counts; the transient is the most the update
    of one parameter allocates beyond its state.
    """
    groups: dict[tuple, list[torch.nn.Parameter]] = {}
    for p in params:
        if p.grad is not None:
            groups.setdefault((tuple(p.shape), p.dtype, p.device, p.grad.dtype), []).append(p)
    state = transient = 0
    keep = []  # representatives' optimizers hold their state until the phase ends
    for members in groups.values():
        rep = members[0]
        opt = make_optimizer(optimizer, [rep])
        if opt is None:
            return 0, 0
        keep.append(opt)
        counter.recording = False
        opt.step()  # the first step creates the state
        counter.recording = True
        rep_state = storage_bytes(_tensors([dict(s) for s in opt.state.values()]))
        state += rep_state * len(members)
        counter.count = len(members)
        live.start_window()
        before = live.current
        try:
            opt.step()
        finally:
            counter.count = 1
        transient = max(transient, live.window_peak - before)
    return state, transient


class _PassFailed(Exception):
    """The model raised in one of the passes; ``stage`` says which, for the error message."""

    def __init__(self, stage: str, cause: Exception) -> None:
        super().__init__(stage)
        self.stage = stage
        self.cause = cause


def _stage(stage: str, fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except NnperfError:
        raise
    except Exception as exc:
        raise _PassFailed(stage, exc) from exc


def _run(workload: Any, tensor_mode: str, optimizer: str, autocast: str | None) -> tuple[_Pass, _Pass | None]:
    """Both passes; the training step is ``None`` for a decode step (inference only)."""
    scope: contextlib.AbstractContextManager = contextlib.nullcontext()
    cache = None
    if tensor_mode == "fake":
        scope = _stage("conversion to fake tensors", _to_fake, workload.model)
        device = torch.device("cpu")
    else:
        device = torch.device(tensor_mode)
        # one memo for both passes: the training forward repeats the inference pass's ops
        cache = MetaOutputCache() if tensor_mode == "meta" else None
    with scope:
        infer = _stage("inference pass", _inference_pass, workload, device, autocast, cache)
        if workload.spec.context is not None:
            return infer, None
        return infer, _stage("training step", _training_pass, workload, device, optimizer, autocast, cache)


def _failure_hint(exc: Exception, batch: int) -> str:
    """The fix for failures users meet on a first try, where PyTorch's own message does not say it."""
    if batch == 1 and "Expected more than 1 value per channel when training" in str(exc):
        return (
            "; batch norm in training mode needs more than one sample per channel: use a batch of 2 or more"
        )
    return ""


def _to_fake(model: torch.nn.Module) -> Any:
    """Swap a meta model's parameters and buffers for FakeTensors that claim to be on the CPU.

    Meta tensors have no device semantics, so ``torch.autocast`` (keyed by device) ignores them; fake CPU
    tensors behave exactly like CPU tensors for dispatch (autocast, kernel choice) while holding no data.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode

    mode = FakeTensorMode()
    cpu = torch.device("cpu")
    memo: dict[int, torch.Tensor] = {}  # tied parameters stay tied

    def fake(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in memo:
            f = mode.fake_tensor_converter.from_meta_and_device(mode, t.detach().to("meta"), cpu)
            memo[id(t)] = torch.nn.Parameter(f, t.requires_grad) if isinstance(t, torch.nn.Parameter) else f
        return memo[id(t)]

    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None:
                module._parameters[name] = fake(p)
        for name, b in module._buffers.items():
            if b is not None:
                module._buffers[name] = fake(b)
    return mode


def summarize(
    model: Any,
    *,
    batch: int = 1,
    input: tuple[int, ...] | str | None = None,
    seq: int | None = None,
    dtype: str = "fp32",
    mode: str = "infer",
    optimizer: str | None = None,
    attn_implementation: str | None = None,
    autocast: str | None = None,
    tensor_mode: str = "auto",
    context: int | None = None,
    cache: str = "static",
) -> StaticSummary:
    """Static analysis of ``model``: params, FLOPs and bytes per op and module, forward and backward, memory.

    ``model`` is a registered name (``nnperf models``), a transformers ``config.json`` path, a
    ``file.py:factory`` / ``package.module:factory`` string, or an ``nn.Module`` (then give ``input``).
    ``mode`` picks which forward pass ``forward`` reports (eval-mode inference or the training step's);
    both passes are always analysed. ``autocast`` ("bf16" or "fp16") runs forward and loss under
    ``torch.autocast`` (CPU), which needs FakeTensors instead of meta tensors. ``tensor_mode`` "auto" tries
    meta (fake with autocast) tensors, then real CPU tensors.

    ``context`` (causal language models): analyse one *decode step* of generation instead, ``seq`` new tokens
    per sequence (default 1) attending to ``context`` tokens in a static KV cache; the cache's bytes are
    ``memory.kv_cache``. A decode step is inference only: no training step is analysed. ``cache`` "dynamic"
    holds the context in a ``DynamicCache`` instead (generate()'s default: the step copies the cache to append
    to it); ``context=0`` is the prefill, the ``seq`` prompt tokens written into an empty cache.
    """
    from nnperf.models import InputSpec, build_workload, parse_dtype, parse_shape

    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}: use 'infer' or 'train'")
    if tensor_mode not in TENSOR_MODES:
        raise UsageError(f"unknown tensor mode {tensor_mode!r}: use one of {', '.join(TENSOR_MODES)}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise UsageError(f"batch size must be a positive integer, got {batch!r}")
    if seq is not None and (not isinstance(seq, int) or seq < 1):
        raise UsageError(f"sequence length must be a positive integer, got {seq!r}")
    if optimizer is not None and optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    sample_shape = parse_shape(input) if isinstance(input, str) else (tuple(input) if input else None)
    parse_dtype(dtype)
    if autocast is not None and autocast not in AUTOCAST_DTYPES:
        raise UsageError(f"unknown autocast dtype {autocast!r}: use one of {', '.join(AUTOCAST_DTYPES)}")
    if context is not None and mode != "infer":
        raise UsageError("a decode step (KV-cache context) is inference only: use mode 'infer'")
    if cache != "static" and context is None:
        raise UsageError(f"a {cache} KV cache needs a decode step: give a context (--context N)")
    spec = InputSpec(
        batch=batch,
        sample_shape=sample_shape,
        seq=seq,
        dtype=dtype,
        attn_implementation=attn_implementation,
        context=context,
        cache=cache,
    )

    warnings: list[str] = []
    first = "fake" if autocast else "meta"
    order = [first, "cpu"] if tensor_mode == "auto" else [tensor_mode]
    result: tuple[_Pass, _Pass] | None = None
    workload = None
    used = order[0]
    for attempt, device_name in enumerate(order):
        workload = build_workload(model, spec, device="meta" if device_name == "fake" else device_name)
        if device_name == "fake" and workload.source == "module":
            workload.model = copy.deepcopy(workload.model)  # never swap tensors inside the caller's module
        opt_name = optimizer or default_optimizer(workload.family)
        try:
            result = _run(workload, device_name, opt_name, autocast)
            used = device_name
            break
        except _PassFailed as failure:
            exc = failure.cause
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if attempt + 1 < len(order):
                size = count_parameters(workload.model).param_bytes
                if size > _CPU_FALLBACK_MAX_BYTES:
                    raise ModelError(
                        f"model {workload.name!r} fails on meta tensors ({reason}) and is too large "
                        f"({size / 2**30:.1f} GiB) to run on real CPU tensors instead"
                    ) from exc
                warnings.append(
                    f"the model failed on {device_name} tensors ({reason}); counted on real CPU tensors"
                )
                continue
            tried = " and ".join(order[: attempt + 1])
            raise ModelError(
                f"model {workload.name!r} failed in its {failure.stage} (batch {batch}) on {tried} tensors: "
                f"{reason}{_failure_hint(exc, batch)}"
            ) from exc
    assert result is not None and workload is not None
    infer, train = result
    counts = count_parameters(workload.model)
    trained = train.extra if train is not None else {}
    memory = MemoryBreakdown(
        parameters=counts.param_bytes,
        buffers=counts.buffer_bytes,
        gradients=trained.get("gradients", 0),
        optimizer=trained.get("optimizer", 0),
        activations=trained.get("activations", 0),
        inputs=infer.extra["inputs"],
        peak_train=train.peak if train is not None else 0,
        peak_infer=infer.peak,
        peak_train_phase=PHASES[trained["peak_phase"]] if train is not None else "",
        method=f"live-tensor liveness over {used} tensors "
        + ("(steady-state training step)" if train is not None else "(decode step; no training step)"),
        kv_cache=infer.extra["kv_cache"],
    )
    train_records = train.records if train is not None else []
    uncounted = aggregate.uncounted(infer.records + train_records)
    if uncounted:
        warnings.append(
            f"{len(uncounted)} op(s) have no cost formula and are reported as uncounted: "
            + ", ".join(f"{op} x{n}" for op, n in list(uncounted.items())[:5])
        )
    profile = StaticProfile(
        model=workload.name,
        source=workload.source,
        family=workload.family,
        input=workload.input_description,
        batch=workload.spec.batch,
        dtype=workload.spec.dtype + (f" (autocast {autocast})" if autocast else ""),
        mode=mode,
        optimizer=optimizer or default_optimizer(workload.family),
        tensor_mode=used,
        params_total=counts.total,
        params_trainable=counts.trainable,
        buffers_total=counts.buffers,
        infer_ops=infer.records,
        train_ops=train_records,
        modules=infer.calls,
        memory=memory,
        warnings=warnings,
        activations_by_module=(train.saved_by_module or {}) if train is not None else {},
        input_shapes=infer.input_shapes,
        context=workload.spec.context,
        training_analysed=train is not None,
    )
    return StaticSummary(profile)


class StaticSummary:
    """The result of :func:`summarize`: the raw :class:`StaticProfile` plus derived totals."""

    def __init__(self, profile: StaticProfile) -> None:
        self.profile = profile

    # -- totals by pass and phase -------------------------------------------------------------------------
    def _phase(self, records: list[OpRecord], phase: str) -> aggregate.Totals:
        return aggregate.totals(r for r in records if r.phase == phase)

    @property
    def forward(self) -> aggregate.Totals:
        """The forward pass of the selected mode (eval inference, or the training step's forward)."""
        if self.profile.mode == "infer":
            return aggregate.totals(self.profile.infer_ops)
        return self._phase(self.profile.train_ops, "forward")

    @property
    def inference(self) -> aggregate.Totals:
        return aggregate.totals(self.profile.infer_ops)

    @property
    def training(self) -> dict[str, aggregate.Totals]:
        return {p: self._phase(self.profile.train_ops, p) for p in PHASES}

    @property
    def backward(self) -> aggregate.Totals:
        return self._phase(self.profile.train_ops, "backward")

    @property
    def optimizer(self) -> aggregate.Totals:
        return self._phase(self.profile.train_ops, "optimizer")

    @property
    def memory(self) -> MemoryBreakdown:
        return self.profile.memory

    @property
    def uncounted_ops(self) -> dict[str, int]:
        return aggregate.uncounted(self.profile.infer_ops + self.profile.train_ops)

    @property
    def ops(self) -> list[OpRecord]:
        """Op records of the selected mode: the inference pass, or the whole training step."""
        return self.profile.infer_ops if self.profile.mode == "infer" else self.profile.train_ops

    def to_dict(self, include_ops: bool = False) -> dict[str, Any]:
        from nnperf.static.export import summary_to_dict

        return summary_to_dict(self, include_ops=include_ops)

    def __repr__(self) -> str:
        p = self.profile
        f = self.forward
        return (
            f"StaticSummary(model={p.model!r}, params={p.params_total:,}, forward_flops={f.flops:,}, "
            f"backward_flops={self.backward.flops:,}, peak_train={p.memory.peak_train:,} B)"
        )
