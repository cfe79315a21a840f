"""Expand a study into cases: models x axis values x environments x repetitions, each one RunSpec.

* **Overrides.** An environment's settings replace the axis values of the same name, so two axis values can
  become one case (``threads: [1, 2]`` in an environment fixing ``threads: 1``); such duplicates are merged,
  never run twice (:attr:`Expansion.merged` counts them). Likewise the optimizer of an inference case is
  dropped, since inference never steps one.
* **Invalid combinations** of values that are each valid (``compile`` with ``jit``, DataLoader workers on
  synthetic data, ...) are left out with a one-line reason each (:attr:`Expansion.skipped`); the rules are a
  list of functions, one per rule, in :data:`RULES`.
* **Order.** Repetitions outermost, environments innermost: the settings a study compares run next to each
  other, so a machine's slow drift (heat, a neighbour's job) falls on all of them alike, and each repetition
  is a full pass over the study taken at a different time.
* **Stable ids.** A case id is the first 16 hex digits of the SHA-256 of its canonical JSON (study name,
  environment name, model label and input, the RunSpec, the repetition and whether it is profiled): the same
  spec gives the same ids on every machine, which is what lets a results store resume and merge.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nnperf.errors import UsageError
from nnperf.experiments.spec import TEXT_FAMILIES, Environment, ModelEntry, StudySpec
from nnperf.records.measurement import RunSpec

__all__ = ["RULES", "Case", "Expansion", "case_id", "expand"]


@dataclass(frozen=True)
class Case:
    """One measured run of a study: a RunSpec in an environment (``repetition`` counts from 1)."""

    id: str
    environment: Environment
    model: ModelEntry
    spec: RunSpec
    repetition: int = 1


@dataclass(frozen=True)
class Expansion:
    cases: list[Case]
    skipped: list[str] = field(default_factory=list)  # one line per combination left out, with the reason
    merged: int = 0  # combinations that were the same case as an earlier one (after overrides)


def case_id(
    study: str, environment: str, model: ModelEntry, spec: RunSpec, repetition: int, profile: bool
) -> str:
    """The 16-hex-digit id of a case (see the module docstring)."""
    canonical = {
        "study": study,
        "environment": environment,
        "model": model.label,
        "input": list(model.input) if model.input else None,
        "spec": spec.to_dict(),
        "repetition": repetition,
        "profile": profile,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- combinations that cannot run: each rule returns the reason, or None --------------------------------
Rule = Callable[[dict[str, Any], ModelEntry], str | None]


def _compile_and_jit(v: dict[str, Any], m: ModelEntry) -> str | None:
    if v["compile"] is not None and v["jit"]:
        return "compile and jit both set: pick one way to compile the model"
    return None


def _workers_on_synthetic(v: dict[str, Any], m: ModelEntry) -> str | None:
    if v["workers"] and v["data"] == "synthetic":
        return "DataLoader workers need a real pipeline (data: generated or a directory), not synthetic data"
    return None


def _autocast_over_low_precision(v: dict[str, Any], m: ModelEntry) -> str | None:
    if v["autocast"] is not None and v["dtype"] != "fp32":
        return f"autocast {v['autocast']} over {v['dtype']} weights: autocast is mixed precision over fp32 weights"
    return None


def _channels_last_on_tokens(v: dict[str, Any], m: ModelEntry) -> str | None:
    if v["channels_last"] and m.family in TEXT_FAMILIES:
        return f"channels_last is a layout of image batches; {m.name!r} takes token ids"
    return None


def _image_folder_for_tokens(v: dict[str, Any], m: ModelEntry) -> str | None:
    if v["data"] not in ("synthetic", "generated") and m.family in TEXT_FAMILIES:
        return (
            f"data {v['data']!r} is an image folder; {m.name!r} takes token ids (use synthetic or generated)"
        )
    return None


def _decode_steps_are_inference_on_tokens(v: dict[str, Any], m: ModelEntry) -> str | None:
    if m.context is None:
        return None
    if v["mode"] != "infer":
        return "a decode step (context) is inference only"
    if v["data"] != "synthetic":
        return f"a decode step (context) runs on synthetic tokens, not data {v['data']!r}"
    return None


RULES: list[Rule] = [
    _decode_steps_are_inference_on_tokens,
    _compile_and_jit,
    _workers_on_synthetic,
    _autocast_over_low_precision,
    _channels_last_on_tokens,
    _image_folder_for_tokens,
]


def _normalize(values: dict[str, Any]) -> dict[str, Any]:
    """Settings that cannot change the run take one value, so cases differing only there merge."""
    if values["mode"] == "infer":
        values = {**values, "optimizer": None}
    return values


def expand(study: StudySpec) -> Expansion:
    """Every case of ``study``, in run order, with the combinations left out and why (module docstring)."""
    from nnperf.measure.bench import validate

    run = study.run
    names = list(study.axes)
    cases: list[Case] = []
    seen: set[str] = set()
    skipped: list[str] = []
    skipped_seen: set[str] = set()
    merged = 0
    for repetition in range(1, run.repetitions + 1):
        for model in study.models:
            for combo in itertools.product(*(study.axes[n] for n in names)):
                for env in study.environments:
                    values = {**dict(zip(names, combo, strict=True)), **env.overrides}
                    spec = RunSpec(
                        model=model.name,
                        seq=model.seq,
                        context=model.context,
                        warmup=run.warmup,
                        min_iters=run.min_iters,
                        min_time_s=run.min_time_s,
                        budget_s=run.budget_s,
                        **_normalize(values),
                    )
                    reason = next((r for rule in RULES if (r := rule(values, model)) is not None), None)
                    if reason is None and env.is_local:
                        # A safety net: the spec's validation should have refused anything bench refuses.
                        try:
                            validate(spec)
                        except UsageError as exc:
                            reason = str(exc)
                    if reason is not None:
                        line = f"{model.label} in {env.name} ({spec.key().split(' ', 1)[1]}): {reason}"
                        if line not in skipped_seen:
                            skipped_seen.add(line)
                            skipped.append(line)
                        continue
                    cid = case_id(study.name, env.name, model, spec, repetition, run.profile)
                    if cid in seen:
                        merged += 1
                        continue
                    seen.add(cid)
                    cases.append(Case(cid, env, model, spec, repetition))
    return Expansion(cases=cases, skipped=skipped, merged=merged)
