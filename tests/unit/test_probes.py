"""System probes on captured and made-up /proc + /sys trees (tests/data/machine/*.json), and on this machine.

Each fixture is ``{"description", "files": {relative path: text}}``; :func:`_tree` writes it under a temporary
root that the probes read instead of ``/``. ``this_machine_epyc_kvm`` was captured here with
``nnperf.machine.probes.capture_files()``; the others are made up and say so in their description.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nnperf.machine.probes import (
    PROBES,
    SIMD_FEATURES,
    CpuProbe,
    GpuProbe,
    Probe,
    capture_files,
    collect_probes,
    detect_cloud,
    fingerprint,
    parse_cpulist,
    parse_size,
    parse_torch_config,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "machine"
KIB = 1024
MIB = 1024 * 1024


def _files(name: str) -> dict[str, str]:
    return dict(json.loads((DATA / f"{name}.json").read_text())["files"])


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _probe(tmp_path: Path, name: str, **edits: str | None) -> dict[str, dict[str, Any]]:
    """Probes of fixture ``name``; ``edits`` maps a path (``/`` written ``__``) to new text, None to delete."""
    files = _files(name)
    for key, text in edits.items():
        rel = key.replace("__", "/")
        if text is None:
            files = {k: v for k, v in files.items() if not (k == rel or k.startswith(rel + "/"))}
        else:
            files[rel] = text
    return collect_probes(_tree(tmp_path, files))


# ------------------------------------------------------------------------------------------- this machine
def test_this_machine_fixture_cpu(tmp_path: Path) -> None:
    cpu = _probe(tmp_path, "this_machine_epyc_kvm")["cpu"]
    assert cpu["available"] is True
    assert (cpu["vendor"], cpu["model"], cpu["arch"]) == ("AMD", "AMD EPYC", "x86_64")
    assert (cpu["family"], cpu["model_id"]) == (25, 17)  # family 19h model 11h: Zen 4 (Genoa)
    assert (cpu["sockets"], cpu["cores"], cpu["threads"], cpu["threads_per_core"]) == (1, 2, 2, 1)
    assert cpu["numa_nodes"] == 1
    # sysfs index0..3: 32K data, 32K instruction, 1024K unified L2, 32768K unified L3 (binary K).
    assert cpu["caches"] == {"l1d": 32 * KIB, "l1i": 32 * KIB, "l2": 1 * MIB, "l3": 32 * MIB}
    # L1/L2 shared_cpu_list "0" and "1": one per core; L3 "0-1": one for both.
    assert cpu["cache_instances"] == {"l1d": 2, "l1i": 2, "l2": 2, "l3": 1}
    assert cpu["caches_source"] == "sysfs"
    assert cpu["cache_line_bytes"] == 64
    # The KVM guest hides the Zen 4's AVX-512: AVX2 + FMA is the widest ISA the OS reports.
    assert cpu["simd"] == ["sse4_2", "avx", "f16c", "avx2", "fma"]
    assert "avx512f" not in cpu["flags"] and "hypervisor" in cpu["flags"]
    assert cpu["flags"] == sorted(cpu["flags"])
    # No cpufreq in the guest: only cpuinfo's "cpu MHz".
    assert cpu["freq_mhz"] == {"base": None, "max": None, "current": 2596.144}
    assert cpu["freq_source"]["current"] == "cpuinfo"
    assert cpu["memory_bytes"] == 24684096 * 1024  # MemTotal kB


def test_this_machine_fixture_virtualization_and_numa(tmp_path: Path) -> None:
    probes = _probe(tmp_path, "this_machine_epyc_kvm")
    virt = probes["virtualization"]
    assert virt["hypervisor"] is True
    assert virt["hypervisor_vendor"] == "KVM"  # lscpu's CPUID leaf, then the kvm-clock clocksource
    assert virt["cloud"] is None  # no DMI in this guest: the cloud cannot be named
    assert virt["dmi"]["sys_vendor"] is None
    assert virt["container"] == "docker"
    assert virt["environment"] == "vm"
    assert "cpuinfo flags include 'hypervisor'" in virt["evidence"]
    numa = probes["numa"]
    assert numa["count"] == 1 and numa["source"] == "sysfs"
    assert numa["nodes"][0]["cpus"] == [0, 1] and numa["nodes"][0]["distances"] == [10]


def test_live_probes_match_the_captured_fixture_on_this_machine(tmp_path: Path) -> None:
    live = collect_probes()["cpu"]
    captured = _probe(tmp_path, "this_machine_epyc_kvm")["cpu"]
    if live.get("model") != captured["model"] or live.get("flags") != captured["flags"]:
        pytest.skip("not the machine the fixture was captured on")
    for key in ("vendor", "sockets", "cores", "threads", "caches", "cache_instances", "simd", "memory_bytes"):
        assert live[key] == captured[key], key


def test_live_collect_probes_is_fast_and_json_serialisable() -> None:
    import numpy  # noqa: F401  (imported by the probes; its import time is not the probes' cost)
    import torch

    start = time.perf_counter()
    probes = collect_probes()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"collect_probes took {elapsed:.2f} s"
    json.dumps(probes)
    assert list(probes) == ["cpu", "virtualization", "numa", "gpu", "software"]
    assert all(isinstance(p["available"], bool) for p in probes.values())
    sw = probes["software"]
    assert sw["available"] and sw["torch"]["version"] == torch.__version__
    assert isinstance(sw["torch"]["num_threads"], int) and sw["hostname"]
    assert set(sw["env"]) >= {
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "OPENBLAS_CORETYPE",
    }


# ----------------------------------------------------------------------------------- made-up machines
def test_sapphire_rapids_aws(tmp_path: Path) -> None:
    probes = _probe(tmp_path, "spr_aws_m7i_2xlarge")
    cpu, virt = probes["cpu"], probes["virtualization"]
    assert (cpu["vendor"], cpu["family"], cpu["model_id"]) == ("Intel", 6, 143)
    assert (cpu["sockets"], cpu["cores"], cpu["threads"], cpu["threads_per_core"]) == (1, 4, 8, 2)
    # 48K L1d and 2048K L2 per core (shared by the SMT pair "n,n+4"), 107520K (105 MiB) L3 for all 8.
    assert cpu["caches"] == {"l1d": 48 * KIB, "l1i": 32 * KIB, "l2": 2 * MIB, "l3": 105 * MIB}
    assert cpu["cache_instances"] == {"l1d": 4, "l1i": 4, "l2": 4, "l3": 1}
    assert cpu["simd"] == [
        "sse4_2",
        "avx",
        "f16c",
        "avx2",
        "fma",
        "avx_vnni",
        "avx512f",
        "avx512dq",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
    ]
    assert cpu["freq_mhz"] == {"base": None, "max": None, "current": 2400.0}
    assert (virt["cloud"], virt["environment"], virt["hypervisor_vendor"]) == ("aws", "cloud-vm", "KVM")
    assert virt["dmi"]["product_name"] == "m7i.2xlarge"
    assert virt["container"] is None


def test_graviton3_aws(tmp_path: Path) -> None:
    probes = _probe(tmp_path, "graviton3_aws_c7g_xlarge")
    cpu, virt = probes["cpu"], probes["virtualization"]
    # No "model name" on aarch64: implementer 0x41 part 0xd40 is an Arm Neoverse-V1.
    assert (cpu["arch"], cpu["vendor"], cpu["model"]) == ("aarch64", "ARM", "Neoverse-V1")
    assert (cpu["cpu_implementer"], cpu["cpu_part"]) == ("0x41", "0xd40")
    assert (cpu["sockets"], cpu["cores"], cpu["threads"]) == (1, 4, 4)
    assert cpu["simd"] == ["asimd", "asimdhp", "asimddp", "bf16", "i8mm", "sve", "svebf16"]
    assert cpu["sve_vector_bits"] == 256  # sve_default_vector_length 32 bytes
    assert cpu["caches"] == {"l1d": 64 * KIB, "l1i": 64 * KIB, "l2": 1 * MIB, "l3": 32 * MIB}
    assert cpu["freq_mhz"] == {"base": None, "max": None, "current": None}
    # aarch64 has no 'hypervisor' flag; the DMI (a non-metal EC2 instance type) says VM.
    assert virt["hypervisor"] is False
    assert (virt["cloud"], virt["environment"], virt["hypervisor_vendor"]) == ("aws", "cloud-vm", "KVM")


def test_graviton_metal_instance_is_bare_metal(tmp_path: Path) -> None:
    virt = _probe(tmp_path, "graviton3_aws_c7g_xlarge", sys__class__dmi__id__product_name="c7g.metal\n")[
        "virtualization"
    ]
    assert (virt["cloud"], virt["hypervisor_vendor"], virt["environment"]) == ("aws", None, "bare-metal")


def test_arm_without_dmi_is_unknown(tmp_path: Path) -> None:
    virt = _probe(tmp_path, "graviton3_aws_c7g_xlarge", sys__class__dmi=None)["virtualization"]
    # Without the x86 flag or a DMI table nothing tells a VM from bare metal.
    assert (virt["cloud"], virt["environment"]) == (None, "unknown")


def test_cascade_lake_two_sockets_bare_metal(tmp_path: Path) -> None:
    probes = _probe(tmp_path, "cascadelake_2s_dell_baremetal")
    cpu, virt, numa = probes["cpu"], probes["virtualization"], probes["numa"]
    # core_id 0,1 repeats in each package: 2 packages x 2 cores = 4 physical cores, 8 threads.
    assert (cpu["sockets"], cpu["cores"], cpu["threads"], cpu["threads_per_core"]) == (2, 4, 8, 2)
    assert cpu["numa_nodes"] == 2
    assert cpu["caches"]["l3"] == 28160 * KIB  # 27.5 MiB per socket
    assert cpu["cache_instances"]["l3"] == 2
    assert cpu["freq_mhz"] == {"base": 2500.0, "max": 3900.0, "current": 1000.026}
    assert cpu["freq_source"] == {"base": "sysfs", "max": "sysfs", "current": "sysfs"}
    assert "avx512_vnni" in cpu["simd"] and "avx512_bf16" not in cpu["simd"]
    assert numa["count"] == 2
    assert [n["cpus"] for n in numa["nodes"]] == [[0, 1, 4, 5], [2, 3, 6, 7]]
    assert numa["nodes"][0]["memory_bytes"] == 197657992 * 1024
    assert numa["nodes"][1]["distances"] == [21, 10]
    assert virt["hypervisor"] is False and virt["hypervisor_vendor"] is None
    assert (virt["cloud"], virt["environment"]) == (None, "bare-metal")
    assert virt["dmi"]["sys_vendor"] == "Dell Inc."


def test_container_without_hypervisor_is_container_question(tmp_path: Path) -> None:
    virt = _probe(tmp_path, "cascadelake_2s_dell_baremetal", **{".dockerenv": ""})["virtualization"]
    assert (virt["container"], virt["environment"]) == ("docker", "container?")


def test_base_clock_from_intel_model_name_when_no_cpufreq(tmp_path: Path) -> None:
    files = {k: v for k, v in _files("cascadelake_2s_dell_baremetal").items() if "/cpufreq/" not in k}
    cpu = collect_probes(_tree(tmp_path, files))["cpu"]
    # "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz" -> 2500 MHz base; current from cpuinfo "cpu MHz".
    assert cpu["freq_mhz"] == {"base": 2500.0, "max": None, "current": 1000.026}
    assert cpu["freq_source"] == {"base": "model name", "max": None, "current": "cpuinfo"}


# ----------------------------------------------------------------------------------- restricted trees
def _restricted(name: str) -> dict[str, str]:
    """No cache directory, no topology, no NUMA directory, no clocksource, no lscpu (and no DMI, cpufreq)."""
    drop = ("/cache/", "/topology/", "sys/devices/system/node", "clocksource", "_commands/", "sys/class/dmi")
    return {k: v for k, v in _files(name).items() if not any(d in k for d in drop)}


def test_restricted_tree_gives_none_where_unknown(tmp_path: Path) -> None:
    probes = collect_probes(_tree(tmp_path, _restricted("this_machine_epyc_kvm")))
    cpu, virt, numa = probes["cpu"], probes["virtualization"], probes["numa"]
    assert cpu["available"] and virt["available"] and numa["available"]
    assert cpu["caches"] == {"l1d": None, "l1i": None, "l2": None, "l3": None}
    assert cpu["cache_instances"] == {"l1d": None, "l1i": None, "l2": None, "l3": None}
    assert cpu["caches_source"] is None
    # Topology from cpuinfo's "physical id" / "core id"; frequency from "cpu MHz".
    assert (cpu["sockets"], cpu["cores"], cpu["threads"], cpu["topology_source"]) == (1, 2, 2, "cpuinfo")
    assert cpu["freq_mhz"] == {"base": None, "max": None, "current": 2596.144}
    assert virt["hypervisor"] is True and virt["hypervisor_vendor"] is None
    assert virt["dmi"] == dict.fromkeys(virt["dmi"])  # every field None
    assert virt["environment"] == "vm"  # the cpuinfo flag alone is enough
    assert numa["count"] == 1 and numa["source"].startswith("assumed")
    assert numa["nodes"][0]["cpus"] == [0, 1] and numa["nodes"][0]["memory_bytes"] == 24684096 * 1024
    json.dumps(probes)


def test_restricted_cpuinfo_without_mhz(tmp_path: Path) -> None:
    files = _restricted("this_machine_epyc_kvm")
    files["proc/cpuinfo"] = re.sub(r"^cpu MHz.*\n", "", files["proc/cpuinfo"], flags=re.MULTILINE)
    cpu = collect_probes(_tree(tmp_path, files))["cpu"]
    assert cpu["freq_mhz"] == {"base": None, "max": None, "current": None}


def test_cache_sizes_fall_back_to_lscpu(tmp_path: Path) -> None:
    files = _restricted("this_machine_epyc_kvm")
    files["_commands/lscpu"] = _files("this_machine_epyc_kvm")["_commands/lscpu"]
    cpu = collect_probes(_tree(tmp_path, files))["cpu"]
    # New lscpu prints totals: "L2 cache: 2 MiB (2 instances)" -> 1 MiB each; "L3 cache: 32 MiB (1 instance)".
    assert cpu["caches"] == {"l1d": 32 * KIB, "l1i": 32 * KIB, "l2": 1 * MIB, "l3": 32 * MIB}
    assert cpu["cache_instances"] == {"l1d": 2, "l1i": 2, "l2": 2, "l3": 1}
    assert cpu["caches_source"] == "lscpu"


def test_old_lscpu_cache_lines_are_one_instance(tmp_path: Path) -> None:
    files = _restricted("this_machine_epyc_kvm")
    files["_commands/lscpu"] = (
        "L1d cache:             32K\nL2 cache:              1024K\nL3 cache:              32768K\n"
    )
    cpu = collect_probes(_tree(tmp_path, files))["cpu"]
    assert cpu["caches"] == {"l1d": 32 * KIB, "l1i": None, "l2": 1 * MIB, "l3": 32 * MIB}
    assert cpu["cache_instances"]["l2"] is None


def test_empty_root_reports_unavailable_without_failing(tmp_path: Path) -> None:
    probes = collect_probes(tmp_path)
    assert probes["cpu"] == {
        "available": False,
        "reason": "neither /proc/cpuinfo nor /sys/devices/system/cpu is readable",
    }
    assert probes["virtualization"]["environment"] == "unknown"
    json.dumps(probes)


def test_cgroup_cpu_quota(tmp_path: Path) -> None:
    cpu = _probe(tmp_path, "spr_aws_m7i_2xlarge", **{"sys/fs/cgroup/cpu.max": "150000 100000\n"})["cpu"]
    assert cpu["cpu_quota"] == 1.5  # a container started with --cpus=1.5
    assert cpu["affinity_cpus"] is None  # only read on the live system


# ----------------------------------------------------------------------------------- registry behaviour
def test_registry_order() -> None:
    assert [p.name for p in PROBES] == ["cpu", "virtualization", "numa", "gpu", "software"]


class _Boom(Probe):
    name = "boom"

    def collect(self) -> dict[str, Any]:
        raise RuntimeError("no access")


class _NotJson(Probe):
    name = "notjson"

    def collect(self) -> dict[str, Any]:
        return {"cpus": {1, 2}}


class _Absent(Probe):
    name = "absent"

    def available(self) -> bool:
        return False

    def unavailable_reason(self) -> str:
        return "perf is not installed"


def test_a_failing_probe_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    root = _tree(tmp_path, _files("this_machine_epyc_kvm"))
    probes = collect_probes(root, [_Boom(root), _NotJson(root), _Absent(root), CpuProbe(root)])
    assert list(probes) == ["boom", "notjson", "absent", "cpu"]
    assert probes["boom"] == {"available": False, "reason": "probe raised RuntimeError: no access"}
    assert probes["notjson"]["available"] is False and "TypeError" in probes["notjson"]["reason"]
    assert probes["absent"] == {"available": False, "reason": "perf is not installed"}
    assert probes["cpu"]["available"] is True and probes["cpu"]["cores"] == 2


def test_gpu_probe_unavailable_without_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert collect_probes()["gpu"] == {
        "available": False,
        "reason": "no CUDA device (torch.cuda.is_available() is False)",
    }


def test_gpu_probe_layout_with_a_fake_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    props = SimpleNamespace(
        name="NVIDIA H100 80GB HBM3",
        multi_processor_count=132,
        total_memory=85_520_809_984,
        major=9,
        minor=0,
        L2_cache_size=52_428_800,
        uuid="0b2e7f6a-0000-0000-0000-000000000000",
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
    gpu = collect_probes(probes=[GpuProbe()])["gpu"]
    assert gpu["available"] is True and gpu["count"] == 1
    dev = gpu["devices"][0]
    assert (dev["name"], dev["sm_count"], dev["capability"]) == ("NVIDIA H100 80GB HBM3", 132, "9.0")
    assert dev["total_memory_bytes"] == 85_520_809_984
    assert gpu["cuda_version"] == torch.version.cuda
    assert set(dev) >= {"clocks_mhz", "power_limit_w", "uuid", "l2_cache_bytes"}
    if not gpu["nvml"]:
        assert gpu["nvml_reason"] and dev["clocks_mhz"] is None
    json.dumps(gpu)


# ----------------------------------------------------------------------------------------- cloud rules
@pytest.mark.parametrize(
    ("dmi", "cloud"),
    [
        ({"sys_vendor": "Amazon EC2", "product_name": "m7i.2xlarge"}, "aws"),
        ({"sys_vendor": "Xen", "product_name": "HVM domU", "bios_version": "4.11.amazon"}, "aws"),
        ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "gcp"),
        (
            {
                "sys_vendor": "Microsoft Corporation",
                "product_name": "Virtual Machine",
                "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77",
            },
            "azure",
        ),
        ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}, "azure"),
        (
            {
                "sys_vendor": "Microsoft Corporation",
                "product_name": "Virtual Machine",
                "chassis_asset_tag": "1234",
            },
            None,  # a local Hyper-V VM
        ),
        (
            {"sys_vendor": "QEMU", "product_name": "Standard PC", "chassis_asset_tag": "OracleCloud.com"},
            "oracle",
        ),
        ({"sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS"}, "alibaba"),
        ({"sys_vendor": "DigitalOcean", "product_name": "Droplet"}, "digitalocean"),
        ({"sys_vendor": "Hetzner", "product_name": "vServer"}, "hetzner"),
        ({"sys_vendor": "OpenStack Foundation", "product_name": "OpenStack Nova"}, "openstack"),
        ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, None),
        ({"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R740"}, None),
        ({}, None),
    ],
)
def test_detect_cloud(dmi: dict[str, str], cloud: str | None) -> None:
    found, evidence = detect_cloud(dmi)
    assert found == cloud
    assert (evidence is None) == (cloud is None)


def test_qemu_dmi_on_arm_is_a_vm(tmp_path: Path) -> None:
    virt = _probe(
        tmp_path,
        "graviton3_aws_c7g_xlarge",
        sys__class__dmi__id__sys_vendor="QEMU\n",
        sys__class__dmi__id__product_name="KVM Virtual Machine\n",
        sys__class__dmi__id__bios_vendor="EFI Development Kit II / OVMF\n",
        sys__class__dmi__id__board_vendor="\n",
        sys__class__dmi__id__chassis_vendor="QEMU\n",
        sys__class__dmi__id__chassis_asset_tag="\n",
    )["virtualization"]
    assert (virt["cloud"], virt["hypervisor_vendor"], virt["environment"]) == (None, "KVM", "vm")


# ------------------------------------------------------------------------------------------ fingerprint
def test_fingerprint_stable_and_discriminating(tmp_path: Path) -> None:
    root = _tree(tmp_path, _files("spr_aws_m7i_2xlarge"))
    a, b = collect_probes(root), collect_probes(root)
    fp = fingerprint(a)
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert fingerprint(b) == fp
    assert fingerprint(json.loads(json.dumps(a))) == fp  # survives a JSON round trip (the cache)

    def changed(path: tuple[str, ...], value: Any) -> str:
        data = json.loads(json.dumps(a))
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return fingerprint(data)

    # Drifting values do not change it.
    assert changed(("cpu", "freq_mhz", "current"), 3100.0) == fp
    assert changed(("software", "env", "OMP_NUM_THREADS"), "1") == fp
    assert changed(("cpu", "memory_bytes"), a["cpu"]["memory_bytes"] + 4096) == fp  # MemTotal moved 4 kB
    # Identity does.
    assert changed(("cpu", "model"), "Intel(R) Xeon(R) Platinum 8375C") != fp
    assert changed(("cpu", "caches", "l3"), 54 * MIB) != fp
    assert changed(("software", "hostname"), "other-host") != fp
    assert changed(("cpu", "cpu_quota"), 2.0) != fp
    assert changed(("software", "torch"), {"version": "9.9.9"}) != fp
    gpu = {"available": True, "devices": [{"name": "NVIDIA L4", "total_memory_bytes": 23_580_639_232}]}
    assert changed(("gpu",), gpu) != fp
    other = collect_probes(_tree(tmp_path / "b", _files("cascadelake_2s_dell_baremetal")))
    assert fingerprint(other) != fp


# --------------------------------------------------------------------------------------------- helpers
def test_capture_files_round_trip(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src", _files("cascadelake_2s_dell_baremetal"))
    copy = _tree(tmp_path / "copy", capture_files(src))
    a, b = collect_probes(src), collect_probes(copy)
    for name in ("cpu", "virtualization", "numa"):
        assert a[name] == b[name], name


def test_parse_helpers() -> None:
    assert parse_cpulist("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    assert parse_cpulist("") == [] and parse_cpulist(None) == []
    assert parse_size("32K") == 32768
    assert parse_size("1 MiB") == 1048576
    assert parse_size("32768K") == 32 * MIB
    assert parse_size("junk") is None and parse_size(None) is None
    assert set(SIMD_FEATURES) >= {"avx2", "avx512f", "amx_bf16", "asimd", "sve"}


_TORCH_CONFIG_MKL = """PyTorch built with:
  - GCC 13.3
  - C++ Version: 202002
  - Intel(R) oneAPI Math Kernel Library Version 2024.2-Product Build 20240605 for Intel(R) 64 architecture applications
  - Intel(R) MKL-DNN v3.12.0 (Git Hash 80afa71049cd69a3df32adcccb623b12cd7baa22)
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - LAPACK is enabled (usually provided by MKL)
  - CPU capability usage: AVX2
  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, CUDA_FLAGS=-Xfatbin -compress-all,--diag_suppress=x, CUDA_VERSION=13.0, LAPACK_INFO=mkl, TORCH_VERSION=2.14.1, USE_CUDA=1, USE_MKLDNN=ON, USE_OPENMP=ON,
"""
_TORCH_CONFIG_ARM = """PyTorch built with:
  - GCC 11.2
  - C++ Version: 201703
  - Intel(R) MKL-DNN v3.5.3 (Git Hash 66f0cb9eb66affd2da3bf5f8d897376f04aae6af)
  - OpenMP 201511 (a.k.a. OpenMP 4.5)
  - LAPACK is enabled (usually provided by MKL)
  - NNPACK is enabled
  - CPU capability usage: SVE256
  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, LAPACK_INFO=open, TORCH_VERSION=2.5.1, USE_CUDA=OFF, USE_MKL=OFF, USE_MKLDNN=ON, USE_OPENMP=ON
"""


def test_parse_torch_config() -> None:
    mkl = parse_torch_config(_TORCH_CONFIG_MKL)
    assert (mkl["blas"], mkl["lapack"], mkl["mkl_version"]) == ("mkl", "mkl", "2024.2")
    assert (mkl["onednn_version"], mkl["openmp"], mkl["cpu_capability_build"]) == ("3.12.0", "4.5", "AVX2")
    assert mkl["compiler"] == "GCC 13.3"
    assert mkl["build_settings"]["CUDA_VERSION"] == "13.0"  # after a value holding commas
    assert mkl["build_settings"]["USE_OPENMP"] == "ON"  # before the trailing comma
    arm = parse_torch_config(_TORCH_CONFIG_ARM)
    assert (arm["blas"], arm["mkl_version"], arm["cpu_capability_build"]) == ("open", None, "SVE256")
    assert arm["build_settings"]["USE_OPENMP"] == "ON"
    assert parse_torch_config("")["blas"] is None
