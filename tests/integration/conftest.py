"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnperf.records.jsonio import write_record
from nnperf.records.machine_profile import SCHEMA, SCHEMA_VERSION, MachineProfile


@pytest.fixture()
def machine(tmp_path: Path) -> Path:
    """A minimal valid profile: fp32 160 GFLOP/s measured (200 nominal), DRAM 40 GB/s, L2 300 GB/s."""
    profile = MachineProfile(
        fingerprint="test-machine",
        created="2025-01-01T00:00:00+00:00",
        mode="quick",
        probes={},
        nominal={"flops": {"fp32": 200e9}},
        measured={"flops": {"fp32": 160e9}, "bandwidth": {"dram": {"triad": 40e9}, "l2": {"read": 300e9}}},
        caches={},
    )
    data = profile.to_dict()
    assert (data["schema"], data["schema_version"]) == (SCHEMA, SCHEMA_VERSION)
    return write_record(tmp_path / "machine.json", data)
