"""A measured generation: time to first token, every decode step and the total, with the raw samples kept.

The measured counterpart of ``nnperf predict --prompt P --generate N`` (and of serving benchmarks' TTFT and
TPOT). Protocol, for a causal LM built with fresh weights on the device, in eval mode under
``torch.inference_mode``:

1. ``warmup`` whole generations, untimed (allocator, thread pools, lazy kernels);
2. ``repeats`` timed generations. Each: ``batch`` random prompts of ``prompt`` token ids; the **prefill** (the
   prompt through the model with an empty ``DynamicCache``, logits of the last token only, as ``generate``
   asks); the first token = argmax of those logits; then ``generate - 1`` **decode steps**, each the last
   token through the model with the cache, the next token its argmax. Greedy, no sampling, no stop on EOS:
   exactly ``generate`` tokens per sequence;
3. each phase is timed with ``clock`` around it, after a device synchronisation on CUDA so a time is the
   device's work and not its queueing; the raw samples are kept (``prefill_s[r]``, ``steps_s[r][i]``) and the
   statistics derived from them.

Other processes' share of the CPUs during the timed generations is recorded (a shared machine makes steps
slow). The dispatch-level counters and the profiler are left out: they would slow the steps they time.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from nnperf.analysis.stats import describe
from nnperf.errors import UsageError

SCHEMA = "nnperf.generation-measurement"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GenerationSpec:
    model: str
    prompt: int
    generate: int
    batch: int = 1
    dtype: str = "fp32"
    device: str = "cpu"
    threads: int | None = None
    warmup: int = 1
    repeats: int = 3

    def __post_init__(self) -> None:
        for name in ("prompt", "generate", "batch", "repeats"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} {value!r} must be a positive integer")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise UsageError(f"warmup {self.warmup!r} must be 0 or more generations")


@dataclass(slots=True)
class GenerationMeasurement:
    spec: GenerationSpec
    prefill_s: list[float] = field(default_factory=list)  # one per timed generation
    steps_s: list[list[float]] = field(default_factory=list)  # per timed generation: each decode step
    others_share: float | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def totals_s(self) -> list[float]:
        return [p + sum(s) for p, s in zip(self.prefill_s, self.steps_s, strict=True)]

    def step_at(self, i: int) -> list[float]:
        """The ``i``-th decode step's time in every timed generation."""
        return [s[i] for s in self.steps_s]

    def to_dict(self) -> dict[str, Any]:
        b, n = self.spec.batch, self.spec.generate
        all_steps = [x for s in self.steps_s for x in s]
        totals = self.totals_s
        total = statistics.median(totals) if totals else None
        per_token = describe(all_steps) if all_steps else None
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "spec": asdict(self.spec),
            "method": (
                "greedy generation with a DynamicCache under inference_mode; prefill = the prompt with "
                "logits_to_keep=1; one timed decode step per further token; medians over the timed generations"
            ),
            "time_s": {
                "first_token": describe(self.prefill_s),
                "per_output_token": per_token,
                "first_step": statistics.median(self.step_at(0)) if all_steps else None,
                "last_step": statistics.median(self.step_at(n - 2)) if all_steps else None,
                "total": describe(totals),
            },
            "throughput": {
                "tokens_per_s": b * n / total if total else None,
                "decode_tokens_per_s": b / per_token["median"] if per_token else None,
            },
            "raw": {"prefill_s": self.prefill_s, "steps_s": self.steps_s},
            "load": {"others_share": self.others_share},
            "environment": self.environment,
            "notes": list(self.notes),
        }


def measure_generation(
    spec: GenerationSpec, *, clock: Callable[[], float] = time.perf_counter
) -> GenerationMeasurement:
    """Run ``spec`` as the module docstring says and return the raw samples."""
    import torch

    from nnperf.machine.cpustat import load_window
    from nnperf.models import InputSpec, build_workload

    device = torch.device(spec.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            f"device {spec.device!r}: no CUDA GPU here (torch.cuda.is_available() is False): use cpu"
        )
    workload = build_workload(
        spec.model, InputSpec(batch=spec.batch, seq=spec.prompt, dtype=spec.dtype), device
    )
    if workload.family != "causal-lm":
        raise UsageError(
            f"a generation needs a causal language model; {spec.model!r} is a {workload.family} model"
        )
    positions = getattr(workload.model.config, "max_position_embeddings", None) or getattr(
        workload.model.config, "n_positions", None
    )
    if positions and spec.prompt + spec.generate - 1 > positions:
        raise UsageError(
            f"--prompt {spec.prompt} and --generate {spec.generate} need {spec.prompt + spec.generate - 1} "
            f"positions, more than the model's {positions}: shorten the prompt or the generation"
        )
    from transformers import DynamicCache

    model = workload.model.eval()
    vocab = workload.tokens.vocab_size
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    old_threads = torch.get_num_threads()
    out = GenerationMeasurement(spec=spec)
    out.environment = {
        "torch": torch.__version__,
        "device": str(device),
        "threads": spec.threads or old_threads,
    }
    if device.type == "cuda":
        out.environment["gpu"] = torch.cuda.get_device_name(device)

    def one_generation() -> tuple[float, list[float]]:
        ids = torch.randint(0, vocab, (spec.batch, spec.prompt), device=device)
        cache = DynamicCache(config=model.config)
        sync()
        t0 = clock()
        logits = model(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1).logits
        token = logits[:, -1].argmax(-1, keepdim=True)
        sync()
        prefill = clock() - t0
        steps: list[float] = []
        for _ in range(spec.generate - 1):
            t0 = clock()
            logits = model(input_ids=token, cache=cache, use_cache=True).logits
            token = logits[:, -1].argmax(-1, keepdim=True)
            sync()
            steps.append(clock() - t0)
        return prefill, steps

    try:
        if spec.threads is not None:
            torch.set_num_threads(spec.threads)
        with torch.inference_mode():
            for _ in range(spec.warmup):
                one_generation()
            with load_window() as window:
                for _ in range(spec.repeats):
                    prefill, steps = one_generation()
                    out.prefill_s.append(prefill)
                    out.steps_s.append(steps)
        out.others_share = window.result.others_share
    finally:
        torch.set_num_threads(old_threads)
    if out.others_share is not None and out.others_share > 0.10:
        out.notes.append(
            f"contention: other processes used {out.others_share:.0%} of the CPUs during the timed generations: "
            "the times understate this machine"
        )
    return out
