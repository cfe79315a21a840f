"""The ``MachineProfile`` record: what a machine is (probes), what it should reach (nominal peaks) and what
PyTorch measured it reaching. Plain data; JSON layout documented in the README (no torch import)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA = "nnperf.machine-profile"
SCHEMA_VERSION = 1


@dataclass
class MachineProfile:
    fingerprint: str
    created: str  # ISO 8601, UTC
    mode: str  # "quick" or "full"
    probes: dict[str, Any]
    nominal: dict[str, Any]
    measured: dict[str, Any]
    caches: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    nnperf_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "fingerprint": self.fingerprint,
            "created": self.created,
            "mode": self.mode,
            "nnperf_version": self.nnperf_version,
            "caches": self.caches,
            "nominal": self.nominal,
            "measured": self.measured,
            "probes": self.probes,
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MachineProfile:
        return cls(
            fingerprint=data["fingerprint"],
            created=data["created"],
            mode=data["mode"],
            probes=data["probes"],
            nominal=data["nominal"],
            measured=data["measured"],
            caches=data.get("caches", {}),
            warnings=list(data.get("warnings", [])),
            nnperf_version=data.get("nnperf_version", ""),
        )
