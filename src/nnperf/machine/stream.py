"""STREAM's four kernels written in torch, on float64 arrays, counted as STREAM counts them.

=======  ==================  ====================================  ======================
kernel   STREAM              torch (one pass, no temporaries)      bytes per element
=======  ==================  ====================================  ======================
copy     c[i] = a[i]         ``c.copy_(a)``                        2 x 8 (read a, write c)
scale    b[i] = s * c[i]     ``torch.mul(c, s, out=b)``            2 x 8
add      c[i] = a[i] + b[i]  ``torch.add(a, b, out=c)``            3 x 8
triad    a[i] = b[i]+s*c[i]  ``torch.add(b, c, alpha=s, out=a)``   3 x 8
=======  ==================  ====================================  ======================

STREAM counts the bytes the program names (each array read or written once) and not the write-allocate read
a cache performs before a store, so its rates, and these, are lower than the bus traffic by up to 1/3.

Array size follows STREAM's rule: each array at least 4 x the last-level cache, so that no array stays
cached between kernels; when the LLC is unknown, :data:`MIN_ARRAY_BYTES`. Arrays are first touched (filled)
at the thread count that measures them, so on NUMA machines each thread's pages sit near it. As STREAM does,
the reported rate is from the best time; the median is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nnperf.machine.protocol import Timing, time_fn, torch_threads

KERNELS = ("copy", "scale", "add", "triad")
ARRAYS_PER_KERNEL = {"copy": 2, "scale": 2, "add": 3, "triad": 3}
ELEMENT_BYTES = 8  # float64, as STREAM
SCALAR = 3.0  # STREAM's scalar
MIN_ARRAY_BYTES = 64 * 2**20  # when the LLC is unknown or small: 3 arrays = 192 MiB, far beyond most LLCs
LLC_FACTOR = 4  # STREAM's rule: each array >= 4 x the last-level cache


def stream_bytes(kernel: str, n: int, element_bytes: int = ELEMENT_BYTES) -> int:
    """Bytes one call of ``kernel`` on ``n``-element arrays moves, as STREAM counts them."""
    return ARRAYS_PER_KERNEL[kernel] * element_bytes * n


def array_bytes_for(llc_bytes: int | None, min_array_bytes: int = MIN_ARRAY_BYTES) -> int:
    """Bytes per array: max(4 x LLC, ``min_array_bytes``), rounded down to whole 4 KiB pages."""
    want = max(LLC_FACTOR * (llc_bytes or 0), min_array_bytes)
    return want // 4096 * 4096


def make_kernels(n: int, device: str = "cpu") -> dict[str, Callable[[], object]]:
    """The four kernels on three fresh float64 arrays of ``n`` elements (filled, so pages are touched)."""
    import torch

    a = torch.full((n,), 1.0, dtype=torch.float64, device=device)
    b = torch.full((n,), 2.0, dtype=torch.float64, device=device)
    c = torch.full((n,), 0.0, dtype=torch.float64, device=device)
    s = SCALAR
    return {
        "copy": lambda: c.copy_(a),
        "scale": lambda: torch.mul(c, s, out=b),
        "add": lambda: torch.add(a, b, out=c),
        "triad": lambda: torch.add(b, c, alpha=s, out=a),
    }


def measure_stream(
    *,
    llc_bytes: int | None = None,
    array_bytes: int | None = None,
    threads: int | None = None,
    kernels: tuple[str, ...] = KERNELS,
    device: str = "cpu",
    protocol: dict[str, Any] | None = None,
    timer: Callable[..., Timing] = time_fn,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run STREAM's kernels; returns ``{kernel: {"best", "median" (bytes/s), "array_bytes", "threads",
    "bytes_per_call", "samples" (seconds per call), "cpu_share", "warnings"}}``."""
    import torch

    is_cuda = device.startswith("cuda")
    nbytes = array_bytes if array_bytes is not None else array_bytes_for(llc_bytes)
    n = nbytes // ELEMENT_BYTES
    sync = torch.cuda.synchronize if is_cuda else None
    out: dict[str, Any] = {}
    with torch_threads(None if is_cuda else threads) as used:
        fns = make_kernels(n, device)  # first touch at the measuring thread count
        for k in kernels:
            if progress is not None:
                progress(k)
            timing = timer(
                fns[k], threads=used, synchronize=sync, check_contention=not is_cuda, **(protocol or {})
            )
            moved = stream_bytes(k, n)
            out[k] = {
                "best": moved / timing.min_s,
                "median": moved / timing.median_s,
                "array_bytes": n * ELEMENT_BYTES,
                "bytes_per_call": moved,
                "threads": None if is_cuda else used,
                "samples": timing.times_s,
                "cpu_share": timing.cpu_share,
                "warnings": [f"stream {k}: {w}" for w in timing.warnings],
            }
        del fns
    return out
