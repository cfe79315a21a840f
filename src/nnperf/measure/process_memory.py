"""Process- and device-level memory peaks around a timed region (the tensor-level peak is in bench.py).

* Peak RSS: Linux keeps the high-water mark ``VmHWM`` in ``/proc/self/status`` and resets it when "5" is
  written to ``/proc/self/clear_refs``, so the peak of the timed region alone can be read. Where the reset is
  not allowed the lifetime peak (``getrusage``'s ``ru_maxrss``) is reported and the method says so.
* CUDA: the caching allocator's max allocated (live tensors) and max reserved (what it holds from the
  driver), reset before the region.
* NVML: the device's used memory as the driver sees it (all processes, plus the CUDA context), through
  ``torch.cuda.device_memory_used``; None where NVML is missing.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path
from typing import Any

_PROC = Path("/proc/self")


def reset_peak_rss(proc: Path = _PROC) -> bool:
    """Reset the kernel's RSS high-water mark for this process; False where that is not possible."""
    try:
        (proc / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss(reset_done: bool, proc: Path = _PROC) -> tuple[int | None, str]:
    """(peak resident bytes, method)."""
    if reset_done:
        try:
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024, "VmHWM since the start of the timed region"
        except (OSError, ValueError, IndexError):
            pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return maxrss * 1024, "ru_maxrss (peak over the whole process, reset not possible)"


def cuda_reset(torch: Any, device: Any) -> None:
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks(torch: Any, device: Any) -> dict[str, int | None]:
    out: dict[str, int | None] = {
        "cuda_max_allocated_bytes": int(torch.cuda.max_memory_allocated(device)),
        "cuda_max_reserved_bytes": int(torch.cuda.max_memory_reserved(device)),
        "nvml_used_bytes": None,
    }
    with contextlib.suppress(Exception):  # NVML missing or not initialised: stated as None, never a failure
        out["nvml_used_bytes"] = int(torch.cuda.device_memory_used(device))
    return out
