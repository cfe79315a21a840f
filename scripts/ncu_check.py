"""The Nsight Compute check (see :mod:`nnperf.measure.ncu_check`): python scripts/ncu_check.py OUTDIR ..."""

from __future__ import annotations

import shutil  # noqa: F401  (tests patch shutil.which and subprocess.run through this module)
import subprocess  # noqa: F401
import sys
from pathlib import Path

try:
    import nnperf  # noqa: F401
except ImportError:  # a checkout that is not pip-installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nnperf.measure.ncu_check import main

if __name__ == "__main__":
    sys.exit(main())
