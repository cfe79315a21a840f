"""Static analysis of a whole generation: the prefill of a prompt, then one decode step per further token.

``generate`` with a KV cache runs a *prefill* (the ``prompt`` tokens written into an empty cache; its logits give
the first new token) and then ``generate - 1`` *decode steps*, each one token attending to the ``context`` tokens
cached so far, for contexts ``prompt .. prompt + generate - 2``. Analysing every step on meta tensors would take
one static analysis per token; this module analyses the prefill and at most three decode steps instead:

* a decode step runs the same ops at every context, and each op's FLOPs and bytes are an affine function of
  the context (attention reads and multiplies ``context`` keys and values; everything else is constant), so
  two steps determine all of them. A third step, between the two, is analysed and compared *exactly* (integer
  FLOPs and bytes) with the interpolation: a model whose step is not affine (a sliding window the context
  outgrows, a cache that changes shape) is refused with its reason, never estimated from a wrong fit;
* with three decode steps or fewer, each is analysed: nothing is interpolated.

The cache is generate()'s default, a ``DynamicCache``: each step attends to exactly the tokens cached so far
and appends its keys and values by copying the cache (``torch.cat``), bytes counted as they run. ``cache="static"``
writes them in place into a cache sized to the tokens so far instead (what a paged or preallocated cache does
without the padding: ``generate(cache_implementation="static")`` pads its cache to the whole generation and
attends, masked, to all of it, which costs more). Memory is the larger of the prefill's and the last step's peak
(weights, cache, live activations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nnperf.errors import ModelError, UsageError


@dataclass(frozen=True)
class AffineOp:
    """One op of the decode step: FLOPs and bytes per call at context ``L`` are ``x0 + dx * L``."""

    op: str
    kind: str | None
    flops0: float
    dflops: float
    bytes0: float
    dbytes: float
    count: int

    def at(self, context: int) -> tuple[float, float]:
        return self.flops0 + self.dflops * context, self.bytes0 + self.dbytes * context


@dataclass(slots=True)
class GenerationProfile:
    """What :func:`analyse_generation` found: the prefill's summary and the decode step as affine ops."""

    model: str
    batch: int
    prompt: int
    generate: int
    dtype: str
    cache: str  # "dynamic" or "static"
    prefill: Any  # StaticSummary of the prefill
    decode_ops: list[AffineOp]  # costed ops (FLOPs known, bytes moved); empty when generate == 1
    decode_contexts: list[int]  # the contexts analysed
    method: str  # "exact" (every decode step analysed), "affine" (fitted, checked at a middle step) or "none"
    peak_bytes: int
    kv_cache_bytes: int  # at the end of the generation (the last step's cache)
    uncounted: dict[str, int] = field(default_factory=dict)  # op -> calls over the whole generation

    @property
    def steps(self) -> range:
        """The contexts of the decode steps, one per token after the first."""
        return range(self.prompt, self.prompt + self.generate - 1)


def _key(r: Any) -> tuple[Any, ...]:
    return (r.op, r.module, r.kind, r.phase, r.count, r.flops is None)


def _fit(summaries: dict[int, Any]) -> list[AffineOp]:
    """The decode step's costed ops as affine functions of the context, from the step at the smallest and the
    largest analysed context; every other analysed step must match the line exactly."""
    contexts = sorted(summaries)
    lo, hi = contexts[0], contexts[-1]
    records = {c: summaries[c].profile.infer_ops for c in contexts}
    base = records[lo]
    for c in contexts[1:]:
        if [_key(r) for r in records[c]] != [_key(r) for r in base]:
            raise ModelError(
                f"the decode step runs different ops at context {lo} and {c} (a sliding window or a cache that "
                "changes shape?): nnperf cannot interpolate it; analyse single steps with "
                "`nnperf summary MODEL --context N`"
            )
    ops: list[AffineOp] = []
    span = hi - lo
    for i, r in enumerate(base):
        if r.flops is None:
            continue
        top = records[hi][i]
        if span == 0:
            dflops = dbytes = 0.0
        else:
            dflops, dbytes = (top.flops - r.flops) / span, (top.bytes - r.bytes) / span
            for c in contexts[1:-1]:
                mid = records[c][i]
                # Exact, in integers: (mid - lo_value) * span == (top - lo_value) * (c - lo).
                if (mid.flops - r.flops) * span != (top.flops - r.flops) * (c - lo) or (
                    mid.bytes - r.bytes
                ) * span != (top.bytes - r.bytes) * (c - lo):
                    raise ModelError(
                        f"the cost of {r.op} in {r.module or 'the model'} is not linear in the context between "
                        f"{lo} and {hi} (checked at {c}): nnperf cannot interpolate the decode steps; analyse "
                        "single steps with `nnperf summary MODEL --context N`"
                    )
        if r.bytes == 0 and (top.bytes == 0):
            continue  # moves no bytes at any context: a view, no kernel
        ops.append(
            AffineOp(r.op, r.kind, r.flops - dflops * lo, dflops, r.bytes - dbytes * lo, dbytes, r.count)
        )
    return ops


def analyse_generation(
    model: Any,
    *,
    prompt: int,
    generate: int,
    batch: int = 1,
    dtype: str = "fp32",
    attn_implementation: str | None = None,
    cache: str = "dynamic",
) -> GenerationProfile:
    """Analyse the prefill of ``prompt`` tokens and the ``generate - 1`` decode steps after it (causal LMs).

    ``cache`` "dynamic" (generate()'s default) appends each step's keys and values by copying the cache;
    "static" writes them in place into a cache sized to the tokens so far."""
    from nnperf.static.summary import summarize

    for name, value in (("prompt", prompt), ("generate", generate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"--{name} {value!r} must be a positive number of tokens, e.g. --{name} 128")
    kw: dict[str, Any] = {
        "batch": batch,
        "dtype": dtype,
        "attn_implementation": attn_implementation,
        "cache": cache,
    }
    prefill = summarize(model, seq=prompt, context=0, **kw)
    steps = list(range(prompt, prompt + generate - 1))
    contexts = steps if len(steps) <= 3 else [steps[0], steps[len(steps) // 2], steps[-1]]
    # The last step's positions reach prompt + generate - 1: summarize refuses it if the model has fewer.
    try:
        decode = {c: summarize(model, seq=1, context=c, **kw) for c in contexts}
    except UsageError as exc:
        limit = re.search(r"exceeds the model's (\d+) positions", str(exc))
        if limit is None:
            raise
        raise UsageError(
            f"--prompt {prompt} and --generate {generate} need {prompt + generate - 1} positions (the last token "
            f"is not fed back), more than the model's {limit.group(1)}: shorten the prompt or the generation"
        ) from None
    ops = _fit(decode) if decode else []
    method = "none" if not decode else "exact" if contexts == steps else "affine"
    uncounted: dict[str, int] = dict(prefill.uncounted_ops)
    if decode:
        for op, n in decode[contexts[0]].uncounted_ops.items():
            uncounted[op] = uncounted.get(op, 0) + n * len(steps)
    last = decode[contexts[-1]].profile.memory if decode else prefill.profile.memory
    return GenerationProfile(
        model=prefill.profile.model,
        batch=batch,
        prompt=prompt,
        generate=generate,
        dtype=prefill.profile.dtype,
        cache=cache,
        prefill=prefill,
        decode_ops=ops,
        decode_contexts=contexts,
        method=method,
        peak_bytes=max(prefill.profile.memory.peak_infer, last.peak_infer),
        kv_cache_bytes=last.kv_cache,
        uncounted=uncounted,
    )
