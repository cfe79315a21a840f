"""Measured GEMM FLOP/s per dtype through ``torch.mm``: a size sweep that finds the size reaching the peak.

Square ``n x n @ n x n`` products, ``2 n^3`` FLOPs each (one multiply-add = 2 FLOPs), timed with
:func:`nnperf.machine.protocol.time_fn` into a preallocated ``out=`` tensor (so the allocator is not timed).
Per size the figure is FLOPs / time; ``best`` at a size uses the fastest sample (what the machine *can*
reach, as STREAM reports its best time) and ``median`` the median sample; the size with the highest ``best``
is ``best_size``. The sweep walks sizes upwards and stops early when a size would take too long
(its time predicted from the rate so far) or when the rate has fallen well below the best for two sizes in a
row (past the peak: caches overflow, or an emulated dtype slows down with size).

``tf32`` means fp32 tensors with ``torch.backends.cuda.matmul.allow_tf32`` on (CUDA only), set in a context
that restores the previous value in ``finally``. On CPUs without native bf16/fp16 arithmetic (AVX512-BF16,
AVX512-FP16, AMX), torch converts element by element: the figure is still what torch reaches, but it is
flagged ``emulated``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nnperf.machine.protocol import Timing, time_fn, torch_threads

CPU_DTYPES = ("fp64", "fp32", "bf16", "fp16")
CUDA_DTYPES = ("fp64", "fp32", "tf32", "bf16", "fp16")

# CPU flags (as /proc/cpuinfo spells them) that give native arithmetic for a reduced-precision dtype.
_NATIVE_FLAGS = {
    "bf16": ("avx512_bf16", "amx_bf16", "avx_vnni_bf16", "bf16"),  # "bf16" spelling: arm64 (FEAT_BF16)
    "fp16": ("avx512_fp16", "amx_fp16", "fphp", "asimdhp"),  # arm64 half-precision arithmetic
}


def torch_dtype(name: str) -> Any:
    import torch

    return {
        "fp64": torch.float64,
        "fp32": torch.float32,
        "tf32": torch.float32,
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
    }[name]


def gemm_flops(n: int) -> int:
    """FLOPs of an n x n x n matrix product: n^3 multiply-adds, 2 FLOPs each."""
    return 2 * n**3


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The feature flags of the first CPU in /proc/cpuinfo (x86 'flags', arm64 'Features'); empty if unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_dtype_emulated(name: str, flags: set[str] | None = None) -> bool | None:
    """True when the CPU lacks native arithmetic for ``name`` (bf16/fp16); None when the flags are unknown."""
    if name not in _NATIVE_FLAGS:
        return False
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return None
    return not any(f in flags for f in _NATIVE_FLAGS[name])


@contextlib.contextmanager
def tf32_mode(enabled: bool) -> Iterator[None]:
    """Set ``torch.backends.cuda.matmul.allow_tf32`` (and cuDNN's) for a block; restored in ``finally``."""
    import torch

    prev_mm = torch.backends.cuda.matmul.allow_tf32
    prev_cudnn = torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_mm
        torch.backends.cudnn.allow_tf32 = prev_cudnn


def gemm_sweep(
    dtype: str,
    sizes: list[int],
    *,
    threads: int | None = None,
    device: str = "cpu",
    max_call_s: float = 1.0,
    budget_s: float = 10.0,
    protocol: dict[str, Any] | None = None,
    timer: Callable[..., Timing] = time_fn,
) -> dict[str, Any]:
    """FLOP/s of ``torch.mm`` at each size in ``sizes`` (ascending) for one dtype and thread count.

    Returns ``{"sizes", "flops_per_s" (best sample), "median_flops_per_s", "best_size", "best", "median",
    "samples" (seconds per call, per size), "threads", "emulated", "skipped"}``; ``skipped`` lists sizes not
    run and why (predicted call time over ``max_call_s``, past the peak, or the budget spent).
    """
    import time

    import torch

    protocol = dict(protocol or {})
    per_size_budget = protocol.pop("budget_s", None)
    is_cuda = device.startswith("cuda")
    sync: Callable[[], object] | None = torch.cuda.synchronize if is_cuda else None
    tdtype = torch_dtype(dtype)
    emulated = False if is_cuda else cpu_dtype_emulated(dtype)
    out: dict[str, Any] = {
        "sizes": [],
        "flops_per_s": [],
        "median_flops_per_s": [],
        "samples": [],
        "threads": None,
        "emulated": emulated,
        "skipped": [],
        "warnings": [],
    }
    start = time.perf_counter()
    tf32 = tf32_mode(dtype == "tf32") if is_cuda else contextlib.nullcontext()
    with torch_threads(None if is_cuda else threads) as used, tf32:
        out["threads"] = None if is_cuda else used
        rate = 0.0  # FLOP/s at the last size: predicts the next size's call time
        best = 0.0
        below = 0
        for n in sorted(sizes):
            left = budget_s - (time.perf_counter() - start)
            predicted = gemm_flops(n) / rate if rate > 0 else 0.0
            if predicted > max_call_s:
                out["skipped"].append({"size": n, "reason": f"predicted {predicted:.2g} s per call"})
                continue
            if left <= 0 or predicted * 3 > left:
                out["skipped"].append({"size": n, "reason": "time budget spent"})
                continue
            if below >= 2:
                out["skipped"].append({"size": n, "reason": "past the peak"})
                continue
            gen = torch.Generator(device=device).manual_seed(n)
            a = torch.randn(n, n, generator=gen, device=device).to(tdtype)
            b = torch.randn(n, n, generator=gen, device=device).to(tdtype)
            c = torch.empty(n, n, device=device, dtype=tdtype)
            timing = timer(
                lambda a=a, b=b, c=c: torch.mm(a, b, out=c),
                threads=used,
                synchronize=sync,
                check_contention=not is_cuda,
                budget_s=left if per_size_budget is None else min(left, per_size_budget),
                **protocol,
            )
            fl = gemm_flops(n)
            rate = fl / timing.min_s
            out["sizes"].append(n)
            out["flops_per_s"].append(rate)
            out["median_flops_per_s"].append(fl / timing.median_s)
            out["samples"].append(timing.times_s)
            out["warnings"].extend(f"gemm {dtype} n={n}: {w}" for w in timing.warnings)
            out.setdefault("cpu_share", []).append(timing.cpu_share)
            below = below + 1 if rate < 0.5 * best else 0
            best = max(best, rate)
            del a, b, c
    if out["sizes"]:
        i = max(range(len(out["sizes"])), key=lambda k: out["flops_per_s"][k])
        out["best_size"] = out["sizes"][i]
        out["best"] = out["flops_per_s"][i]
        out["median"] = out["median_flops_per_s"][i]
    else:
        out["best_size"] = None
        out["best"] = None
        out["median"] = None
    return out
