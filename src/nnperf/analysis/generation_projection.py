"""A whole generation (prefill + one decode step per token) timed at each target's roofs.

The method is :mod:`nnperf.analysis.projection`'s, applied to every step: the prefill's op calls, then each
decode step's, at context ``prompt .. prompt + generate - 2`` (their FLOPs and bytes from
:mod:`nnperf.static.generation`'s affine decode ops), each call at ``max(FLOPs / peak, bytes / bandwidth,
floor)``. Figures per target:

* **time to first token**: the prefill (its logits give the first token);
* **time per output token**: each decode step's time; the first and the last (the cache grows) and their mean;
* **total**: prefill plus every decode step; **tokens/s**: ``batch x generate / total`` and, for the decode
  phase alone, ``batch / mean step``;
* the memory the generation needs (the larger of the prefill's and the last step's peak) against capacity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nnperf.analysis.projection import (
    GEMM_KINDS,
    Target,
    TargetProjection,
    check_targets,
    costed_calls,
    project_target,
    rank_targets,
    uncounted_note,
)
from nnperf.analysis.roofline_points import roof_dtype
from nnperf.static.generation import GenerationProfile

SCHEMA = "nnperf.generation-projection"
SCHEMA_VERSION = 1
# Decode steps timed together: bounds the (steps x ops) arrays to a few MB for 70B-parameter models.
_CHUNK = 256


@dataclass(frozen=True)
class DecodeTiming:
    """The decode steps of a generation at one set of roofs."""

    first_s: float
    last_s: float
    total_s: float
    steps: int
    memory_bound_share: float  # of the total time at the roofs (no floor)

    @property
    def mean_s(self) -> float | None:
        return self.total_s / self.steps if self.steps else None


def time_decode_steps(
    gen: GenerationProfile, *, peak: float, gemm_peak: float, bandwidth: float, floor: float = 0.0
) -> DecodeTiming:
    """Every decode step of ``gen`` at the roofs: the sum over steps and ops of max(compute, memory, floor)."""
    steps = np.arange(gen.prompt, gen.prompt + gen.generate - 1, dtype=np.float64)
    if not steps.size or not gen.decode_ops:
        return DecodeTiming(0.0, 0.0, 0.0, int(steps.size), 0.0)
    ops = gen.decode_ops
    f0 = np.array([o.flops0 for o in ops])
    df = np.array([o.dflops for o in ops])
    b0 = np.array([o.bytes0 for o in ops])
    db = np.array([o.dbytes for o in ops])
    count = np.array([o.count for o in ops], dtype=np.float64)
    rate = np.array([gemm_peak if o.kind in GEMM_KINDS else peak for o in ops])
    per_step: list[np.ndarray] = []
    roofs_total = memory_total = 0.0
    for start in range(0, steps.size, _CHUNK):
        ctx = steps[start : start + _CHUNK, None]
        compute = (f0 + df * ctx) / rate
        memory = (b0 + db * ctx) / bandwidth
        at_roofs = np.maximum(compute, memory) * count
        roofs_total += float(at_roofs.sum())
        memory_total += float(np.where(memory >= compute, at_roofs, 0.0).sum())
        per_step.append((np.maximum(np.maximum(compute, memory), floor) * count).sum(axis=1))
    times = np.concatenate(per_step)
    return DecodeTiming(
        first_s=float(times[0]),
        last_s=float(times[-1]),
        total_s=float(times.sum()),
        steps=int(steps.size),
        memory_bound_share=memory_total / roofs_total if roofs_total > 0 else 0.0,
    )


@dataclass(slots=True)
class TargetGeneration:
    """One target's figures for the generation."""

    prefill: TargetProjection  # the prefill as `nnperf predict` times one pass (roofs, memory fit, notes)
    decode: DecodeTiming
    batch: int
    generate: int
    speedup: float = 1.0
    price_per_hour: float | None = None  # what the user pays for the target, when said (--price)

    @property
    def target(self) -> str:
        return self.prefill.target

    @property
    def total_s(self) -> float:
        return self.prefill.estimate_s + self.decode.total_s

    @property
    def tokens_per_s(self) -> float:
        return self.batch * self.generate / self.total_s if self.total_s > 0 else 0.0

    @property
    def cost_per_million(self) -> float | None:
        """Price of a million generated tokens at the estimated rate: price / 3600 / tokens per second."""
        if self.price_per_hour is None or not self.tokens_per_s:
            return None
        return self.price_per_hour / 3600 / self.tokens_per_s * 1e6

    @property
    def decode_tokens_per_s(self) -> float | None:
        mean = self.decode.mean_s
        return self.batch / mean if mean else None

    def to_dict(self) -> dict[str, Any]:
        p = self.prefill
        return {
            "target": p.target,
            "device": p.device,
            "kind": p.kind,
            "compute_roof": asdict(p.compute_roof),
            "gemm_roof": asdict(p.gemm_roof),
            "bandwidth_roof": asdict(p.bandwidth_roof),
            "call_overhead_s": p.call_overhead_s,
            "call_overhead_source": p.call_overhead_source,
            "time_s": {
                "first_token": p.estimate_s,
                "per_output_token": {
                    "first": self.decode.first_s if self.decode.steps else None,
                    "last": self.decode.last_s if self.decode.steps else None,
                    "mean": self.decode.mean_s,
                },
                "decode_total": self.decode.total_s,
                "total": self.total_s,
            },
            "prefill_memory_bound_share": p.memory_bound_share,
            "decode_memory_bound_share": self.decode.memory_bound_share,
            "throughput": {
                "tokens_per_s": self.tokens_per_s,
                "decode_tokens_per_s": self.decode_tokens_per_s,
            },
            "memory": {"required_bytes": p.required_bytes, "capacity_bytes": p.memory_bytes, "fits": p.fits},
            "speedup": self.speedup,
            "price_per_hour": self.price_per_hour,
            "cost_per_million_tokens": self.cost_per_million,
            "notes": list(p.notes),
        }


@dataclass(slots=True)
class GenerationProjection:
    model: str
    batch: int
    prompt: int
    generate: int
    dtype: str
    cache: str  # the KV cache: "dynamic" or "static"
    method: str  # how the decode steps were costed: "exact", "affine" or "none"
    decode_contexts: list[int]
    kv_cache_bytes: int
    targets: list[TargetGeneration]
    best: str | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "batch": self.batch,
            "prompt_tokens": self.prompt,
            "generated_tokens": self.generate,
            "dtype": self.dtype,
            "cache": self.cache,
            "decode_method": self.method,
            "decode_contexts_analysed": list(self.decode_contexts),
            "kv_cache_bytes": self.kv_cache_bytes,
            "method": (
                "prefill of the prompt, then one decode step per further token at the context it sees; every op "
                "call at max(FLOPs / peak, bytes / bandwidth), at least the target's per-call floor"
            ),
            "best": self.best,
            "targets": [t.to_dict() for t in self.targets],
            "notes": list(self.notes),
        }


def project_generation(
    gen: GenerationProfile, targets: list[Target], *, tf32: bool = False
) -> GenerationProjection:
    """Time ``gen`` on each target; ``best`` is the shortest total among the targets it fits."""
    dtype = roof_dtype(gen.dtype)
    check_targets(targets, dtype, tf32=tf32)
    prefill_records = costed_calls(gen.prefill.profile.infer_ops)
    out: list[TargetGeneration] = []
    for target in targets:
        gemm_dtype = "tf32" if tf32 and target.kind == "gpu" else dtype
        prefill = project_target(
            prefill_records,
            target,
            dtype=dtype,
            gemm_dtype=gemm_dtype,
            required_bytes=gen.peak_bytes,
            samples=gen.batch,
            tokens=gen.batch * gen.prompt,
        )
        decode = time_decode_steps(
            gen,
            peak=prefill.compute_roof.flops_per_s,
            gemm_peak=prefill.gemm_roof.flops_per_s,
            bandwidth=prefill.bandwidth_roof.bytes_per_s,
            floor=target.call_overhead_s or 0.0,
        )
        out.append(TargetGeneration(prefill, decode, gen.batch, gen.generate))
    best = rank_targets(out, lambda t: t.total_s, lambda t: t.prefill.fits)
    notes = [n for n in (uncounted_note(gen.uncounted),) if n]
    if gen.method == "affine":
        notes.append(
            f"decode steps: analysed at contexts {', '.join(map(str, gen.decode_contexts))}; every other step's "
            "FLOPs and bytes interpolated (linear in the context, checked exactly at the middle one)"
        )
    notes.append(
        "each decode step attends to exactly the tokens cached so far and "
        + (
            "copies the cache to append to it (a DynamicCache, generate()'s default)"
            if gen.cache == "dynamic"
            else "writes its keys and values in place (a static cache sized to them)"
        )
    )
    if best is None:
        notes.append("the generation fits none of the targets' memory: no best target")
    return GenerationProjection(
        model=gen.model,
        batch=gen.batch,
        prompt=gen.prompt,
        generate=gen.generate,
        dtype=dtype if not tf32 else f"{dtype} (GEMMs in tf32 on GPUs)",
        cache=gen.cache,
        method=gen.method,
        decode_contexts=list(gen.decode_contexts),
        kv_cache_bytes=gen.kv_cache_bytes,
        targets=out,
        best=best,
        notes=notes,
    )
