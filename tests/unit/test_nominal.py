"""Nominal peaks: CPU arithmetic from the probes of fixture machines, GPU figures from the card table.

Every CPU figure below is derived by hand in a comment: cores x GHz x (FMA units x lanes x 2 FLOPs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nnperf.errors import UsageError
from nnperf.machine.nominal import GPU_TABLE, nominal_cpu, nominal_gpu
from nnperf.machine.probes import collect_probes

DATA = Path(__file__).resolve().parents[1] / "data" / "machine"


def _cpu(tmp_path: Path, name: str) -> dict[str, Any]:
    for rel, text in json.loads((DATA / f"{name}.json").read_text())["files"].items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return collect_probes(tmp_path)["cpu"]


def _synthetic(
    flags: str,
    *,
    vendor: str = "Intel",
    family: int | None = 6,
    model_id: int | None = 63,
    model: str = "made-up",
    cores: int = 2,
    freq_mhz: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    return {
        "available": True,
        "vendor": vendor,
        "model": model,
        "arch": "x86_64",
        "family": family,
        "model_id": model_id,
        "cores": cores,
        "threads": cores,
        "flags": sorted(flags.split()),
        "freq_mhz": freq_mhz or {"base": None, "max": 3000.0, "current": None},
        "freq_source": {"base": None, "max": "sysfs", "current": None},
    }


# ------------------------------------------------------------------------------------------------------ CPU
def test_this_machine_zen4_behind_kvm(tmp_path: Path) -> None:
    nom = nominal_cpu(_cpu(tmp_path, "this_machine_epyc_kvm"))
    assert nom["nominal"] is True
    assert nom["microarch"] == "Zen 4"
    # 2 cores x 2.596144 GHz (cpuinfo "cpu MHz", no cpufreq) x (2 FMA units x 8 fp32 lanes (AVX2) x 2)
    # = 2 x 2.596144e9 x 32 = 166.153216 GFLOP/s; fp64: 4 lanes -> 83.076608 GFLOP/s.
    assert nom["flops"]["fp32"] == pytest.approx(166.153216e9)
    assert nom["flops"]["fp64"] == pytest.approx(83.076608e9)
    assert nom["flops_per_cycle_per_core"] == {"fp64": 16.0, "fp32": 32.0}
    assert (nom["cores"], nom["freq_used"], nom["vector_bits"]) == (2, "current", 256)
    # No avx512_bf16 / amx / avx512_fp16 here: bf16 and fp16 are emulated, so no figure at all.
    assert "bf16" not in nom["flops"] and "fp16" not in nom["flops"]
    text = " ".join(nom["assumptions"])
    assert "bf16: no hardware bf16" in text and "emulated" in text
    assert "F16C only converts" in text
    assert "masking AVX-512" in text  # Zen 4 silicon, AVX2 flags
    assert "cpuinfo" in text and nom["source"]


def test_readme_example_two_cores_three_ghz_avx2() -> None:
    nom = nominal_cpu(_synthetic("sse sse2 avx avx2 fma f16c"))  # Haswell (family 6 model 63)
    # 2 cores x 3.0 GHz x 8 fp32 lanes x 2 FMA units x 2 = 192 GFLOP/s; fp64 4 lanes: 96 GFLOP/s.
    assert nom["flops"]["fp32"] == pytest.approx(192e9)
    assert nom["flops"]["fp64"] == pytest.approx(96e9)
    assert nom["freq_used"] == "max" and nom["microarch"] == "Haswell"


def test_sapphire_rapids_amx(tmp_path: Path) -> None:
    nom = nominal_cpu(_cpu(tmp_path, "spr_aws_m7i_2xlarge"))
    assert nom["microarch"] == "Sapphire Rapids"
    # 4 cores x 2.4 GHz x 16 fp32 lanes (AVX-512) x 2 FMA units x 2 = 614.4 GFLOP/s; fp64: 307.2.
    assert nom["flops"]["fp32"] == pytest.approx(614.4e9)
    assert nom["flops"]["fp64"] == pytest.approx(307.2e9)
    # AMX-BF16: 16x32 by 32x16 tiles = 8192 MACs per 16 cycles = 1024 FLOP/cycle/core:
    # 4 x 2.4e9 x 1024 = 9830.4 GFLOP/s.
    assert nom["flops"]["bf16"] == pytest.approx(9830.4e9)
    # AVX512_FP16: 32 fp16 lanes x 2 units x 2 = 128 FLOP/cycle/core: 4 x 2.4e9 x 128 = 1228.8 GFLOP/s.
    assert nom["flops"]["fp16"] == pytest.approx(1228.8e9)
    assert nom["paths"]["bf16"] == "AMX-BF16 tile multiply"
    assert nom["cores"] == 4  # physical cores, not the 8 SMT threads


def test_avx512_bf16_without_amx(tmp_path: Path) -> None:
    cpu = _cpu(tmp_path, "spr_aws_m7i_2xlarge")
    cpu["flags"] = [f for f in cpu["flags"] if not f.startswith("amx")]
    nom = nominal_cpu(cpu)
    # VDPBF16PS: 2 bf16 products per fp32 lane at the FMA rate = 2 x 614.4 = 1228.8 GFLOP/s.
    assert nom["flops"]["bf16"] == pytest.approx(1228.8e9)


def test_zen4_with_avx512_visible_is_half_rate(tmp_path: Path) -> None:
    cpu = _cpu(tmp_path, "this_machine_epyc_kvm")
    cpu["flags"] = sorted([*cpu["flags"], "avx512f", "avx512_bf16"])
    nom = nominal_cpu(cpu)
    # Zen 4 runs a 512-bit FMA as two 256-bit halves: 2 units x 256 bits = 512 bits/cycle either way,
    # so fp32 stays 2 x 2.596144e9 x 32 = 166.153216 GFLOP/s; bf16 (AVX512_BF16) 2x: 332.306432.
    assert nom["vector_bits"] == 512
    assert nom["flops"]["fp32"] == pytest.approx(166.153216e9)
    assert nom["flops"]["bf16"] == pytest.approx(332.306432e9)


def test_cascade_lake_turbo_and_threads(tmp_path: Path) -> None:
    cpu = _cpu(tmp_path, "cascadelake_2s_dell_baremetal")
    nom = nominal_cpu(cpu)
    # Max clock (cpufreq 3.9 GHz) over base (2.5): 4 cores x 3.9e9 x 16 lanes x 2 units x 2 = 998.4 GFLOP/s.
    assert nom["freq_used"] == "max"
    assert nom["flops"]["fp32"] == pytest.approx(998.4e9)
    assert nom["flops"]["fp64"] == pytest.approx(499.2e9)
    assert "bf16" not in nom["flops"] and "fp16" not in nom["flops"]
    assert any("upper bound" in a for a in nom["assumptions"])
    # 2 threads -> 2 cores: 499.2 GFLOP/s.
    assert nominal_cpu(cpu, threads=2)["flops"]["fp32"] == pytest.approx(499.2e9)
    # 8 threads are 4 cores with SMT: capped at 4.
    capped = nominal_cpu(cpu, threads=8)
    assert capped["cores"] == 4 and capped["flops"]["fp32"] == pytest.approx(998.4e9)
    assert any("capped" in a for a in capped["assumptions"])
    with pytest.raises(UsageError, match="threads=0"):
        nominal_cpu(cpu, threads=0)


def test_skylake_silver_has_one_avx512_unit(tmp_path: Path) -> None:
    cpu = _cpu(tmp_path, "cascadelake_2s_dell_baremetal")
    cpu["model"] = "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz"
    nom = nominal_cpu(cpu)
    # One 512-bit FMA unit: 16 lanes x 1 x 2 = 32 FLOP/cycle; 4 x 3.9e9 x 32 = 499.2 GFLOP/s.
    assert nom["flops_per_cycle_per_core"]["fp32"] == 32.0
    assert nom["flops"]["fp32"] == pytest.approx(499.2e9)


def test_frequency_priority_max_base_current() -> None:
    cpu = _synthetic("sse2 avx avx2 fma", freq_mhz={"base": 2000.0, "max": None, "current": 1200.0})
    cpu["freq_source"] = {"base": "model name", "max": None, "current": "cpuinfo"}
    nom = nominal_cpu(cpu)
    assert (nom["freq_used"], nom["freq_ghz"]) == ("base", 2.0)
    cpu["freq_mhz"] = {"base": None, "max": None, "current": 1200.0}
    assert nominal_cpu(cpu)["freq_used"] == "current"


def test_graviton3_without_frequency_then_with(tmp_path: Path) -> None:
    cpu = _cpu(tmp_path, "graviton3_aws_c7g_xlarge")
    nom = nominal_cpu(cpu)
    # Neoverse-V1: 4 x 128-bit FMA pipes = 512 bits/cycle: fp32 16 lanes x 2 = 32 FLOP/cycle, fp64 16;
    # bf16 (BFDOT) and fp16 (asimdhp) 2x fp32 = 64.
    assert nom["flops_per_cycle_per_core"] == {"fp64": 16.0, "fp32": 32.0, "bf16": 64.0, "fp16": 64.0}
    assert nom["flops"] == {}  # no frequency anywhere on this instance: no FLOP/s invented
    assert any("frequency unknown" in a for a in nom["assumptions"])
    cpu["freq_mhz"] = {"base": None, "max": 2600.0, "current": None}
    nom = nominal_cpu(cpu)
    # 4 cores x 2.6 GHz x 32 = 332.8 GFLOP/s fp32; x 16 = 166.4 fp64.
    assert nom["flops"]["fp32"] == pytest.approx(332.8e9)
    assert nom["flops"]["fp64"] == pytest.approx(166.4e9)
    cpu["sve_vector_bits"] = None
    assert any("128 bits assumed" in a for a in nominal_cpu(cpu)["assumptions"])


def test_sandy_bridge_without_fma() -> None:
    nom = nominal_cpu(_synthetic("sse sse2 avx", model_id=42, cores=1))
    # One 256-bit add + one 256-bit multiply pipe, 1 FLOP per lane each: 2 x 8 = 16 FLOP/cycle fp32;
    # 1 core x 3.0 GHz x 16 = 48 GFLOP/s.
    assert nom["flops"]["fp32"] == pytest.approx(48e9)


def test_unknown_microarchitecture_uses_the_stated_fallback() -> None:
    nom = nominal_cpu(_synthetic("sse2 avx avx2 fma avx512f", model_id=9999))
    # Assumed 2 units of the widest ISA (512-bit): 2 x 16 x 2 = 64 FLOP/cycle; 2 x 3.0e9 x 64 = 384 GFLOP/s.
    assert nom["flops"]["fp32"] == pytest.approx(384e9)
    assert any("not in the table" in a for a in nom["assumptions"])


def test_unavailable_cpu_probe() -> None:
    nom = nominal_cpu({"available": False, "reason": "no /proc"})
    assert nom["nominal"] is True and nom["flops"] == {}
    assert "no /proc" in nom["assumptions"][0]


# ------------------------------------------------------------------------------------------------------ GPU
# Names as torch.cuda.get_device_name reports them -> table model. Covers every row of the table.
GPU_NAMES = {
    "NVIDIA H100 80GB HBM3": "H100 SXM5 80GB",
    "NVIDIA H100 PCIe": "H100 PCIe 80GB",
    "NVIDIA H100 NVL": "H100 NVL 94GB",
    "NVIDIA H200": "H200 SXM 141GB",
    "NVIDIA H200 NVL": "H200 NVL 141GB",
    "NVIDIA A100-SXM4-80GB": "A100 SXM4 80GB",
    "NVIDIA A100-SXM4-40GB": "A100 SXM4 40GB",
    "NVIDIA A100 80GB PCIe": "A100 PCIe 80GB",
    "NVIDIA A100-PCIE-40GB": "A100 PCIe 40GB",
    "NVIDIA A30": "A30 24GB",
    "NVIDIA A10": "A10 24GB",
    "NVIDIA A10G": "A10G 24GB",
    "NVIDIA A40": "A40 48GB",
    "NVIDIA L4": "L4 24GB",
    "NVIDIA L40S": "L40S 48GB",
    "NVIDIA L40": "L40 48GB",
    "NVIDIA GeForce RTX 4090": "GeForce RTX 4090 24GB",
    "NVIDIA GeForce RTX 3090": "GeForce RTX 3090 24GB",
    "Tesla T4": "T4 16GB",
    "Tesla V100S-PCIE-32GB": "V100S PCIe 32GB",
    "Tesla V100-SXM2-32GB": "V100 SXM2 32GB",
    "Tesla V100-SXM2-16GB": "V100 SXM2 16GB",
    "Tesla V100-PCIE-32GB": "V100 PCIe 32GB",
    "Tesla V100-PCIE-16GB": "V100 PCIe 16GB",
    "Tesla P100-SXM2-16GB": "P100 SXM2 16GB",
    "Tesla P100-PCIE-16GB": "P100 PCIe 16GB",
    "Tesla P100-PCIE-12GB": "P100 PCIe 12GB",
}


@pytest.mark.parametrize(("name", "model"), sorted(GPU_NAMES.items()))
def test_gpu_names_match(name: str, model: str) -> None:
    card = nominal_gpu(name)
    assert card is not None and card["model"] == model and card["device_name"] == name


def test_every_table_row_is_reachable() -> None:
    assert {c["model"] for c in GPU_TABLE} == set(GPU_NAMES.values())


@pytest.mark.parametrize(
    "name", ["NVIDIA A100", "NVIDIA GeForce RTX 3090 Ti", "AMD Instinct MI300X", "NVIDIA GH200 480GB", ""]
)
def test_unknown_or_ambiguous_gpu_is_none(name: str) -> None:
    assert nominal_gpu(name) is None


def test_h100_sxm_dense_figures() -> None:
    h100 = nominal_gpu("NVIDIA H100 80GB HBM3")
    assert h100 is not None
    # H100 whitepaper, SXM5: dense tensor bf16 989.4 (1978.9 is the 2:4-sparse figure), tf32 494.7,
    # fp32 (CUDA cores) 66.9, fp64 tensor 66.9 (vector 33.5), HBM3 3.35 TB/s.
    assert h100["flops"]["bf16"] == 989.4e12
    assert h100["flops"]["fp16"] == 989.4e12
    assert h100["flops"]["tf32"] == 494.7e12
    assert h100["flops"]["fp32"] == 66.9e12
    assert h100["flops"]["fp64"] == 66.9e12
    assert h100["vector_flops"]["fp64"] == 33.5e12
    assert h100["memory_bandwidth"] == 3.35e12
    assert h100["nominal"] is True and "whitepaper" in h100["source"]
    assert any("dense" in a for a in h100["assumptions"])


def test_a100_h200_v100_figures() -> None:
    a100 = nominal_gpu("NVIDIA A100-SXM4-80GB")
    assert a100 is not None
    # A100 datasheet: bf16 312, tf32 156, fp32 19.5, fp64 9.7 (19.5 on tensor cores), 2039 GB/s.
    assert (a100["flops"]["bf16"], a100["flops"]["tf32"], a100["flops"]["fp32"]) == (312e12, 156e12, 19.5e12)
    assert (a100["flops"]["fp64"], a100["vector_flops"]["fp64"]) == (19.5e12, 9.7e12)
    assert a100["memory_bandwidth"] == 2.039e12
    h200 = nominal_gpu("NVIDIA H200")
    assert h200 is not None and h200["memory_bandwidth"] == 4.8e12 and h200["flops"]["bf16"] == 989.4e12
    v100 = nominal_gpu("Tesla V100-SXM2-16GB")
    assert v100 is not None
    # Volta: fp16 tensor 125, no bf16 or tf32 tensor cores: those keys are absent, not zero.
    assert v100["flops"]["fp16"] == 125e12
    assert "bf16" not in v100["flops"] and "tf32" not in v100["flops"]


def test_table_invariants() -> None:
    for card in GPU_TABLE:
        flops = card["flops"]
        assert card["nominal"] is True and card["source"], card["model"]
        assert flops["fp32"] == card["vector_flops"]["fp32"], card["model"]
        assert card["memory_bandwidth"] > 0 and card["memory_bytes"] > 0, card["model"]
        # Lower precision is never slower, and fp64 is never faster than fp32 on CUDA cores.
        chain = [flops.get(k) for k in ("tf32", "bf16", "fp8") if k in flops]
        assert chain == sorted(chain), card["model"]
        if "fp64" in card["vector_flops"]:
            assert card["vector_flops"]["fp64"] <= flops["fp32"], card["model"]
        # A dense figure at most 1000x the fp32 CUDA-core rate (sparse figures slipped in would still pass
        # this, but a TFLOPS/FLOPS unit slip would not).
        assert all(v < 1000 * flops["fp32"] for v in flops.values()), card["model"]
        assert re.compile(card["pattern"])


def test_nominal_gpu_returns_a_copy() -> None:
    card = nominal_gpu("NVIDIA L4")
    assert card is not None
    card["flops"]["bf16"] = 0.0
    again = nominal_gpu("NVIDIA L4")
    assert again is not None and again["flops"]["bf16"] == 121e12  # L4 datasheet 242 sparse / 2
