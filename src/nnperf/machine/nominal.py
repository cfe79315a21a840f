"""Nominal (spec-sheet) peaks: CPUs from their features, GPUs from a table of known cards.

Every figure here is *nominal*: what the vendor's arithmetic says, not what this machine reaches. Each result
says so (``"nominal": True``), lists its assumptions and names its source, so a report can show it beside the
measured ceiling and never in its place. FLOP/s count 2 FLOPs per multiply-add.

CPU model::

    peak = cores x GHz x FLOPs/cycle/core
    FLOPs/cycle/core (fp32) = FMA units x min(unit width, widest vector ISA) / 32 bits x 2 (an FMA is 2 FLOPs)

where the FMA units per core come from a small microarchitecture table (:data:`_INTEL`, :data:`_AMD`,
:data:`_ARM`; sources: Intel 64 and IA-32 Architectures Optimization Reference Manual, AMD Software
Optimization Guides for family 17h/19h/1Ah, Arm Neoverse Software Optimization Guides) and the vector width
from the flags the OS reports (a hypervisor may hide AVX-512 that the silicon has: the flags win). Unknown
microarchitectures fall back to a stated generic rule.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from nnperf.errors import UsageError

__all__ = ["GPU_TABLE", "nominal_cpu", "nominal_gpu"]


# ------------------------------------------------------------------------------------------------------ CPU
@dataclass(frozen=True)
class FmaModel:
    """The vector floating-point datapath of one core."""

    name: str
    units: int  # vector pipes that can each issue an FMA every cycle (pre-FMA cores: the add + mul pipes)
    unit_bits: int  # width of one pipe; a wider instruction occupies several pipes (Zen 4's AVX-512)
    isa_bits: int  # widest vector ISA the microarchitecture implements (to notice a hypervisor hiding it)
    note: str


_SKX = "2 x 512-bit FMA units (ports 0+1 fused and port 5) on Platinum and Gold 6xxx"
# Intel family 6: model numbers -> datapath (Intel Optimization Reference Manual, per-generation chapters).
_INTEL: tuple[tuple[frozenset[int], FmaModel], ...] = (
    (
        frozenset({42, 45}),
        FmaModel("Sandy Bridge", 2, 256, 256, "no FMA: one 256-bit add and one 256-bit multiply pipe"),
    ),
    (
        frozenset({58, 62}),
        FmaModel("Ivy Bridge", 2, 256, 256, "no FMA: one 256-bit add and one 256-bit multiply pipe"),
    ),
    (frozenset({60, 63, 69, 70}), FmaModel("Haswell", 2, 256, 256, "2 x 256-bit FMA units (ports 0 and 1)")),
    (
        frozenset({61, 71, 79, 86}),
        FmaModel("Broadwell", 2, 256, 256, "2 x 256-bit FMA units (ports 0 and 1)"),
    ),
    (
        frozenset({78, 94, 142, 158, 165, 166}),
        FmaModel("Skylake client (Skylake/Kaby/Coffee/Comet Lake)", 2, 256, 256, "2 x 256-bit FMA units"),
    ),
    (frozenset({85}), FmaModel("Skylake-SP/Cascade Lake/Cooper Lake", 2, 512, 512, _SKX)),
    (frozenset({106, 108}), FmaModel("Ice Lake-SP", 2, 512, 512, "2 x 512-bit FMA units")),
    (
        frozenset({125, 126, 140, 141, 167}),
        FmaModel(
            "Ice Lake/Tiger Lake/Rocket Lake client",
            2,
            256,
            512,
            "one 512-bit FMA (ports 0+1 fused) or 2 x 256-bit FMA: 512 bits per cycle either way",
        ),
    ),
    (frozenset({143}), FmaModel("Sapphire Rapids", 2, 512, 512, "2 x 512-bit FMA units")),
    (frozenset({207}), FmaModel("Emerald Rapids", 2, 512, 512, "2 x 512-bit FMA units")),
    (frozenset({173, 174}), FmaModel("Granite Rapids", 2, 512, 512, "2 x 512-bit FMA units")),
    (
        frozenset({151, 154, 183, 186, 191, 170, 172, 197, 198, 189}),
        FmaModel(
            "Alder/Raptor/Meteor/Arrow/Lunar Lake (hybrid)",
            2,
            256,
            256,
            "P-cores: 2 x 256-bit FMA units; the E-cores have less, so a hybrid chip's peak is lower",
        ),
    ),
    (
        frozenset({175}),
        FmaModel("Sierra Forest (E-cores)", 2, 128, 256, "Crestmont E-core: 2 x 128-bit FMA units"),
    ),
)

_ZEN1 = FmaModel("Zen/Zen+", 2, 128, 256, "2 x 128-bit FMA pipes; 256-bit AVX ops are split in two")
_ZEN2 = FmaModel("Zen 2", 2, 256, 256, "2 x 256-bit FMA pipes (FP0, FP1)")
_ZEN3 = FmaModel("Zen 3", 2, 256, 256, "2 x 256-bit FMA pipes (FP0, FP1)")
_ZEN4 = FmaModel(
    "Zen 4",
    2,
    256,
    512,
    "2 x 256-bit FMA pipes; AVX-512 runs as two 256-bit halves, so 512-bit ops at half rate",
)
_ZEN5 = FmaModel(
    "Zen 5", 2, 512, 512, "2 x 512-bit FMA pipes (full 512-bit datapath on desktop and server parts)"
)
_ZEN5_MOBILE = FmaModel("Zen 5 (mobile)", 2, 256, 512, "2 x 256-bit FMA pipes: AVX-512 runs as two halves")


def _amd(family: int, model: int) -> FmaModel | None:
    """AMD family/model ranges (AMD Software Optimization Guides, family 17h, 19h, 1Ah)."""
    if family in (23, 24):  # 17h (24 = Hygon Dhyana, a Zen 1)
        return _ZEN1 if family == 24 or model < 0x30 else _ZEN2
    if family == 25:  # 19h: Zen 4 = Genoa/Bergamo/Raphael/Phoenix ranges, the rest Zen 3
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        return _ZEN4 if zen4 else _ZEN3
    if family == 26:  # 1Ah: Turin and Granite Ridge have the 512-bit datapath, Strix (mobile) does not
        return _ZEN5 if model <= 0x1F or 0x40 <= model <= 0x4F else _ZEN5_MOBILE
    return None


# Arm (implementer, part) -> datapath (Arm Neoverse/Cortex Software Optimization Guides).
_ARM: dict[tuple[str, str], FmaModel] = {
    ("0x41", "0xd08"): FmaModel("Cortex-A72", 2, 128, 128, "2 x 128-bit NEON FMA pipes (F0, F1)"),
    ("0x41", "0xd0b"): FmaModel("Cortex-A76", 2, 128, 128, "2 x 128-bit NEON FMA pipes"),
    ("0x41", "0xd0c"): FmaModel("Neoverse-N1", 2, 128, 128, "2 x 128-bit NEON FMA pipes (V0, V1)"),
    ("0x41", "0xd40"): FmaModel("Neoverse-V1", 4, 128, 256, "4 x 128-bit NEON FMA pipes, or 2 x 256-bit SVE"),
    ("0x41", "0xd49"): FmaModel("Neoverse-N2", 2, 128, 128, "2 x 128-bit FMA pipes (SVE2 at 128 bits)"),
    ("0x41", "0xd4f"): FmaModel("Neoverse-V2", 4, 128, 128, "4 x 128-bit FMA pipes (SVE2 at 128 bits)"),
    ("0x41", "0xd84"): FmaModel("Neoverse-V3", 4, 128, 128, "4 x 128-bit FMA pipes (SVE2 at 128 bits)"),
    ("0x41", "0xd8e"): FmaModel("Neoverse-N3", 2, 128, 128, "2 x 128-bit FMA pipes"),
    ("0xc0", "0xac3"): FmaModel("AmpereOne", 2, 128, 128, "2 x 128-bit FMA pipes"),
    ("0x46", "0x001"): FmaModel("A64FX", 2, 512, 512, "2 x 512-bit SVE FMA pipes"),
}

# AMX TMUL: a 16x32 (bf16) by 32x16 tile product = 16*16*32 = 8192 multiply-adds every 16 cycles
# = 512 multiply-adds = 1024 FLOPs per cycle per core ("1024 BF16 operations per cycle", Intel's AMX overview;
# 2048 INT8 operations per cycle). AMX-FP16 (Granite Rapids) has the same rate.
AMX_FLOPS_PER_CYCLE = 1024

_CPU_SOURCE = (
    "nnperf nominal CPU model: cores x GHz x FMA units x vector lanes x 2; microarchitecture table from the "
    "Intel Optimization Reference Manual, AMD Software Optimization Guides and Arm Neoverse Software "
    "Optimization Guides; ISA flags from /proc/cpuinfo"
)


def _microarch(cpu: dict[str, Any]) -> FmaModel | None:
    vendor, family, model = cpu.get("vendor"), cpu.get("family"), cpu.get("model_id")
    if vendor == "Intel" and family == 6 and isinstance(model, int):
        for models, fm in _INTEL:
            if model in models:
                return _skylake_sp_sku(fm, cpu.get("model") or "") if model == 85 else fm
    if vendor in ("AMD", "Hygon") and isinstance(family, int) and isinstance(model, int):
        return _amd(family, model)
    impl, part = cpu.get("cpu_implementer"), cpu.get("cpu_part")
    if impl and part:
        return _ARM.get((impl, part))
    return None


def _skylake_sp_sku(fm: FmaModel, model_name: str) -> FmaModel:
    """Skylake-SP/Cascade Lake Bronze, Silver and most Gold 5xxx have one 512-bit FMA unit (Intel ARK)."""
    one_unit = re.search(r"\b(Bronze|Silver)\b", model_name) or (
        re.search(r"\bGold 5\d{3}", model_name) and not re.search(r"\bGold 5[12]22\b", model_name)
    )
    if not one_unit:
        return fm
    return FmaModel(
        fm.name, 2, 256, 512, "one 512-bit FMA unit on this SKU (Bronze/Silver/Gold 5xxx): 2 x 256"
    )


def _isa(cpu: dict[str, Any]) -> tuple[int | None, str, list[str]]:
    """(widest vector width in bits, ISA name, notes) from the flags the OS reports."""
    flags = set(cpu.get("flags") or [])
    if "avx512f" in flags:
        return 512, "AVX-512", []
    if "avx2" in flags or "avx" in flags:
        return 256, "AVX2" if "avx2" in flags else "AVX", []
    if "sve" in flags:
        bits = cpu.get("sve_vector_bits")
        if bits:
            return int(bits), f"SVE ({bits}-bit vectors)", []
        return 128, "SVE", ["SVE vector length unknown: 128 bits assumed"]
    if "asimd" in flags or "neon" in flags:
        return 128, "NEON (AdvSIMD)", []
    if "sse2" in flags or "sse" in flags:
        return 128, "SSE", []
    return None, "none", []


def _fallback(cpu: dict[str, Any], isa_bits: int) -> FmaModel | None:
    flags = set(cpu.get("flags") or [])
    arch = (cpu.get("arch") or "").lower()
    if "vendor_id" in cpu or arch in ("x86_64", "amd64", "i686") or flags & {"sse2", "avx"}:
        if "fma" in flags:
            return FmaModel(
                "unknown x86", 2, isa_bits, isa_bits, "assumed: 2 FMA units of the widest ISA width"
            )
        return FmaModel("unknown x86", 2, isa_bits, isa_bits, "assumed: one add and one multiply pipe")
    if arch.startswith(("aarch64", "arm")) or flags & {"asimd", "neon"}:
        return FmaModel(
            "unknown Arm", 2, 128, 128, "assumed: 2 x 128-bit FMA pipes, as most Arm server cores"
        )
    return None


def _frequency(cpu: dict[str, Any]) -> tuple[float | None, str | None, str]:
    freq = cpu.get("freq_mhz") or {}
    src = cpu.get("freq_source") or {}
    for key, what in (
        ("max", "the maximum (turbo) clock"),
        ("base", "the base clock"),
        ("current", "the current clock"),
    ):
        mhz = freq.get(key)
        if mhz:
            where = src.get(key) or "probe"
            caveat = {
                "max": "; all-core, AVX-512 and AMX clocks are usually lower, so this is an upper bound",
                "base": "; turbo may run higher and AVX-512/AMX clocks lower",
                "current": " (no cpufreq, usual in VMs: often the TSC rate rather than the turbo clock)",
            }[key]
            return mhz / 1000.0, key, f"frequency {mhz / 1000.0:.3f} GHz: {what}, from {where}{caveat}"
    return None, None, "frequency unknown (no cpufreq, no clock in the model name, no cpuinfo 'cpu MHz')"


def nominal_cpu(cpu: dict[str, Any], threads: int | None = None) -> dict[str, Any]:
    """Nominal FLOP/s per dtype of the CPU described by the ``cpu`` probe, on ``threads`` cores.

    ``threads`` defaults to the physical cores; it is capped there, since SMT siblings share a core's FMA
    units. A dtype without hardware arithmetic (bf16/fp16 that torch emulates through fp32) gets no figure:
    its key is absent and an assumption says why.
    """
    if threads is not None and threads < 1:
        raise UsageError(
            f"threads={threads} is not a positive count; pass threads >= 1 or None for all cores"
        )
    out: dict[str, Any] = {
        "nominal": True,
        "flops": {},
        "flops_per_cycle_per_core": {},
        "paths": {},
        "cores": None,
        "freq_ghz": None,
        "freq_used": None,
        "microarch": None,
        "vector_bits": None,
        "fma_units": None,
        "fma_unit_bits": None,
        "assumptions": [],
        "source": _CPU_SOURCE,
    }
    notes: list[str] = out["assumptions"]
    if cpu.get("available") is False:
        notes.append(f"CPU probe unavailable ({cpu.get('reason')}): no nominal figures")
        return out
    isa_bits, isa_name, isa_notes = _isa(cpu)
    notes.extend(isa_notes)
    if isa_bits is None:
        notes.append("no vector ISA recognised in the CPU flags: no nominal figures")
        return out
    fm = _microarch(cpu)
    if fm is None:
        fm = _fallback(cpu, isa_bits)
        if fm is None:
            notes.append(f"unknown architecture {cpu.get('arch')!r}: no nominal figures")
            return out
        notes.append(f"microarchitecture not in the table ({cpu.get('model')!r}): {fm.note}")
    else:
        notes.append(f"microarchitecture {fm.name}: {fm.note}")
    if fm.isa_bits > isa_bits:
        notes.append(
            f"the silicon implements {fm.isa_bits}-bit vectors but the OS reports only {isa_name} "
            f"({isa_bits}-bit), e.g. a hypervisor masking AVX-512: the reported flags are used"
        )
    flags = set(cpu.get("flags") or [])
    x86 = cpu.get("vendor") in ("Intel", "AMD", "Hygon") or "sse2" in flags
    fma = ("fma" in flags) if x86 else True  # aarch64 always has FMLA
    per_op = 2 if fma else 1
    eff_bits = fm.units * min(fm.unit_bits, isa_bits)
    notes.append(
        f"{eff_bits} bits of FMA per cycle per core = {fm.units} x {min(fm.unit_bits, isa_bits)}-bit "
        + ("FMA (2 FLOPs per lane)" if fma else "pipes without FMA (1 FLOP per lane: an add or a multiply)")
    )
    per_cycle: dict[str, float] = {
        "fp64": eff_bits / 64 * per_op,
        "fp32": eff_bits / 32 * per_op,
    }
    paths = {
        "fp64": f"{isa_name} {'FMA' if fma else 'add+mul'}",
        "fp32": f"{isa_name} {'FMA' if fma else 'add+mul'}",
    }
    # bf16
    if "amx_bf16" in flags:
        per_cycle["bf16"] = AMX_FLOPS_PER_CYCLE
        paths["bf16"] = "AMX-BF16 tile multiply"
        notes.append(
            "bf16: AMX-BF16, 1024 FLOP/cycle/core (a 16x32 by 32x16 tile product, 8192 multiply-adds, "
            "every 16 cycles; Intel: 1024 BF16 operations per cycle); AMX runs at a lower licence clock"
        )
    elif "avx512_bf16" in flags or "bf16" in flags or "svebf16" in flags:
        per_cycle["bf16"] = 2 * per_cycle["fp32"]
        paths["bf16"] = "AVX512_BF16 dot product" if "avx512_bf16" in flags else "BFDOT (Arm BF16)"
        notes.append(
            "bf16: dot-product instructions (VDPBF16PS / BFDOT) do 2 bf16 products per fp32 lane, assumed at "
            "the FMA rate: 2 x fp32 (BFMMLA may do more; not assumed)"
        )
    else:
        notes.append(
            "bf16: no hardware bf16 arithmetic (no amx_bf16, avx512_bf16 or bf16 flag): torch converts to fp32 "
            "(emulated), so no nominal figure"
        )
    # fp16
    if "amx_fp16" in flags:
        per_cycle["fp16"] = AMX_FLOPS_PER_CYCLE
        paths["fp16"] = "AMX-FP16 tile multiply"
        notes.append("fp16: AMX-FP16, 1024 FLOP/cycle/core, as AMX-BF16")
    elif "avx512_fp16" in flags:
        per_cycle["fp16"] = 2 * per_cycle["fp32"]
        paths["fp16"] = "AVX512_FP16 FMA"
        notes.append("fp16: AVX512_FP16 native fp16 FMA, 32 lanes per 512 bits: 2 x fp32")
    elif "asimdhp" in flags:
        per_cycle["fp16"] = 2 * per_cycle["fp32"]
        paths["fp16"] = "NEON fp16 FMA (asimdhp)"
        notes.append("fp16: Armv8.2 half-precision FMA (asimdhp), 8 lanes per 128 bits: 2 x fp32")
    else:
        why = "F16C only converts" if "f16c" in flags else "no fp16 arithmetic flag"
        notes.append(
            f"fp16: no hardware fp16 arithmetic ({why}): torch emulates it through fp32, no nominal figure"
        )

    physical = cpu.get("cores") or cpu.get("threads")
    n = physical if threads is None else threads
    if physical and n and n > physical:
        notes.append(
            f"threads={threads} capped at {physical} physical cores: SMT threads share a core's FMA units"
        )
        n = physical
    notes.append(f"cores: {n} (physical cores used; one vector unit set per core)")
    ghz, used, freq_note = _frequency(cpu)
    notes.append(freq_note)
    out.update(
        cores=n,
        freq_ghz=ghz,
        freq_used=used,
        microarch=fm.name,
        vector_bits=isa_bits,
        fma_units=fm.units,
        fma_unit_bits=fm.unit_bits,
        flops_per_cycle_per_core=per_cycle,
        paths=paths,
    )
    if ghz and n:
        out["flops"] = {dt: n * ghz * 1e9 * fpc for dt, fpc in per_cycle.items()}
    else:
        notes.append("no frequency or core count: FLOP/s not computed (FLOPs per cycle per core given)")
    return out


# ------------------------------------------------------------------------------------------------------ GPU
_T = 1e12
_CUDA_GUIDE_FP64 = (
    "fp64 derived: the CUDA C++ Programming Guide's throughput table gives 2 fp64 FMA/clock/SM against "
    "{ratio}x that for fp32 on compute capability {cc}; NVIDIA's datasheet lists no fp64 figure"
)
_TORCH_FP32 = (
    "fp32 is the CUDA-core rate: torch's fp32 matmul uses TF32 only with "
    "torch.backends.cuda.matmul.allow_tf32 = True (set_float32_matmul_precision('high'))"
)


def _card(
    model: str,
    pattern: str,
    *,
    fp32: float,
    fp64: float | None = None,
    fp64_tensor: float | None = None,
    tf32: float | None = None,
    bf16: float | None = None,
    fp16: float | None = None,
    fp8: float | None = None,
    bandwidth_gbs: float,
    memory_gb: float,
    memory_type: str,
    source: str,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One table row; TFLOP/s and GB/s in, FLOP/s and bytes/s out. Tensor-core figures are dense."""

    def flop_s(tflops: float) -> float:
        return float(round(tflops * _T))  # whole FLOP/s: 66.9 * 1e12 is not exact in binary

    flops: dict[str, float] = {"fp32": flop_s(fp32)}
    vector: dict[str, float] = {"fp32": flop_s(fp32)}
    if fp64 is not None:
        vector["fp64"] = flop_s(fp64)
        flops["fp64"] = flop_s(fp64_tensor or fp64)  # cuBLAS DGEMM uses the fp64 tensor cores where present
    for key, value in (("tf32", tf32), ("bf16", bf16), ("fp16", fp16), ("fp8", fp8)):
        if value is not None:
            flops[key] = flop_s(value)
    return {
        "nominal": True,
        "model": model,
        "pattern": pattern,
        "flops": flops,
        "vector_flops": vector,
        "memory_bandwidth": float(round(bandwidth_gbs * 1e9)),
        "memory_bytes": round(memory_gb * 1e9),
        "memory_type": memory_type,
        "source": source,
        "assumptions": [
            "dense figures (NVIDIA's starred 'with sparsity' figures are 2x these)",
            "boost clock; sustained clocks under load may be lower",
            _TORCH_FP32,
            "memory_bytes is the labelled capacity in decimal GB; torch's total_memory differs",
            *notes,
        ],
    }


_H100_WP = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (table of H100 SXM5/PCIe specifications)"
_A100_DS = "NVIDIA A100 Tensor Core GPU datasheet (dense; starred figures are with sparsity)"
_V100_DS = "NVIDIA Tesla V100 datasheet"
_NO_BF16 = "no bf16/tf32 tensor cores on this architecture: bf16 is emulated, no nominal figure"
_GEFORCE_ACC = (
    "fp16/bf16 tensor figures with fp32 accumulate (what torch uses); GeForce cards run fp16 accumulate at 2x"
)

# Ordered: the first pattern that matches the normalised device name wins (NVL and PCIe before plain names).
GPU_TABLE: tuple[dict[str, Any], ...] = (
    # Hopper
    _card(
        "H100 NVL 94GB",
        r"^h100 nvl\b",
        fp64=30,
        fp64_tensor=60,
        fp32=60,
        tf32=417.5,
        bf16=835.5,
        fp16=835.5,
        fp8=1670.5,
        bandwidth_gbs=3900,
        memory_gb=94,
        memory_type="HBM3",
        source="NVIDIA H100 datasheet, H100 NVL column (starred sparse figures 835/1671/3341 halved)",
    ),
    _card(
        "H100 PCIe 80GB",
        r"^h100 pcie\b",
        fp64=25.6,
        fp64_tensor=51.2,
        fp32=51.2,
        tf32=378,
        bf16=756,
        fp16=756,
        fp8=1513,
        bandwidth_gbs=2000,
        memory_gb=80,
        memory_type="HBM2e",
        source=_H100_WP + ", H100 PCIe column",
    ),
    _card(
        "H100 SXM5 80GB",
        r"^h100 (80gb )?(hbm3|sxm5?)\b",
        fp64=33.5,
        fp64_tensor=66.9,
        fp32=66.9,
        tf32=494.7,
        bf16=989.4,
        fp16=989.4,
        fp8=1978.9,
        bandwidth_gbs=3350,
        memory_gb=80,
        memory_type="HBM3",
        source=_H100_WP + ", H100 SXM5 column",
    ),
    _card(
        "H200 NVL 141GB",
        r"^h200 nvl\b",
        fp64=30,
        fp64_tensor=60,
        fp32=60,
        tf32=417.5,
        bf16=835.5,
        fp16=835.5,
        fp8=1670.5,
        bandwidth_gbs=4800,
        memory_gb=141,
        memory_type="HBM3e",
        source="NVIDIA H200 datasheet, H200 NVL column (starred sparse figures 835/1671/3341 halved)",
    ),
    _card(
        "H200 SXM 141GB",
        r"^h200( sxm)?( 141gb)?( hbm3e)?$",
        fp64=33.5,
        fp64_tensor=66.9,
        fp32=66.9,
        tf32=494.7,
        bf16=989.4,
        fp16=989.4,
        fp8=1978.9,
        bandwidth_gbs=4800,
        memory_gb=141,
        memory_type="HBM3e",
        source="NVIDIA H200 datasheet (compute as H100 SXM: 989/1979 TFLOPS with sparsity); dense compute "
        "figures from " + _H100_WP + " (same 132-SM GH100 at the same boost clock)",
    ),
    # Ampere data centre
    _card(
        "A100 SXM4 80GB",
        r"^a100 sxm4? 80gb$",
        fp64=9.7,
        fp64_tensor=19.5,
        fp32=19.5,
        tf32=156,
        bf16=312,
        fp16=312,
        bandwidth_gbs=2039,
        memory_gb=80,
        memory_type="HBM2e",
        source=_A100_DS + ", A100 80GB SXM column",
    ),
    _card(
        "A100 SXM4 40GB",
        r"^a100 sxm4? 40gb$",
        fp64=9.7,
        fp64_tensor=19.5,
        fp32=19.5,
        tf32=156,
        bf16=312,
        fp16=312,
        bandwidth_gbs=1555,
        memory_gb=40,
        memory_type="HBM2",
        source=_A100_DS + ", A100 40GB SXM column",
    ),
    _card(
        "A100 PCIe 80GB",
        r"^a100 (80gb pcie|pcie 80gb)$",
        fp64=9.7,
        fp64_tensor=19.5,
        fp32=19.5,
        tf32=156,
        bf16=312,
        fp16=312,
        bandwidth_gbs=1935,
        memory_gb=80,
        memory_type="HBM2e",
        source=_A100_DS + ", A100 80GB PCIe column",
    ),
    _card(
        "A100 PCIe 40GB",
        r"^a100 (40gb pcie|pcie 40gb)$",
        fp64=9.7,
        fp64_tensor=19.5,
        fp32=19.5,
        tf32=156,
        bf16=312,
        fp16=312,
        bandwidth_gbs=1555,
        memory_gb=40,
        memory_type="HBM2",
        source=_A100_DS + ", A100 40GB PCIe column",
    ),
    _card(
        "A30 24GB",
        r"^a30$",
        fp64=5.2,
        fp64_tensor=10.3,
        fp32=10.3,
        tf32=82,
        bf16=165,
        fp16=165,
        bandwidth_gbs=933,
        memory_gb=24,
        memory_type="HBM2",
        source="NVIDIA A30 Tensor Core GPU datasheet (dense)",
    ),
    _card(
        "A10 24GB",
        r"^a10$",
        fp64=31.2 / 64,
        fp32=31.2,
        tf32=62.5,
        bf16=125,
        fp16=125,
        bandwidth_gbs=600,
        memory_gb=24,
        memory_type="GDDR6",
        source="NVIDIA A10 Tensor Core GPU datasheet (dense)",
        notes=(_CUDA_GUIDE_FP64.format(ratio=64, cc="8.6"),),
    ),
    _card(
        "A10G 24GB",
        r"^a10g$",
        fp64=31.52 / 64,
        fp32=31.52,
        tf32=63.0,
        bf16=126.1,
        fp16=126.1,
        bandwidth_gbs=600,
        memory_gb=24,
        memory_type="GDDR6",
        source="no NVIDIA datasheet (AWS-only part): derived from the A10 datasheet (same 72-SM GA102) scaled by "
        "the boost clock, 1710 vs 1695 MHz (TechPowerUp GPU database): fp32 = 9216 x 2 x 1.71 GHz = 31.52",
        notes=(
            "A10G tensor rate assumed equal to the A10's per clock (125 x 1710/1695 = 126.1)",
            _CUDA_GUIDE_FP64.format(ratio=64, cc="8.6"),
        ),
    ),
    _card(
        "A40 48GB",
        r"^a40$",
        fp64=37.4 / 64,
        fp32=37.4,
        tf32=74.8,
        bf16=149.7,
        fp16=149.7,
        bandwidth_gbs=696,
        memory_gb=48,
        memory_type="GDDR6",
        source="NVIDIA A40 datasheet (dense)",
        notes=(_CUDA_GUIDE_FP64.format(ratio=64, cc="8.6"),),
    ),
    # Ada
    _card(
        "L4 24GB",
        r"^l4$",
        fp64=30.3 / 64,
        fp32=30.3,
        tf32=60,
        bf16=121,
        fp16=121,
        fp8=242.5,
        bandwidth_gbs=300,
        memory_gb=24,
        memory_type="GDDR6",
        source="NVIDIA L4 Tensor Core GPU datasheet (starred sparse figures 120/242/242/485 halved)",
        notes=(_CUDA_GUIDE_FP64.format(ratio=64, cc="8.9"),),
    ),
    _card(
        "L40S 48GB",
        r"^l40s$",
        fp64=91.6 / 64,
        fp32=91.6,
        tf32=183,
        bf16=362.05,
        fp16=362.05,
        fp8=733,
        bandwidth_gbs=864,
        memory_gb=48,
        memory_type="GDDR6",
        source="NVIDIA L40S datasheet (dense)",
        notes=(_CUDA_GUIDE_FP64.format(ratio=64, cc="8.9"),),
    ),
    _card(
        "L40 48GB",
        r"^l40$",
        fp64=90.5 / 64,
        fp32=90.5,
        tf32=90.5,
        bf16=181.05,
        fp16=181.05,
        fp8=362,
        bandwidth_gbs=864,
        memory_gb=48,
        memory_type="GDDR6",
        source="NVIDIA L40 datasheet (dense)",
        notes=(_CUDA_GUIDE_FP64.format(ratio=64, cc="8.9"),),
    ),
    _card(
        "GeForce RTX 4090 24GB",
        r"^rtx 4090$",
        fp64=82.6 / 64,
        fp32=82.6,
        tf32=82.6,
        bf16=165.2,
        fp16=165.2,
        fp8=330.3,
        bandwidth_gbs=1008,
        memory_gb=24,
        memory_type="GDDR6X",
        source="NVIDIA Ada GPU Architecture whitepaper, appendix (GeForce RTX 4090)",
        notes=(_GEFORCE_ACC, _CUDA_GUIDE_FP64.format(ratio=64, cc="8.9")),
    ),
    _card(
        "GeForce RTX 3090 24GB",
        r"^rtx 3090$",
        fp64=35.6 / 64,
        fp32=35.6,
        tf32=35.6,
        bf16=71,
        fp16=71,
        bandwidth_gbs=936,
        memory_gb=24,
        memory_type="GDDR6X",
        source="NVIDIA Ampere GA102 GPU Architecture whitepaper (GeForce RTX 3090)",
        notes=(_GEFORCE_ACC, _CUDA_GUIDE_FP64.format(ratio=64, cc="8.6")),
    ),
    # Turing, Volta, Pascal
    _card(
        "T4 16GB",
        r"^t4$",
        fp64=8.1 / 32,
        fp32=8.1,
        fp16=65,
        bandwidth_gbs=320,
        memory_gb=16,
        memory_type="GDDR6",
        source="NVIDIA T4 datasheet (fp16 = 'mixed precision FP16/FP32' tensor figure)",
        notes=(_NO_BF16, _CUDA_GUIDE_FP64.format(ratio=32, cc="7.5")),
    ),
    _card(
        "V100S PCIe 32GB",
        r"^v100s pcie 32gb$",
        fp64=8.2,
        fp32=16.4,
        fp16=130,
        bandwidth_gbs=1134,
        memory_gb=32,
        memory_type="HBM2",
        source="NVIDIA V100S datasheet",
        notes=(_NO_BF16,),
    ),
    _card(
        "V100 SXM2 32GB",
        r"^v100 sxm2 32gb$",
        fp64=7.8,
        fp32=15.7,
        fp16=125,
        bandwidth_gbs=900,
        memory_gb=32,
        memory_type="HBM2",
        source=_V100_DS + ", SXM2 column",
        notes=(_NO_BF16,),
    ),
    _card(
        "V100 SXM2 16GB",
        r"^v100 sxm2 16gb$",
        fp64=7.8,
        fp32=15.7,
        fp16=125,
        bandwidth_gbs=900,
        memory_gb=16,
        memory_type="HBM2",
        source=_V100_DS + ", SXM2 column",
        notes=(_NO_BF16,),
    ),
    _card(
        "V100 PCIe 32GB",
        r"^v100 pcie 32gb$",
        fp64=7.0,
        fp32=14.0,
        fp16=112,
        bandwidth_gbs=900,
        memory_gb=32,
        memory_type="HBM2",
        source=_V100_DS + ", PCIe column",
        notes=(_NO_BF16,),
    ),
    _card(
        "V100 PCIe 16GB",
        r"^v100 pcie 16gb$",
        fp64=7.0,
        fp32=14.0,
        fp16=112,
        bandwidth_gbs=900,
        memory_gb=16,
        memory_type="HBM2",
        source=_V100_DS + ", PCIe column",
        notes=(_NO_BF16,),
    ),
    _card(
        "P100 SXM2 16GB",
        r"^p100 sxm2 16gb$",
        fp64=5.3,
        fp32=10.6,
        fp16=21.2,
        bandwidth_gbs=732,
        memory_gb=16,
        memory_type="HBM2",
        source="NVIDIA Tesla P100 datasheet, SXM2 column (fp16 on CUDA cores, no tensor cores)",
        notes=(_NO_BF16,),
    ),
    _card(
        "P100 PCIe 16GB",
        r"^p100 pcie 16gb$",
        fp64=4.7,
        fp32=9.3,
        fp16=18.7,
        bandwidth_gbs=732,
        memory_gb=16,
        memory_type="HBM2",
        source="NVIDIA Tesla P100 datasheet, PCIe column (fp16 on CUDA cores, no tensor cores)",
        notes=(_NO_BF16,),
    ),
    _card(
        "P100 PCIe 12GB",
        r"^p100 pcie 12gb$",
        fp64=4.7,
        fp32=9.3,
        fp16=18.7,
        bandwidth_gbs=549,
        memory_gb=12,
        memory_type="HBM2",
        source="NVIDIA Tesla P100 datasheet, PCIe column (fp16 on CUDA cores, no tensor cores)",
        notes=(_NO_BF16,),
    ),
)


def _normalise_gpu_name(name: str) -> str:
    """'NVIDIA A100-SXM4-80GB' -> 'a100 sxm4 80gb'; 'Tesla V100-SXM2-16GB' -> 'v100 sxm2 16gb'."""
    s = re.sub(r"[-_/]+", " ", name.lower())
    s = re.sub(r"\b(nvidia|tesla|geforce)\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def nominal_gpu(name: str) -> dict[str, Any] | None:
    """Nominal peaks of a card, by its ``torch.cuda.get_device_name`` name; None for a card not in the table.

    Returns a copy: ``{"nominal": True, "model", "device_name", "flops": {fp64, fp32, tf32, bf16, fp16, fp8}
    (dense, the rate a GEMM of that dtype can reach: tensor cores where cuBLAS uses them), "vector_flops":
    {fp64, fp32} (CUDA cores), "memory_bandwidth" (bytes/s), "memory_bytes", "memory_type", "source",
    "assumptions"}``. Absent dtypes have no hardware path or no published figure. Ambiguous names (a bare
    'A100' without form factor) are not guessed.
    """
    key = _normalise_gpu_name(name)
    for card in GPU_TABLE:
        if re.search(card["pattern"], key):
            out = copy.deepcopy(card)
            del out["pattern"]
            out["device_name"] = name
            return out
    return None
