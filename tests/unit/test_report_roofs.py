"""Which roofs the study report places a run under: a CUDA run under its GPU's (measured, else the spec sheet's,
HBM bandwidth), never under the host CPU's DRAM."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnperf.report.study_digest import ReportInput, digest

H100 = "NVIDIA H100 80GB HBM3"


def _record(device: str, dtype: str = "bf16") -> dict:
    return {
        "schema": "nnperf.measurement",
        "status": "ok",
        "spec": {"model": "m", "mode": "infer", "device": device, "batch": 1, "dtype": dtype},
        "case": {"environment": "gpu-box", "model": "m", "fingerprint": "fp"},
        "step_time_s": {"median": 0.01},
        "flops": {"counted": 1e12},
        "bytes": {"counted": 1e10},
    }


def _machine(gpu_measured: bool) -> dict:
    machine = {
        "fingerprint": "fp",
        "probes": {"gpu": {"devices": [{"name": H100, "total_memory_bytes": 85 * 10**9}]}},
        # The host CPU's roofs, which a CUDA run must not be placed under.
        "measured": {"flops": {"bf16": 1e11, "fp32": 2e11}, "bandwidth": {"dram": {"triad": 2e10}}},
    }
    if gpu_measured:
        machine["measured"]["gpu"] = {
            "available": True,
            "name": H100,
            "flops": {"bf16": 7.0e14},
            "bandwidth": {"hbm": {"copy": 3.0e12, "triad": 2.9e12}},
        }
    return machine


def _roofs(record: dict, machine: dict, tmp_path: Path):
    study = digest(ReportInput(cases=[record], machines={"fp": machine}), tmp_path)
    (config,) = study.configs
    return study.roofs(config), study.placement(config)


def test_a_cuda_run_sits_under_its_gpus_measured_roofs(tmp_path: Path) -> None:
    roofs, placement = _roofs(_record("cuda"), _machine(gpu_measured=True), tmp_path)
    assert (roofs.peak, roofs.bandwidth) == (7.0e14, 2.9e12)  # the GPU's GEMM and HBM triad
    assert roofs.bandwidth_label.startswith("HBM measured (triad)")
    assert placement.predicted_s == pytest.approx(max(1e12 / 7.0e14, 1e10 / 2.9e12))


def test_without_a_gpu_measurement_the_spec_sheet(tmp_path: Path) -> None:
    roofs, _ = _roofs(_record("cuda:0"), _machine(gpu_measured=False), tmp_path)
    assert (roofs.peak, roofs.bandwidth) == (989.4e12, 3350e9)  # H100 SXM5: dense bf16, HBM3
    assert "nominal" in roofs.peak_label and "nominal" in roofs.bandwidth_label


def test_a_cpu_run_keeps_the_hosts_roofs(tmp_path: Path) -> None:
    roofs, _ = _roofs(_record("cpu", "fp32"), _machine(gpu_measured=True), tmp_path)
    assert (roofs.peak, roofs.bandwidth) == (2e11, 2e10)


def test_a_cuda_run_on_a_machine_without_a_gpu_is_not_placed(tmp_path: Path) -> None:
    machine = _machine(gpu_measured=False)
    machine["probes"] = {}
    roofs, placement = _roofs(_record("cuda"), machine, tmp_path)
    assert roofs == placement == "the machine profile of gpu-box has no GPU"
