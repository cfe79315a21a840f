import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
