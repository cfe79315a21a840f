"""Machines a model can be projected onto (``nnperf predict --on``), by name.

A target is one of:

* ``cpu``: this machine's CPU, from its machine profile (measured roofs, the nominal ones where not measured);
* ``gpu``: this machine's CUDA GPU, from the same profile's GPU section and nnperf's spec-sheet table;
* a card of the spec-sheet table (``h100-sxm5-80gb``, ``a100-sxm4-40gb``, ``l4``, ...; ``nnperf predict
  --list-cards``): nominal roofs only, labelled so;
* ``FILE.json``: a machine profile saved on another machine (``nnperf machine --json > FILE.json``): its GPU
  when it measured one, else its CPU; ``FILE.json:cpu`` or ``FILE.json:gpu`` to choose.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nnperf.analysis.projection import Target
from nnperf.analysis.roofline import card_ceilings, ceilings_from_profile, gpu_ceilings
from nnperf.errors import UsageError
from nnperf.machine.nominal import GPU_TABLE, nominal_gpu

__all__ = [
    "assume_floor",
    "card_names",
    "find_card",
    "parse_targets",
    "target_from_card",
    "target_from_profile",
]


def card_names() -> list[str]:
    """The table's cards as ``--on`` takes them: the model name in lower case, words joined by '-'."""
    return [_slug(card["model"]) for card in GPU_TABLE]


def _slug(model: str) -> str:
    return "-".join(model.lower().replace("geforce ", "").split())


def find_card(name: str) -> dict[str, Any]:
    """The table row named ``name`` (a slug from :func:`card_names`, or a ``torch.cuda`` device name)."""
    key = name.strip().lower()
    for card in GPU_TABLE:
        if _slug(card["model"]) == key:
            out = copy.deepcopy(card)
            del out["pattern"]
            return out
    card = nominal_gpu(name)
    if card is not None:
        return card
    close = [n for n in card_names() if n.startswith(key.split("-")[0])]
    hint = f"did you mean {' or '.join(close)}?" if close else "`nnperf predict --list-cards` lists them"
    raise UsageError(
        f"unknown target {name!r}: not 'cpu', 'gpu', a .json machine profile or a card of nnperf's spec-sheet "
        f"table ({hint})"
    )


def target_from_card(name: str) -> Target:
    card = find_card(name)
    return Target(
        name=name,
        device=f"{card['model']} (spec sheet)",
        kind="gpu",
        ceilings=card_ceilings(card),
        memory_level="hbm",
        memory_bytes=card.get("memory_bytes"),
        memory_source="spec sheet (labelled capacity)",
    )


def _gpu_section(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(measured GPU section, first probed device) of a profile dict; empty dicts where absent."""
    measured = (data.get("measured") or {}).get("gpu") or {}
    probed = (data.get("probes") or {}).get("gpu") or {}
    devices = probed.get("devices") or []
    return (measured if measured.get("available") else {}), (devices[0] if devices else {})


def target_from_profile(profile: Any, which: str | None, name: str) -> Target:
    """The CPU or GPU (``which``; None: the GPU when measured, else the CPU) of a machine profile."""
    data = profile.to_dict() if hasattr(profile, "to_dict") else profile
    measured_gpu, device = _gpu_section(data)
    if which is None:
        which = "gpu" if measured_gpu else "cpu"
    if which == "gpu":
        gpu_name = measured_gpu.get("name") or device.get("name")
        if not gpu_name:
            raise UsageError(
                f"target {name!r}: the machine profile has no GPU (measured or probed): use its CPU "
                "(':cpu' or 'cpu') or name a card such as h100-sxm5-80gb"
            )
        card = nominal_gpu(gpu_name) or {}
        capacity = device.get("total_memory_bytes") or card.get("memory_bytes")
        overhead = measured_gpu.get("launch_overhead_s")
        return Target(
            name=name,
            device=str(gpu_name),
            kind="gpu",
            ceilings=gpu_ceilings(gpu_name, data),
            memory_level="hbm",
            memory_bytes=capacity,
            memory_source="torch total_memory" if device.get("total_memory_bytes") else "spec sheet",
            call_overhead_s=overhead,
            overhead_source="measured back-to-back kernel launch" if overhead else "",
        )
    if which != "cpu":
        raise UsageError(f"unknown part {which!r} of target {name!r}: use ':cpu' or ':gpu'")
    cpu = (data.get("probes") or {}).get("cpu") or {}
    sweep = (data.get("measured") or {}).get("sweep") or {}
    overhead = sweep.get("call_overhead_s")
    cores = cpu.get("cores")
    return Target(
        name=name,
        device=f"{cpu.get('model') or 'CPU'}" + (f", {cores} cores" if cores else ""),
        kind="cpu",
        ceilings=ceilings_from_profile(data),
        memory_level="dram",
        memory_bytes=cpu.get("memory_bytes"),
        memory_source="system memory (probe)",
        call_overhead_s=overhead,
        overhead_source="measured tiny torch call (cache sweep)" if overhead else "",
    )


def assume_floor(target: Target, seconds: float) -> Target:
    """``target`` with an assumed per-call floor where it has no measured one (a measured one is kept)."""
    if target.call_overhead_s is not None:
        return target
    return dataclasses.replace(
        target, call_overhead_s=seconds, overhead_source="assumed with --assume-floor-us, not measured"
    )


def parse_targets(text: str, this_profile: Callable[[], Any]) -> list[Target]:
    """Targets from a comma-separated list; ``this_profile()`` is called (once) only if 'cpu' or 'gpu' is named."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UsageError(f"no target in {text!r}: name at least one, e.g. --on cpu,h100-sxm5-80gb")
    if len(set(names)) != len(names):
        raise UsageError(f"a target is named twice in {text!r}: name each once")
    cached: list[Any] = []

    def this() -> Any:
        if not cached:
            cached.append(this_profile())
        return cached[0]

    out: list[Target] = []
    for name in names:
        base, _, part = (
            name.partition(":") if name.count(":") == 1 and not Path(name).exists() else (name, "", "")
        )
        if name in ("cpu", "gpu", "cuda"):
            out.append(target_from_profile(this(), "cpu" if name == "cpu" else "gpu", name))
        elif base.lower().endswith(".json") or Path(base).is_file():
            from nnperf.machine.profile import load_profile

            if not Path(base).is_file():
                raise UsageError(
                    f"machine profile {base!r} not found: save one with `nnperf machine --json > FILE`"
                )
            out.append(target_from_profile(load_profile(base), part or None, name))
        else:
            out.append(target_from_card(name))
    return out
