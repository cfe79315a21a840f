"""The Measurement record: derived statistics from raw samples, JSON round trip, time accounting."""

from __future__ import annotations

import numpy as np
import pytest

from nnperf.analysis.stats import describe, noisy_warning, quantile
from nnperf.records.jsonio import read_record, write_record
from nnperf.records.measurement import SCHEMA, SCHEMA_VERSION, Measurement, RunSpec


def _measurement() -> Measurement:
    return Measurement(
        spec=RunSpec(model="resnet18", mode="train", batch=16),
        samples_per_step=16,
        step_time_s=[0.10, 0.12, 0.11, 0.30, 0.10],
        warmup_time_s=[0.9, 0.2],
        phase_time_s={"data": [0.01, 0.02, 0.01, 0.2, 0.01], "forward": [0.09, 0.10, 0.10, 0.10, 0.09]},
        phase_cpu_s={"data": [0.0, 0.0, 0.0, 0.0, 0.0], "forward": [0.09, 0.10, 0.10, 0.10, 0.09]},
        time_s={"real": 0.73, "user": 0.5, "system": 0.03, "main_thread_cpu": 0.48},
        flops={"counted": 1_000_000_000, "predicted": 1_000_000_000, "measured_peak_per_s": 1e11},
        bytes={"counted": 50_000_000},
        memory={"peak_live_bytes": 900, "predicted_peak_bytes": 1000},
    )


def test_quantiles_match_numpy() -> None:
    xs = [0.3, 0.1, 0.2, 0.9, 0.5, 0.4]
    for q in (0.0, 0.25, 0.5, 0.9, 0.99, 1.0):
        assert quantile(xs, q) == pytest.approx(float(np.percentile(xs, q * 100)))
    assert describe([])["n"] == 0


def test_one_noisy_rule_for_every_measurement() -> None:
    # IQR/median of [1, 1, 1.3, 1.3]: q1 = 1, q3 = 1.3, median 1.15 -> 26% > 10%
    d = describe([1.0, 1.0, 1.3, 1.3])
    assert noisy_warning(d["spread"], d["n"], "do X") == "noisy: IQR/median = 26% (over 10%): do X"
    assert noisy_warning(0.05, 10, "do X") is None  # steady
    assert noisy_warning(0.5, 2, "do X") is None  # two samples: no meaningful IQR


def test_derived_values() -> None:
    d = _measurement().to_dict()
    # median of [0.10, 0.10, 0.11, 0.12, 0.30] = 0.11 s; 16 samples / 0.11 s = 145.45 samples/s
    assert d["step_time_s"]["median"] == pytest.approx(0.11)
    assert d["throughput"]["samples_per_s"] == pytest.approx(16 / 0.11)
    # data share: 0.25 s of 0.73 s of steps
    assert d["data_wait_share"] == pytest.approx(0.25 / 0.73)
    # non-CPU = real - user - system = 0.73 - 0.53 = 0.20 s; main thread waited 0.73 - 0.48 = 0.25 s
    assert d["time_s"]["non_cpu"] == pytest.approx(0.20)
    assert d["time_s"]["main_thread_wait"] == pytest.approx(0.25)
    # 1e9 FLOP / 0.11 s = 9.09 GFLOP/s = 9.09% of a 100 GFLOP/s peak
    assert d["flops"]["achieved_per_s"] == pytest.approx(1e9 / 0.11)
    assert d["flops"]["mfu"] == pytest.approx(1e9 / 0.11 / 1e11)
    assert d["memory"]["measured_over_predicted"] == pytest.approx(0.9)
    assert d["phases"]["data"]["wait_share"] == pytest.approx(1.0)  # no CPU time at all in data
    assert d["step_time_s"]["samples"] == [0.10, 0.12, 0.11, 0.30, 0.10]


def test_non_cpu_is_floored_when_threads_make_cpu_exceed_real() -> None:
    m = _measurement()
    m.time_s = {"real": 1.0, "user": 1.8, "system": 0.1}
    acc = m.time_accounting()
    assert acc["non_cpu"] == 0.0
    assert acc["cpu_utilization"] == pytest.approx(1.9)


def test_json_round_trip(tmp_path) -> None:
    m = _measurement()
    path = write_record(tmp_path / "m.json", m.to_dict())
    data = read_record(path, SCHEMA, SCHEMA_VERSION)
    back = Measurement.from_dict(data)
    assert back.to_dict() == m.to_dict()
    assert back.spec == m.spec


def test_failed_record_keeps_what_was_measured() -> None:
    m = _measurement()
    m.status, m.failed_stage, m.error = "failed", "count", "out of memory at batch 16 on cpu"
    d = m.to_dict()
    assert d["status"] == "failed" and d["step_time_s"]["n"] == 5
    assert Measurement.from_dict(d).error == m.error


def test_spec_key_names_non_default_settings() -> None:
    spec = RunSpec(model="gpt2", mode="train", batch=4, dtype="bf16", compile="default")
    assert spec.key() == "gpt2 train cpu b4 dtype=bf16 compile=default"
