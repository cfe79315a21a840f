"""The GPU check: run on a machine with a CUDA GPU (the `device` tool), commit what it writes to tests/data/.

    python scripts/gpu_check.py OUTDIR

Writes OUTDIR/machine_profile_<gpu>.json (a quick `nnperf machine` profile with the GPU section measured:
launch overhead, host<->device copies, device STREAM, GEMM per dtype incl. tf32) and prints a summary, so
that analysis code can be tested on recorded GPU numbers everywhere.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    out.mkdir(parents=True, exist_ok=True)
    import torch

    from nnperf.machine.profile import measure_profile

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to record")
        return 1
    profile = measure_profile(quick=True)
    name = re.sub(r"[^a-z0-9]+", "_", torch.cuda.get_device_name(0).lower()).strip("_")
    path = out / f"machine_profile_{name}.json"
    path.write_text(json.dumps(profile.to_dict(), indent=2) + "\n")
    gpu = profile.measured.get("gpu", {})
    print(f"wrote {path}")
    print(json.dumps({k: gpu.get(k) for k in ("name", "launch_overhead_s", "flops", "bandwidth")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
