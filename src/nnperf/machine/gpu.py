"""CUDA device ceilings: launch overhead, host<->device copies, device STREAM and GEMM per dtype.

Timing on the device uses CUDA events (``torch.cuda.Event(enable_timing=True)``) around a block of calls,
after a warm-up, with the same statistics as :mod:`nnperf.machine.protocol` (median of samples; rates from the
best sample, as STREAM reports its best time). Everything is guarded: without torch.cuda or a device, or on
any CUDA error, :func:`measure_gpu` returns ``{"available": False, "reason": ...}`` and never raises.

- ``launch_overhead_s``: per-launch time of a tiny kernel (``x.add_(1)`` on one element) in a block of
  launches, from events: the rate at which the host can issue kernels (host-side launch cost dominates).
- ``copy``: host->device and device->host bandwidth with pinned and pageable host memory
  (``tensor.copy_(src, non_blocking=...)``), bytes = buffer size per copy.
- ``stream``: device copy and triad on float64 arrays, STREAM byte counting (2 and 3 arrays x 8 B).
- ``gemm``: ``torch.mm`` FLOP/s (2 n^3 per product) per dtype and size, tf32 via ``allow_tf32``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from nnperf.machine.gemm import CUDA_DTYPES, gemm_flops, tf32_mode, torch_dtype
from nnperf.machine.stream import SCALAR, stream_bytes


def _event_time(fn: Callable[[], object], *, inner: int, repeats: int, warmup: int = 2) -> list[float]:
    """Seconds per call of ``fn`` from CUDA events around ``inner`` calls, ``repeats`` samples."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out: list[float] = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        out.append(start.elapsed_time(end) / 1e3 / inner)  # elapsed_time is in milliseconds
    return out


def _summary(samples: list[float], work: float) -> dict[str, Any]:
    return {
        "best": work / min(samples),
        "median": work / statistics.median(samples),
        "samples": samples,
    }


def measure_gpu(*, quick: bool = True, device: int = 0) -> dict[str, Any]:
    """Device ceilings of one CUDA GPU; ``{"available": False, "reason"}`` when there is none."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        return {"available": False, "reason": f"torch not importable: {exc}"}
    try:
        if not torch.cuda.is_available():
            return {
                "available": False,
                "reason": "torch.cuda.is_available() is False (no CUDA device or driver)",
            }
        return _measure(torch, quick=quick, device=device)
    except Exception as exc:  # a GPU failure must not fail the machine measurement
        return {"available": False, "reason": f"CUDA measurement failed: {type(exc).__name__}: {exc}"}


def _measure(torch: Any, *, quick: bool, device: int) -> dict[str, Any]:
    dev = f"cuda:{device}"
    reps = 5 if quick else 20
    with torch.cuda.device(device):
        out: dict[str, Any] = {"available": True, "name": torch.cuda.get_device_name(device), "device": dev}

        tiny = torch.zeros(1, device=dev)
        launch = _event_time(lambda: tiny.add_(1), inner=1000, repeats=reps)
        out["launch_overhead_s"] = statistics.median(launch)
        out["launch_samples_s"] = launch

        nbytes = (256 if quick else 1024) * 2**20
        copies: dict[str, Any] = {}
        dev_buf = torch.empty(nbytes, dtype=torch.uint8, device=dev)
        for pinned in (True, False):
            host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)
            host.fill_(1)
            tag = "pinned" if pinned else "pageable"
            h2d = _event_time(
                lambda h=host, p=pinned, d=dev_buf: d.copy_(h, non_blocking=p), inner=1, repeats=reps
            )
            d2h = _event_time(
                lambda h=host, p=pinned, d=dev_buf: h.copy_(d, non_blocking=p), inner=1, repeats=reps
            )
            copies[f"h2d_{tag}"] = _summary(h2d, nbytes)
            copies[f"d2h_{tag}"] = _summary(d2h, nbytes)
            del host
        del dev_buf
        out["copy"] = {"bytes": nbytes, **copies}

        n = (512 if quick else 2048) * 2**20 // 8
        a = torch.full((n,), 1.0, dtype=torch.float64, device=dev)
        b = torch.full((n,), 2.0, dtype=torch.float64, device=dev)
        c = torch.zeros(n, dtype=torch.float64, device=dev)
        kernels = {
            "copy": lambda a=a, c=c: c.copy_(a),
            "triad": lambda a=a, b=b, c=c: torch.add(b, c, alpha=SCALAR, out=a),
        }
        out["stream"] = {
            k: {"array_bytes": n * 8, **_summary(_event_time(f, inner=5, repeats=reps), stream_bytes(k, n))}
            for k, f in kernels.items()
        }
        del a, b, c

        sizes = [2048, 4096, 8192] if quick else [1024, 2048, 4096, 8192, 16384]
        gemm: dict[str, Any] = {}
        for name in CUDA_DTYPES:
            per: dict[str, Any] = {"sizes": [], "flops_per_s": [], "median_flops_per_s": [], "samples": []}
            with tf32_mode(name == "tf32"):
                for size in sizes:
                    x = torch.randn(size, size, device=dev).to(torch_dtype(name))
                    y = torch.randn(size, size, device=dev).to(torch_dtype(name))
                    z = torch.empty(size, size, device=dev, dtype=torch_dtype(name))
                    inner = 2 if name == "fp64" else 10
                    t = _event_time(lambda x=x, y=y, z=z: torch.mm(x, y, out=z), inner=inner, repeats=reps)
                    s = _summary(t, gemm_flops(size))
                    per["sizes"].append(size)
                    per["flops_per_s"].append(s["best"])
                    per["median_flops_per_s"].append(s["median"])
                    per["samples"].append(t)
                    del x, y, z
            i = max(range(len(per["sizes"])), key=lambda k: per["flops_per_s"][k])
            per["best_size"], per["best"] = per["sizes"][i], per["flops_per_s"][i]
            gemm[name] = per
        out["gemm"] = gemm
        out["flops"] = {k: v["best"] for k, v in gemm.items()}
        out["bandwidth"] = {"hbm": {k: v["best"] for k, v in out["stream"].items()}}
        torch.cuda.empty_cache()
    return out
