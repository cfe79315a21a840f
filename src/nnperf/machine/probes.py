"""System probes: what the machine is, read from /proc, /sys, torch and NVML.

An explicit, ordered registry (:data:`PROBES`, in the manner of pyperf's ``_system.py``): each probe is a
class with a ``name``, ``available()`` and ``collect()`` returning JSON-serialisable plain data.
:func:`collect_probes` runs them in order; a probe that is unavailable or raises is reported as
``{"available": False, "reason": "..."}`` and never fails the run, because restricted machines (VMs without
perf, NVML, DMI, cpufreq or an ``lscpu`` binary; containers) are the common case, not the exception.

File-based probes read paths relative to ``root`` so tests can point them at a fake tree (see
:func:`capture_files`, which snapshots the files they read). Output of commands is taken from
``<root>/_commands/<name>`` when ``root`` is not ``/``, so a fake tree can carry an ``lscpu`` output too. The
``gpu`` and ``software`` probes describe the running process (torch, NVML, environment) whatever the root.

Units are in the key names: ``*_bytes`` are bytes, ``*_mhz`` megahertz. Unknown values are ``None``, never a
guess presented as a fact; where a value is assumed, a ``*_source`` key says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "PROBES",
    "CpuProbe",
    "GpuProbe",
    "NumaProbe",
    "Probe",
    "SoftwareProbe",
    "VirtualizationProbe",
    "capture_files",
    "collect_probes",
    "detect_cloud",
    "fingerprint",
    "parse_torch_config",
]

LIVE_ROOT = Path("/")

# Notable SIMD / matrix features, in the order they are reported (oldest and narrowest first). Names are the
# Linux kernel's cpuinfo flag names: on aarch64 "asimd" is NEON (AdvSIMD), "asimdhp" its fp16 arithmetic,
# "bf16" the BFDOT/BFMMLA instructions; on 32-bit ARM the flag is "neon".
SIMD_FEATURES: tuple[str, ...] = (
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
    "amx_fp16",
    "neon",
    "asimd",
    "asimdhp",
    "asimddp",
    "bf16",
    "i8mm",
    "sve",
    "sve2",
    "svebf16",
    "sme",
)

_X86_VENDORS = {
    "GenuineIntel": "Intel",
    "AuthenticAMD": "AMD",
    "HygonGenuine": "Hygon",
    "CentaurHauls": "Centaur",
    "Shanghai": "Zhaoxin",
}
# aarch64 "CPU implementer" codes (Arm ARM, MIDR_EL1.Implementer).
_ARM_IMPLEMENTERS = {
    "0x41": "ARM",
    "0x42": "Broadcom",
    "0x43": "Cavium",
    "0x46": "Fujitsu",
    "0x48": "HiSilicon",
    "0x4e": "NVIDIA",
    "0x50": "APM",
    "0x51": "Qualcomm",
    "0x61": "Apple",
    "0xc0": "Ampere",
}
# (implementer, part) -> core name, as lscpu names them. Only cores seen in servers and clouds.
_ARM_PARTS = {
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd49"): "Neoverse-N2",
    ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x41", "0xd84"): "Neoverse-V3",
    ("0x41", "0xd8e"): "Neoverse-N3",
    ("0xc0", "0xac3"): "AmpereOne",
    ("0x46", "0x001"): "A64FX",
}

_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OPENBLAS_CORETYPE",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "KMP_AFFINITY",
    "GOMP_CPU_AFFINITY",
    "ONEDNN_MAX_CPU_ISA",
    "ATEN_CPU_CAPABILITY",
    "CUDA_VISIBLE_DEVICES",
)


# --------------------------------------------------------------------------------------------------- helpers
def _read(root: Path, rel: str) -> str | None:
    """Text of ``root/rel`` stripped, or None when it is missing or unreadable."""
    try:
        return (root / rel.lstrip("/")).read_text(errors="replace").strip()
    except (OSError, ValueError):
        return None


def _read_int(root: Path, rel: str) -> int | None:
    text = _read(root, rel)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _exists(root: Path, rel: str) -> bool:
    try:
        return (root / rel.lstrip("/")).exists()
    except OSError:
        return False


def parse_cpulist(text: str | None) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's cpulist format); '' or None -> []."""
    cpus: list[int] = []
    for part in (text or "").strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2}
_SIZE_UNITS |= {"G": 1024**3, "GB": 1024**3, "GIB": 1024**3}


def parse_size(text: str | None) -> int | None:
    """Cache sizes as sysfs and lscpu write them, binary units: '32K' -> 32768, '1 MiB' -> 1048576."""
    if not text:
        return None
    m = re.fullmatch(r"\s*([\d.]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).upper() not in _SIZE_UNITS:
        return None
    return round(float(m.group(1)) * _SIZE_UNITS[m.group(2).upper()])


def _cpuinfo_blocks(root: Path) -> list[dict[str, str]]:
    """/proc/cpuinfo as a list of key -> value blocks (one per blank-line separated block)."""
    text = _read(root, "proc/cpuinfo")
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text or ""):
        block: dict[str, str] = {}
        for line in chunk.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                block[key.strip()] = value.strip()
        if block:
            blocks.append(block)
    return blocks


def _meminfo_total(root: Path) -> int | None:
    text = _read(root, "proc/meminfo") or ""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def _command_output(root: Path, name: str, args: list[str]) -> str | None:
    """Output of a read-only command on the live system, or ``<root>/_commands/<name>`` for a fake tree."""
    if root != LIVE_ROOT:
        return _read(root, f"_commands/{name}")
    exe = shutil.which(args[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *args[1:]],
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C"},  # field names in English whatever the locale
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _lscpu(root: Path) -> dict[str, str]:
    """``lscpu`` fields ('Hypervisor vendor' -> 'KVM'); empty when the binary (or fake output) is absent."""
    out = _command_output(root, "lscpu", ["lscpu"])
    fields: dict[str, str] = {}
    for line in (out or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    return fields


def _online_cpus(root: Path, blocks: list[dict[str, str]]) -> tuple[list[int], str]:
    cpus = parse_cpulist(_read(root, "sys/devices/system/cpu/online"))
    if cpus:
        return cpus, "sysfs"
    ids = [int(b["processor"]) for b in blocks if b.get("processor", "").isdigit()]
    if ids:
        return sorted(ids), "cpuinfo"
    n = os.cpu_count() if root == LIVE_ROOT else None
    return (list(range(n)), "os.cpu_count") if n else ([], "unknown")


# ------------------------------------------------------------------------------------------------- registry
class Probe:
    """One kind of system information. Subclasses set ``name`` and implement ``collect``."""

    name: ClassVar[str] = ""

    def __init__(self, root: Path = LIVE_ROOT) -> None:
        self.root = Path(root)

    def available(self) -> bool:
        return True

    def unavailable_reason(self) -> str:
        return f"probe {self.name!r} is not available on this system"

    def collect(self) -> dict[str, Any]:
        raise NotImplementedError


class CpuProbe(Probe):
    """Model, topology, ISA features, cache sizes, frequency and memory of the CPU(s)."""

    name = "cpu"

    def available(self) -> bool:
        return _exists(self.root, "proc/cpuinfo") or _exists(self.root, "sys/devices/system/cpu")

    def unavailable_reason(self) -> str:
        return "neither /proc/cpuinfo nor /sys/devices/system/cpu is readable"

    def collect(self) -> dict[str, Any]:
        root = self.root
        blocks = _cpuinfo_blocks(root)
        procs = [b for b in blocks if "processor" in b] or blocks
        first = procs[0] if procs else {}
        info: dict[str, Any] = {}
        info.update(self._identity(first, blocks))
        cpus, cpus_source = _online_cpus(root, procs)
        info.update(self._topology(cpus, procs))
        info["online_cpus"] = cpus
        info["online_cpus_source"] = cpus_source
        flags = sorted(set((first.get("flags") or first.get("Features") or "").split()))
        info["flags"] = flags
        flag_set = set(flags)
        info["simd"] = [f for f in SIMD_FEATURES if f in flag_set]
        vl = _read_int(root, "proc/sys/abi/sve_default_vector_length") if "sve" in flag_set else None
        info["sve_vector_bits"] = vl * 8 if vl else None  # the file holds bytes
        info.update(self._caches(cpus))
        info.update(self._frequency(first, info.get("model")))
        info["memory_bytes"] = _meminfo_total(root)
        info.update(self._limits())
        return info

    # -- pieces
    def _identity(self, first: dict[str, str], blocks: list[dict[str, str]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "vendor_id" in first:  # x86
            vendor_id = first["vendor_id"].strip()
            out["vendor"] = _X86_VENDORS.get(vendor_id, vendor_id)
            out["model"] = first.get("model name")
            out["arch"] = platform.machine() if self.root == LIVE_ROOT else "x86_64"
            out["family"] = _int_or_none(first.get("cpu family"))
            out["model_id"] = _int_or_none(first.get("model"))
            out["stepping"] = _int_or_none(first.get("stepping"))
            out["cpu_implementer"] = out["cpu_part"] = None
        else:  # ARM: per-core ID registers instead of a vendor string and model name
            impl = (first.get("CPU implementer") or "").lower() or None
            part = (first.get("CPU part") or "").lower() or None
            lscpu_model = _lscpu(self.root).get("Model name")
            core = _ARM_PARTS.get((impl or "", part or ""))
            out["vendor"] = _ARM_IMPLEMENTERS.get(impl or "", impl)
            out["model"] = (
                first.get("model name") or lscpu_model or core or (f"part {part}" if part else None)
            )
            arch = first.get("CPU architecture")
            inferred = "aarch64" if arch == "8" else ("armv7l" if arch else None)
            out["arch"] = platform.machine() if self.root == LIVE_ROOT else inferred
            out["family"] = out["model_id"] = out["stepping"] = None
            out["cpu_implementer"] = impl
            out["cpu_part"] = part
        return out

    def _topology(self, cpus: list[int], procs: list[dict[str, str]]) -> dict[str, Any]:
        root = self.root
        packages: dict[int, int] = {}
        cores: set[tuple[int, int]] = set()
        source = "sysfs"
        for cpu in cpus:
            base = f"sys/devices/system/cpu/cpu{cpu}/topology"
            pkg = _read_int(root, f"{base}/physical_package_id")
            core = _read_int(root, f"{base}/core_id")
            if pkg is None or core is None:
                source = ""
                break
            pkg = max(pkg, 0)  # some ARM firmware reports -1: one package
            packages[cpu] = pkg
            cores.add((pkg, core))
        if not source:  # no sysfs topology: the x86 cpuinfo fields, else one core per logical CPU
            cores.clear()
            packages.clear()
            for b in procs:
                if "physical id" in b and "core id" in b and b.get("processor", "").isdigit():
                    pkg, core = int(b["physical id"]), int(b["core id"])
                    packages[int(b["processor"])] = pkg
                    cores.add((pkg, core))
            source = "cpuinfo" if cores else "assumed: one core per logical CPU, one socket"
        threads = len(cpus) or len(procs) or None
        n_cores = len(cores) or threads
        sockets = len(set(packages.values())) or (1 if threads else None)
        node_ids = [
            n for n in parse_cpulist(_read(root, "sys/devices/system/node/online")) if n >= 0
        ] or self._node_dirs()
        return {
            "sockets": sockets,
            "cores": n_cores,
            "threads": threads,
            "threads_per_core": (threads // n_cores) if threads and n_cores else None,
            "numa_nodes": len(node_ids) or 1,
            "topology_source": source,
        }

    def _node_dirs(self) -> list[int]:
        try:
            names = os.listdir(self.root / "sys/devices/system/node")
        except OSError:
            return []
        return sorted(int(n[4:]) for n in names if re.fullmatch(r"node\d+", n))

    def _caches(self, cpus: list[int]) -> dict[str, Any]:
        """Size of one instance per level (cpu0's view) and how many instances the online CPUs share."""
        root = self.root
        sizes: dict[str, int | None] = {"l1d": None, "l1i": None, "l2": None, "l3": None}
        instances: dict[str, int | None] = dict.fromkeys(sizes)
        line: int | None = None
        cpu0 = cpus[0] if cpus else 0
        index_of: dict[str, int] = {}
        for idx in range(16):
            base = f"sys/devices/system/cpu/cpu{cpu0}/cache/index{idx}"
            level = _read_int(root, f"{base}/level")
            if level is None:
                if not _exists(root, base):
                    break
                continue
            key = _cache_key(level, _read(root, f"{base}/type") or "")
            if key is None:
                continue
            sizes[key] = parse_size(_read(root, f"{base}/size"))
            index_of[key] = idx
            if key == "l1d":
                line = _read_int(root, f"{base}/coherency_line_size")
        for key, idx in index_of.items():
            # Count distinct sharing groups; skip CPUs already inside a group seen (cheap on big machines).
            groups: set[tuple[int, ...]] = set()
            covered: set[int] = set()
            for cpu in cpus:
                if cpu in covered:
                    continue
                shared = parse_cpulist(
                    _read(root, f"sys/devices/system/cpu/cpu{cpu}/cache/index{idx}/shared_cpu_list")
                ) or [cpu]
                groups.add(tuple(shared))
                covered.update(shared)
            instances[key] = len(groups) or None
        source: str | None = "sysfs" if index_of else None
        if not index_of:
            sizes, instances, source = self._caches_from_lscpu(sizes, instances)
        return {
            "caches": sizes,
            "cache_instances": instances,
            "caches_source": source,
            "cache_line_bytes": line,
        }

    def _caches_from_lscpu(
        self, sizes: dict[str, int | None], instances: dict[str, int | None]
    ) -> tuple[dict[str, int | None], dict[str, int | None], str | None]:
        fields = _lscpu(self.root)
        found = False
        for key, label in (
            ("l1d", "L1d cache"),
            ("l1i", "L1i cache"),
            ("l2", "L2 cache"),
            ("l3", "L3 cache"),
        ):
            value = fields.get(label)
            if not value:
                continue
            # New lscpu: "2 MiB (2 instances)" is the total; old lscpu: "1024K" is one instance.
            m = re.match(r"(.+?)\s*\((\d+)\s+instances?\)", value)
            total = parse_size(m.group(1) if m else value)
            n = int(m.group(2)) if m else None
            if total is None:
                continue
            sizes[key] = total // n if n else total
            instances[key] = n
            found = True
        return sizes, instances, ("lscpu" if found else None)

    def _frequency(self, first: dict[str, str], model: str | None) -> dict[str, Any]:
        root = self.root
        base = "sys/devices/system/cpu/cpu0/cpufreq"
        if not _exists(root, base):
            base = "sys/devices/system/cpu/cpufreq/policy0"
        khz = {
            "base": _read_int(root, f"{base}/base_frequency"),  # intel_pstate only
            "max": _read_int(root, f"{base}/cpuinfo_max_freq"),
            "current": _read_int(root, f"{base}/scaling_cur_freq"),
        }
        mhz: dict[str, float | None] = {k: (v / 1000.0 if v else None) for k, v in khz.items()}
        src: dict[str, str | None] = {k: ("sysfs" if v else None) for k, v in mhz.items()}
        if mhz["base"] is None and model:
            # Intel model names carry the base clock: "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz".
            m = re.search(r"@\s*([\d.]+)\s*GHz", model)
            if m:
                mhz["base"], src["base"] = float(m.group(1)) * 1000.0, "model name"
        if mhz["current"] is None:
            cur = _float_or_none(first.get("cpu MHz"))
            if cur:
                mhz["current"], src["current"] = cur, "cpuinfo"
        return {
            "freq_mhz": {"base": mhz["base"], "max": mhz["max"], "current": mhz["current"]},
            "freq_source": src,
        }

    def _limits(self) -> dict[str, Any]:
        """CPUs this process may use: affinity (live only) and the cgroup CPU quota (a container's --cpus)."""
        affinity: int | None = None
        if self.root == LIVE_ROOT and hasattr(os, "sched_getaffinity"):
            try:
                affinity = len(os.sched_getaffinity(0))
            except OSError:
                affinity = None
        quota: float | None = None
        v2 = _read(self.root, "sys/fs/cgroup/cpu.max")  # cgroup v2: "max 100000" or "200000 100000"
        if v2:
            parts = v2.split()
            if len(parts) == 2 and parts[0] != "max":
                quota = _ratio(parts[0], parts[1])
        else:
            for d in ("sys/fs/cgroup/cpu", "sys/fs/cgroup/cpu,cpuacct"):
                q, p = _read(self.root, f"{d}/cpu.cfs_quota_us"), _read(self.root, f"{d}/cpu.cfs_period_us")
                if q and p:
                    quota = _ratio(q, p) if not q.startswith("-") else None
                    break
        return {"affinity_cpus": affinity, "cpu_quota": quota}


def _cache_key(level: int, kind: str) -> str | None:
    kind = kind.lower()
    if level == 1:
        return {"data": "l1d", "instruction": "l1i"}.get(kind)
    return f"l{level}" if level in (2, 3) and kind == "unified" else None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _ratio(num: str, den: str) -> float | None:
    try:
        return int(num) / int(den) if int(den) > 0 else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ virtualization
DMI_FIELDS = (
    "sys_vendor",
    "product_name",
    "product_version",
    "bios_vendor",
    "bios_version",
    "board_vendor",
    "chassis_vendor",
    "chassis_asset_tag",
)
# Azure writes this fixed chassis asset tag into every VM (it tells Azure from a local Hyper-V VM).
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"


def detect_cloud(dmi: dict[str, str | None]) -> tuple[str | None, str | None]:
    """(cloud, evidence) from DMI strings; (None, None) when no rule matches.

    Rules, first match wins (case-insensitive): 'Amazon EC2' in a vendor field or 'amazon' in the BIOS
    version (old Xen instances) -> aws; 'Google' -> gcp; Microsoft 'Virtual Machine' -> azure when the chassis
    asset tag is Azure's (or unreadable: then the evidence says a local Hyper-V VM is possible); the
    'OracleCloud.com' asset tag -> oracle; 'Alibaba Cloud' -> alibaba; 'DigitalOcean' -> digitalocean;
    'Hetzner' -> hetzner; 'OpenStack' -> openstack.
    """
    f = {k: (dmi.get(k) or "") for k in DMI_FIELDS}
    low = {k: v.lower() for k, v in f.items()}
    vendors = " | ".join(low[k] for k in ("sys_vendor", "bios_vendor", "board_vendor", "chassis_vendor"))
    if "amazon ec2" in vendors or low["product_name"].startswith("amazon"):
        return "aws", f"DMI vendor {f['sys_vendor'] or f['bios_vendor']!r} (Amazon EC2)"
    if "amazon" in low["bios_version"]:
        return "aws", f"DMI bios_version {f['bios_version']!r} (Xen-based EC2)"
    if "google" in vendors or "google compute engine" in low["product_name"]:
        return "gcp", f"DMI product {f['product_name']!r} / vendor {f['sys_vendor']!r} (Google)"
    if "microsoft" in low["sys_vendor"] and "virtual machine" in low["product_name"]:
        tag = f["chassis_asset_tag"]
        if tag == AZURE_ASSET_TAG:
            return "azure", f"DMI Microsoft 'Virtual Machine' with Azure's chassis asset tag {tag}"
        if not tag:
            return "azure", "DMI Microsoft 'Virtual Machine' (asset tag unreadable: could be local Hyper-V)"
        return None, None  # a Hyper-V VM outside Azure
    if "oraclecloud.com" in low["chassis_asset_tag"]:
        return "oracle", f"DMI chassis asset tag {f['chassis_asset_tag']!r}"
    if "alibaba" in vendors or "alibaba cloud" in low["product_name"]:
        return "alibaba", f"DMI vendor {f['sys_vendor']!r}"
    if "digitalocean" in vendors:
        return "digitalocean", f"DMI vendor {f['sys_vendor']!r}"
    if "hetzner" in vendors:
        return "hetzner", f"DMI vendor {f['sys_vendor']!r}"
    if "openstack" in vendors or "openstack" in low["product_name"]:
        return "openstack", f"DMI product {f['product_name']!r} / vendor {f['sys_vendor']!r}"
    return None, None


def _hypervisor_from_dmi(dmi: dict[str, str | None], cloud: str | None) -> str | None:
    """The hypervisor a DMI table names, or None. Only strings that no physical machine carries."""
    vendor = (dmi.get("sys_vendor") or "").lower()
    product = (dmi.get("product_name") or "").lower()
    bios = (dmi.get("bios_vendor") or "").lower()
    if cloud == "aws":
        # Nitro instances are KVM-based; '.metal' instance types are bare metal; old ones ran Xen.
        if product.endswith("metal") or ".metal" in product:
            return None
        return "Xen" if "xen" in vendor or "hvm domu" in product else "KVM"
    if cloud == "gcp":
        return "KVM"  # GCE runs every VM on KVM
    if product == "kvm" or "qemu" in vendor or "kvm" in product:
        return "KVM"
    if "vmware" in vendor or "vmware" in product:
        return "VMware"
    if "virtualbox" in product or "innotek" in vendor:
        return "VirtualBox"
    if "microsoft" in vendor and "virtual machine" in product:
        return "Microsoft"
    if "xen" in vendor or "hvm domu" in product or "xen" in bios:
        return "Xen"
    if "bhyve" in vendor or "bhyve" in bios:
        return "bhyve"
    if "parallels" in vendor:
        return "Parallels"
    return None


class VirtualizationProbe(Probe):
    """Virtual machine or bare metal, which hypervisor, which cloud, inside a container or not.

    ``environment`` rule: "cloud-vm" when there is evidence of a hypervisor and a cloud is detected; "vm"
    when there is evidence of a hypervisor and no cloud; otherwise "container?" when container markers are
    present (the host looks bare metal, but a container may hide what would say otherwise); otherwise
    "bare-metal" when the absence of evidence means something (x86, where every mainstream hypervisor sets the
    cpuinfo 'hypervisor' flag, or a readable DMI table); otherwise "unknown" (e.g. ARM without DMI).
    Evidence of a hypervisor: the cpuinfo 'hypervisor' flag, /sys/hypervisor/type, lscpu's 'Hypervisor
    vendor', a paravirtual clocksource (kvm-clock, hyperv, xen), or DMI strings that name a hypervisor or a
    cloud's non-metal instance. ``container`` (docker, podman, kubernetes, lxc or None) is reported apart.
    """

    name = "virtualization"

    def collect(self) -> dict[str, Any]:
        root = self.root
        evidence: list[str] = []
        blocks = _cpuinfo_blocks(root)
        first = next((b for b in blocks if "processor" in b), blocks[0] if blocks else {})
        flags = set((first.get("flags") or "").split())
        is_x86 = "vendor_id" in first
        hyper_flag = "hypervisor" in flags
        if hyper_flag:
            evidence.append("cpuinfo flags include 'hypervisor'")
        elif is_x86:
            evidence.append("cpuinfo flags lack 'hypervisor'")
        elif first:
            evidence.append(
                "no cpuinfo 'hypervisor' flag on this architecture (x86 only): not evidence either way"
            )

        dmi_readable = _exists(root, "sys/class/dmi/id")
        dmi: dict[str, str | None] = {k: _read(root, f"sys/class/dmi/id/{k}") or None for k in DMI_FIELDS}
        if not dmi_readable:
            evidence.append("no /sys/class/dmi/id (DMI unreadable)")
        cloud, cloud_why = detect_cloud(dmi)
        if cloud_why:
            evidence.append(cloud_why)

        vendors: list[tuple[str, str]] = []  # (vendor, why), most authoritative first
        lscpu_vendor = _lscpu(root).get("Hypervisor vendor")
        if lscpu_vendor:
            vendors.append((lscpu_vendor, f"lscpu: Hypervisor vendor {lscpu_vendor}"))
        sys_hyp = _read(root, "sys/hypervisor/type")
        if sys_hyp:
            vendors.append(
                (sys_hyp.capitalize() if sys_hyp == "xen" else sys_hyp, f"/sys/hypervisor/type {sys_hyp}")
            )
        clocks = (
            _read(root, "sys/devices/system/clocksource/clocksource0/available_clocksource") or ""
        ).split()
        for clock, vendor in (
            ("kvm-clock", "KVM"),
            ("hyperv_clocksource_tsc_page", "Microsoft"),
            ("xen", "Xen"),
        ):
            if clock in clocks:
                vendors.append((vendor, f"paravirtual clocksource {clock!r} available"))
        dmi_vendor = _hypervisor_from_dmi(dmi, cloud)
        if dmi_vendor:
            vendors.append((dmi_vendor, f"DMI names a virtual machine ({dmi_vendor})"))
        evidence.extend(why for _, why in vendors)
        hypervisor_vendor = vendors[0][0] if vendors else None
        is_vm = hyper_flag or bool(vendors)

        container, container_why = self._container()
        if container_why:
            evidence.append(container_why)

        if is_vm:
            environment = "cloud-vm" if cloud else "vm"
        elif container:
            environment = "container?"
        elif is_x86 or dmi_readable:
            environment = "bare-metal"
        else:
            environment = "unknown"
        return {
            "hypervisor": hyper_flag,
            "hypervisor_vendor": hypervisor_vendor,
            "dmi": dmi,
            "cloud": cloud,
            "container": container,
            "environment": environment,
            "evidence": evidence,
        }

    def _container(self) -> tuple[str | None, str | None]:
        root = self.root
        if _exists(root, ".dockerenv"):
            return "docker", "/.dockerenv exists"
        if _exists(root, "run/.containerenv"):
            return "podman", "/run/.containerenv exists"
        cgroup = _read(root, "proc/1/cgroup") or ""
        for marker, kind in (
            ("kubepods", "kubernetes"),
            ("docker", "docker"),
            ("libpod", "podman"),
            ("lxc", "lxc"),
        ):
            if marker in cgroup:
                return kind, f"/proc/1/cgroup mentions {marker!r}"
        if root == LIVE_ROOT and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return "kubernetes", "KUBERNETES_SERVICE_HOST is set"
        return None, None


# ------------------------------------------------------------------------------------------------------ NUMA
class NumaProbe(Probe):
    """NUMA nodes with their CPUs, memory and distances; one assumed node when sysfs has none."""

    name = "numa"

    def collect(self) -> dict[str, Any]:
        root = self.root
        ids = parse_cpulist(_read(root, "sys/devices/system/node/online"))
        if not ids:
            ids = CpuProbe(root)._node_dirs()
        nodes: list[dict[str, Any]] = []
        for n in ids:
            base = f"sys/devices/system/node/node{n}"
            meminfo = _read(root, f"{base}/meminfo") or ""
            m = re.search(r"MemTotal:\s+(\d+)\s*kB", meminfo)
            dist = _read(root, f"{base}/distance")
            nodes.append(
                {
                    "id": n,
                    "cpus": parse_cpulist(_read(root, f"{base}/cpulist")),
                    "memory_bytes": int(m.group(1)) * 1024 if m else None,
                    "distances": [int(d) for d in dist.split()] if dist else None,
                }
            )
        if nodes:
            return {"count": len(nodes), "nodes": nodes, "source": "sysfs"}
        cpus, _ = _online_cpus(root, [b for b in _cpuinfo_blocks(root) if "processor" in b])
        one = {"id": 0, "cpus": cpus, "memory_bytes": _meminfo_total(root), "distances": None}
        return {"count": 1, "nodes": [one], "source": "assumed: no /sys/devices/system/node"}


# ------------------------------------------------------------------------------------------------------- GPU
class _Nvml:
    """pynvml (nvidia-ml-py) when importable; every call guarded, because NVML is often missing in VMs."""

    def __init__(self) -> None:
        self.mod: Any = None
        self.reason: str | None = None
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            self.mod = pynvml
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, driver mismatch, ...
            self.reason = f"NVML unavailable: {type(exc).__name__}: {exc}".strip()

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            value = getattr(self.mod, fn)(*args)
        except Exception:
            return None
        return value.decode() if isinstance(value, bytes) else value

    def driver_version(self) -> str | None:
        return self._call("nvmlSystemGetDriverVersion") if self.mod else None

    def handle(self, index: int, props: Any) -> Any:
        """The NVML handle of torch's device ``index``: by UUID, else PCI bus id, else the same index.

        torch's numbering follows CUDA_VISIBLE_DEVICES / CUDA_DEVICE_ORDER, NVML's does not, hence the UUID.
        """
        if not self.mod:
            return None
        uuid = getattr(props, "uuid", None)
        if uuid is not None:
            h = self._call("nvmlDeviceGetHandleByUUID", f"GPU-{uuid}")
            if h is not None:
                return h
        bus = getattr(props, "pci_bus_id", None)
        dom = getattr(props, "pci_domain_id", None)
        dev = getattr(props, "pci_device_id", None)
        if bus is not None and dom is not None and dev is not None:
            h = self._call("nvmlDeviceGetHandleByPciBusId", f"{dom:08x}:{bus:02x}:{dev:02x}.0")
            if h is not None:
                return h
        if not os.environ.get("CUDA_VISIBLE_DEVICES"):
            return self._call("nvmlDeviceGetHandleByIndex", index)
        return None

    def details(self, handle: Any) -> dict[str, Any]:
        m = self.mod
        if handle is None or m is None:
            return {}
        sm, mem = getattr(m, "NVML_CLOCK_SM", 1), getattr(m, "NVML_CLOCK_MEM", 2)
        power_mw = self._call("nvmlDeviceGetEnforcedPowerLimit", handle)
        bus_width = self._call("nvmlDeviceGetMemoryBusWidth", handle)
        return {
            "clocks_mhz": {
                "sm_max": self._call("nvmlDeviceGetMaxClockInfo", handle, sm),
                "mem_max": self._call("nvmlDeviceGetMaxClockInfo", handle, mem),
                "sm_current": self._call("nvmlDeviceGetClockInfo", handle, sm),
                "mem_current": self._call("nvmlDeviceGetClockInfo", handle, mem),
            },
            "power_limit_w": power_mw / 1000.0 if isinstance(power_mw, int | float) else None,
            "memory_bus_width_bits": bus_width if isinstance(bus_width, int) else None,
        }


class GpuProbe(Probe):
    """CUDA devices through torch.cuda, with clocks, power limit and driver version from NVML when present."""

    name = "gpu"

    def available(self) -> bool:
        try:
            import torch
        except Exception:
            return False
        return bool(torch.cuda.is_available())

    def unavailable_reason(self) -> str:
        try:
            import torch  # noqa: F401
        except Exception as exc:
            return f"torch is not importable ({type(exc).__name__}: {exc})"
        return "no CUDA device (torch.cuda.is_available() is False)"

    def collect(self) -> dict[str, Any]:
        import torch

        nvml = _Nvml()
        devices: list[dict[str, Any]] = []
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            uuid = getattr(p, "uuid", None)
            dev: dict[str, Any] = {
                "index": i,
                "name": str(p.name),
                "sm_count": int(p.multi_processor_count),
                "total_memory_bytes": int(p.total_memory),
                "capability": f"{p.major}.{p.minor}",
                "l2_cache_bytes": _int_attr(p, "L2_cache_size"),
                "uuid": str(uuid) if uuid is not None else None,
                "clocks_mhz": None,
                "power_limit_w": None,
                "memory_bus_width_bits": None,
            }
            dev.update(nvml.details(nvml.handle(i, p)))
            devices.append(dev)
        driver = nvml.driver_version()
        driver_source = "nvml" if driver else None
        if not driver:
            # /proc/driver/nvidia/version: "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  ..."
            m = re.search(r"Kernel Module\s+([\d.]+)", _read(self.root, "proc/driver/nvidia/version") or "")
            driver, driver_source = (m.group(1), "/proc/driver/nvidia/version") if m else (None, None)
        cudnn = None
        try:
            cudnn = torch.backends.cudnn.version()
        except Exception:
            cudnn = None
        return {
            "count": len(devices),
            "backend": "rocm" if getattr(torch.version, "hip", None) else "cuda",
            "cuda_version": torch.version.cuda,
            "hip_version": getattr(torch.version, "hip", None),
            "cudnn_version": cudnn,
            "driver_version": driver,
            "driver_version_source": driver_source,
            "nvml": nvml.mod is not None,
            "nvml_reason": nvml.reason,
            "devices": devices,
        }


def _int_attr(obj: Any, name: str) -> int | None:
    value = getattr(obj, name, None)
    return int(value) if isinstance(value, int) else None


# -------------------------------------------------------------------------------------------------- software
def parse_torch_config(text: str) -> dict[str, Any]:
    """The parts of ``torch.__config__.show()`` that decide CPU kernels: BLAS, MKL, oneDNN, OpenMP."""
    out: dict[str, Any] = {
        "blas": None,
        "lapack": None,
        "mkl_version": None,
        "onednn_version": None,
        "openmp": None,
        "cpu_capability_build": None,
        "compiler": None,
        "build_settings": {},
    }
    m = re.search(r"Math Kernel Library Version ([\w.]+)", text)
    out["mkl_version"] = m.group(1) if m else None
    m = re.search(r"(?:MKL-DNN|oneDNN|DNNL)\s+v?([\d.]+)", text)
    out["onednn_version"] = m.group(1) if m else None
    m = re.search(r"OpenMP (\d+)(?: \(a\.k\.a\. OpenMP ([\d.]+)\))?", text)
    out["openmp"] = (m.group(2) or m.group(1)) if m else None
    m = re.search(r"CPU capability usage: (\S+)", text)
    out["cpu_capability_build"] = m.group(1) if m else None
    m = re.search(r"^\s*-\s*(GCC [\d.]+|clang [\d.]+|MSVC [\d.]+)", text, re.MULTILINE)
    out["compiler"] = m.group(1) if m else None
    m = re.search(r"Build settings: (.*)", text)
    if m:
        # KEY=VALUE pairs separated by ", " where the next item starts a new KEY= (values may hold commas).
        pairs = re.findall(r"([A-Z][A-Z0-9_]*)=(.*?)(?=, [A-Z][A-Z0-9_]*=|,?\s*$)", m.group(1))
        keep = (
            "BLAS_INFO",
            "LAPACK_INFO",
            "TORCH_VERSION",
            "BUILD_TYPE",
            "CUDA_VERSION",
            "CUDNN_VERSION",
            "USE_CUDA",
            "USE_ROCM",
            "USE_MKL",
            "USE_MKLDNN",
            "USE_OPENMP",
            "USE_NNPACK",
        )
        settings = {k: v.strip() for k, v in pairs if k in keep}
        out["build_settings"] = settings
        out["blas"] = settings.get("BLAS_INFO")
        out["lapack"] = settings.get("LAPACK_INFO")
    return out


class SoftwareProbe(Probe):
    """Python, torch (build, CPU capability, threads), numpy's BLAS, thread environment, hostname."""

    name = "software"

    def collect(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "os": platform.system(),
            "kernel": platform.release(),
            "hostname": socket.gethostname(),
            "env": {k: os.environ.get(k) for k in _ENV_VARS},
            "torch": self._torch(),
            "numpy": self._numpy(),
        }
        return info

    @staticmethod
    def _torch() -> dict[str, Any] | None:
        try:
            import torch
        except Exception:
            return None
        out: dict[str, Any] = {"version": str(torch.__version__), "git_version": torch.version.git_version}
        try:
            out["config"] = parse_torch_config(torch.__config__.show())
        except Exception as exc:
            out["config"] = {"error": f"{type(exc).__name__}: {exc}"}
        for key, fn in (
            ("cpu_capability", lambda: torch.backends.cpu.get_cpu_capability()),
            ("num_threads", torch.get_num_threads),
            ("num_interop_threads", torch.get_num_interop_threads),
            ("mkl_available", lambda: bool(torch.backends.mkl.is_available())),
            ("mkldnn_available", lambda: bool(torch.backends.mkldnn.is_available())),
            ("openmp_available", lambda: bool(torch.backends.openmp.is_available())),
        ):
            try:
                out[key] = fn()
            except Exception:
                out[key] = None
        return out

    @staticmethod
    def _numpy() -> dict[str, Any] | None:
        try:
            import numpy
        except Exception:
            return None
        out: dict[str, Any] = {"version": numpy.__version__, "blas": None, "lapack": None}
        try:
            cfg = numpy.show_config(mode="dicts")
        except Exception:  # numpy < 1.26 has no mode="dicts" (and would print)
            return out
        deps = (cfg or {}).get("Build Dependencies", {})
        for key in ("blas", "lapack"):
            d = deps.get(key) or {}
            out[key] = {
                "name": d.get("name"),
                "version": d.get("version"),
                "config": d.get("openblas configuration"),
            }
        out["simd_found"] = (cfg or {}).get("SIMD Extensions", {}).get("found")
        return out


# ---------------------------------------------------------------------------------------------- running all
PROBES: tuple[type[Probe], ...] = (CpuProbe, VirtualizationProbe, NumaProbe, GpuProbe, SoftwareProbe)


def collect_probes(root: Path = LIVE_ROOT, probes: list[Probe] | None = None) -> dict[str, dict[str, Any]]:
    """Run the probes in registry order: ``{name: data}``, with ``available`` True or False in every entry.

    A probe that is unavailable, raises, or returns data that is not JSON-serialisable is reported as
    ``{"available": False, "reason": "..."}``; the others still run.
    """
    instances = probes if probes is not None else [cls(root) for cls in PROBES]
    out: dict[str, dict[str, Any]] = {}
    for probe in instances:
        try:
            if not probe.available():
                out[probe.name] = {"available": False, "reason": probe.unavailable_reason()}
                continue
            data = dict(probe.collect())
            json.dumps(data)  # a probe must return plain data; better to say so here than in the cache
        except Exception as exc:
            out[probe.name] = {"available": False, "reason": f"probe raised {type(exc).__name__}: {exc}"}
            continue
        out[probe.name] = {"available": True, **data}
    return out


FINGERPRINT_VERSION = 1


# Memory level -> the cpu probe's cache key: the sweep and the roofline want *data* caches (l1 is L1d).
DATA_CACHES = {"l1": "l1d", "l2": "l2", "l3": "l3"}


def data_caches(cpu: dict[str, Any] | None = None) -> dict[str, int]:
    """``{"l1": bytes, "l2": ..., "l3": ...}`` of one core's data caches (this machine's when ``cpu`` is None)."""
    if cpu is None:
        cpu = collect_probes(probes=[CpuProbe()]).get("cpu", {})
    caches = cpu.get("caches") or {}
    return {level: caches[key] for level, key in DATA_CACHES.items() if caches.get(key)}


def fingerprint(probes: dict[str, dict[str, Any]]) -> str:
    """A short stable id (sha256 hex[:16]) of what makes measured ceilings valid for this machine.

    Keys: CPU model, vendor, arch, sockets, cores, threads, flags, cache sizes, memory (rounded to GiB, since
    MemTotal moves by a few kB across kernels), the CPUs this process may use (affinity and cgroup quota: a
    container limited to 2 CPUs is a different machine for a roofline), the DMI product name (the cloud
    instance type), GPU names and memory (MiB), the torch version (a new torch may bring new kernels) and the
    hostname. Nothing that drifts (current frequency, timestamps, thread settings) enters it. Two machines with
    identical hardware, hostname and torch share a fingerprint, which is harmless: their ceilings are the same.
    """
    cpu = probes.get("cpu") or {}
    virt = probes.get("virtualization") or {}
    gpu = probes.get("gpu") or {}
    sw = probes.get("software") or {}
    mem = cpu.get("memory_bytes")
    key = {
        "v": FINGERPRINT_VERSION,
        "cpu": {k: cpu.get(k) for k in ("model", "vendor", "arch", "sockets", "cores", "threads")},
        "flags": cpu.get("flags"),
        "caches": cpu.get("caches"),
        "memory_gib": round(mem / 2**30) if isinstance(mem, int | float) else None,
        "usable": [cpu.get("affinity_cpus"), cpu.get("cpu_quota")],
        "product": (virt.get("dmi") or {}).get("product_name"),
        "gpus": [
            [d.get("name"), round(d["total_memory_bytes"] / 2**20) if d.get("total_memory_bytes") else None]
            for d in (gpu.get("devices") or [])
        ],
        "torch": (sw.get("torch") or {}).get("version"),
        "hostname": sw.get("hostname"),
    }
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------- test capture
def capture_files(root: Path = LIVE_ROOT) -> dict[str, str]:
    """Snapshot of every file the file-based probes read, as ``{relative path: text}``.

    Written out under a directory, it is a fake root on which :func:`collect_probes` gives the same CPU,
    virtualization and NUMA data as the live system (``lscpu`` output goes to ``_commands/lscpu``). Used to
    capture test fixtures and bug reports.
    """
    root = Path(root)
    paths = [
        "proc/cpuinfo",
        "proc/meminfo",
        "proc/sys/abi/sve_default_vector_length",
        "proc/1/cgroup",
        "proc/driver/nvidia/version",
        "sys/devices/system/cpu/online",
        "sys/devices/system/node/online",
        "sys/hypervisor/type",
        "sys/devices/system/clocksource/clocksource0/available_clocksource",
        "sys/fs/cgroup/cpu.max",
        "sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "sys/fs/cgroup/cpu/cpu.cfs_period_us",
        ".dockerenv",
        "run/.containerenv",
    ]
    paths += [f"sys/class/dmi/id/{k}" for k in DMI_FIELDS]
    cpus = parse_cpulist(_read(root, "sys/devices/system/cpu/online"))
    for cpu in cpus:
        base = f"sys/devices/system/cpu/cpu{cpu}"
        paths += [f"{base}/topology/{k}" for k in ("physical_package_id", "core_id")]
        for idx in range(16):
            if not _exists(root, f"{base}/cache/index{idx}"):
                break
            paths += [
                f"{base}/cache/index{idx}/{k}"
                for k in ("level", "type", "size", "shared_cpu_list", "coherency_line_size")
            ]
    paths += [
        f"sys/devices/system/cpu/cpu0/cpufreq/{k}"
        for k in ("cpuinfo_max_freq", "base_frequency", "scaling_cur_freq")
    ]
    for n in parse_cpulist(_read(root, "sys/devices/system/node/online")):
        paths += [f"sys/devices/system/node/node{n}/{k}" for k in ("cpulist", "meminfo", "distance")]
    files: dict[str, str] = {}
    for rel in paths:
        p = root / rel
        try:
            if p.is_file():
                files[rel] = p.read_text(errors="replace")
        except OSError:
            continue
    lscpu = _command_output(root, "lscpu", ["lscpu"])
    if lscpu:
        files["_commands/lscpu"] = lscpu
    return files


if __name__ == "__main__":  # python -m nnperf.machine.probes: print this machine's probes as JSON
    data = collect_probes()
    json.dump({"fingerprint": fingerprint(data), "probes": data}, sys.stdout, indent=1)
    sys.stdout.write("\n")
