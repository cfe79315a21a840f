"""GPU FLOPs and DRAM bytes counted by Nsight Compute (``ncu``), per kernel and summed per aten op.

The measured figures come from the SASS instruction counters: ``sm__sass_thread_inst_executed_op_<op>_pred_on``
counts thread-level instructions whose predicate was on, for fadd/fmul/ffma (fp32), hadd/hmul/hfma (fp16)
and dadd/dmul/dfma (fp64). FLOPs = add + mul + 2 x fma per precision (an FMA is a multiply and an add; the
same rule ncu's own roofline section applies). ``dram__bytes_read/write.sum`` are the bytes that reached
DRAM, the measured counterpart of the static model's minimum traffic.

What these counters cannot see: tensor-core MMA instructions (HMMA/IMMA/DMMA/GMMA) do their multiply-adds
in the tensor pipe, not as fadd/fmul/ffma. ``sm__inst_executed_pipe_tensor.sum`` counts those *warp-level
instructions*, but the FLOPs one instruction performs depend on its shape and the architecture, so they are
reported separately, never folded into the FLOPs. This is the main reason measured FLOPs fall short of the
estimate for matmul and convolution on a GPU (fp16/bf16 always, fp32 too where cuDNN/cuBLAS use TF32).
Neither are the special-function unit (exp, rsqrt: MUFU), min/max (FMNMX) or integer instructions counted.

Per-op attribution: the measured iteration runs under ``torch.autograd.profiler.emit_nvtx()``, so every aten
op pushes an NVTX range ("aten::convolution, seq = 3, ..."); ``ncu --nvtx`` writes the stack of ranges open
at each kernel launch into the raw page's "thread Domain:Push/Pop_Range:..." column. A kernel is attributed
to the innermost op of its stack that the static profile knows (after :data:`NVTX_ALIASES`, which maps
backend implementations such as ``aten::cudnn_batch_norm`` to the op the static counter records), else to
its innermost op; kernels with no range are "(unattributed)".

Capture region: ``--profile-from-start off`` and ``torch.cuda.profiler.start()/stop()`` (cudaProfilerStart /
cudaProfilerStop) limit profiling to the measured iteration, as in the lecture; warm-up runs unprofiled.
ncu replays each kernel once per metric pass and by default flushes the caches between passes
(``--cache-control all``), so DRAM bytes are those of a kernel starting with a cold L2: an upper bound on
what the kernel moves inside a warm sequence.

Pure functions, no torch import: the parser runs anywhere on a recorded CSV.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SASS = "sm__sass_thread_inst_executed_op_{}_pred_on.sum"

#: (metric, precision, FLOPs per counted instruction): an FMA counts twice.
SASS_FLOP_METRICS: tuple[tuple[str, str, int], ...] = tuple(
    (_SASS.format(f"{p}{op}"), precision, 2 if op == "fma" else 1)
    for p, precision in (("f", "fp32"), ("h", "fp16"), ("d", "fp64"))
    for op in ("add", "mul", "fma")
)
TENSOR_METRIC = (
    "sm__inst_executed_pipe_tensor.sum"  # warp-level tensor-pipe instructions (ncu's roofline uses it)
)
DRAM_READ_METRIC = "dram__bytes_read.sum"
DRAM_WRITE_METRIC = "dram__bytes_write.sum"
DURATION_METRIC = "gpu__time_duration.sum"
# Bytes through each level of the memory hierarchy, the metrics of the hierarchical roofline (Yang et al.,
# "Hierarchical Roofline Analysis", NERSC; ncu's own roofline sections read the same counters): L1/TEX cache
# traffic, L2 (LTS) traffic, and DRAM (HBM) traffic = read + write above.
L1_BYTES_METRIC = "l1tex__t_bytes.sum"
L2_BYTES_METRIC = "lts__t_bytes.sum"

NCU_METRICS: tuple[str, ...] = (
    *(m for m, _p, _w in SASS_FLOP_METRICS),
    TENSOR_METRIC,
    DRAM_READ_METRIC,
    DRAM_WRITE_METRIC,
    DURATION_METRIC,
    L1_BYTES_METRIC,
    L2_BYTES_METRIC,
)

#: The levels of the hierarchical roofline, innermost first, named as nnperf names bandwidth roofs.
LEVELS: tuple[str, ...] = ("l1", "l2", "hbm")

UNATTRIBUTED = "(unattributed)"

#: Backend implementations (innermost NVTX ranges) -> the op nnperf's static counter records for them, where
#: the latter is not itself on the NVTX stack. Extend here, never with if/elif on names.
NVTX_ALIASES: dict[str, str] = {
    "aten::cudnn_convolution": "aten::convolution",
    "aten::cudnn_convolution_transpose": "aten::convolution",
    "aten::_convolution": "aten::convolution",
    "aten::cudnn_batch_norm": "aten::native_batch_norm",
    "aten::miopen_batch_norm": "aten::native_batch_norm",
    "aten::_native_batch_norm_legit": "aten::native_batch_norm",
    "aten::_native_batch_norm_legit_no_training": "aten::native_batch_norm",
}

# ncu prints SI prefixes (powers of 1000) unless --print-units base; values are stored in bytes, seconds and
# plain counts.
_TIME_SCALE = {"nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3}
_TIME_SCALE |= {"second": 1.0, "s": 1.0}
_PREFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_COUNT_BASES = ("byte", "inst", "sector", "cycle", "warp", "thread", "request")

_ATEN = re.compile(r"aten::[A-Za-z0-9_]+")


def ncu_command(
    argv: Sequence[str],
    out_csv: Path | str,
    metrics: Sequence[str] = NCU_METRICS,
    nvtx_range: str | None = None,
    ncu: str = "ncu",
) -> list[str]:
    """The ncu command line that profiles ``argv`` between cudaProfilerStart/Stop into ``out_csv``.

    ``--csv --page raw``: one row per kernel, one column per metric, a row of units under the header.
    ``--print-units base``: no auto-scaled "Mbyte"/"usecond". ``--target-processes all``: the workload may be
    a child process (a Python launcher). ``--nvtx``: NVTX ranges per kernel, for per-op sums;
    ``nvtx_range`` additionally restricts profiling to kernels inside that push/pop range. ``--log-file``:
    ncu's output (the CSV and its ==PROF== lines) goes to ``out_csv``, apart from the program's stdout.
    """
    cmd = [
        ncu,
        "--csv",
        "--page",
        "raw",
        "--print-units",
        "base",
        "--metrics",
        ",".join(metrics),
        "--profile-from-start",
        "off",
        "--target-processes",
        "all",
        "--nvtx",
    ]
    if nvtx_range is not None:
        cmd += ["--nvtx-include", f"{nvtx_range}/"]  # trailing "/": a push/pop range, not start/end
    cmd += ["--log-file", str(out_csv), *argv]
    return cmd


# -- parsing ------------------------------------------------------------------------------------------------
def _scale(unit: str) -> float:
    unit = unit.strip()
    if unit in _TIME_SCALE:
        return _TIME_SCALE[unit]
    for base in _COUNT_BASES:
        if unit.endswith(base) and unit[: -len(base)] in _PREFIX:
            return _PREFIX[unit[: -len(base)]]
    return 1.0


def _value(text: str, scale: float) -> float | None:
    text = text.strip()
    if not text or text.lower() == "n/a":
        return None
    try:
        return float(text.replace(",", "")) * scale  # "1,234" -> 1234 (ncu's thousands separators)
    except ValueError:
        return None


def parse_nvtx_stack(cell: str) -> tuple[str, ...]:
    """Range names, outermost first, from a "thread Domain:Push/Pop_Range:PL_Type:..." cell.

    ncu writes the thread id and then one quoted entry per open range:
    ``1  "<default domain>:aten::conv2d, seq = 3:none:none:none:none:none:none"  "..."``. Each entry is
    domain, range and six payload/colour/message fields; the range (which may hold "::") is what lies
    between the first colon and the last six.
    """
    entries = re.findall(r'"([^"]*)"', cell)
    if not entries:  # no quoted range: an empty cell or a bare thread id, else take the text as one range
        rest = re.sub(r"^\s*\d+\s*", "", cell).strip()
        return (rest,) if rest else ()
    names = []
    for entry in entries:
        rest = entry.split(":", 1)[1] if ":" in entry else entry
        parts = rest.rsplit(":", 6)
        names.append(parts[0] if len(parts) == 7 else rest)
    return tuple(names)


@dataclass(frozen=True)
class KernelMetrics:
    """One profiled kernel launch: metric values in base units (bytes, seconds, instruction counts)."""

    id: int
    name: str
    metrics: Mapping[str, float | None]
    nvtx: tuple[str, ...] = ()  # NVTX push/pop ranges open at launch, outermost first

    def metric(self, name: str) -> float | None:
        return self.metrics.get(name)

    @property
    def aten_ops(self) -> tuple[str, ...]:
        """The aten ops on the NVTX stack ("aten::convolution"), outermost first."""
        return tuple(m.group(0) for r in self.nvtx if (m := _ATEN.search(r)))

    def flops_by_precision(self) -> dict[str, float]:
        """fp32 = fadd + fmul + 2 x ffma, likewise fp16 (h*) and fp64 (d*); only precisions recorded."""
        out: dict[str, float] = {}
        for metric, precision, weight in SASS_FLOP_METRICS:
            v = self.metrics.get(metric)
            if v is not None:
                out[precision] = out.get(precision, 0.0) + weight * v
        return out

    @property
    def sass_flops(self) -> float | None:
        """FLOPs of fadd/fmul/ffma-class instructions, all precisions; None if none was recorded."""
        by = self.flops_by_precision()
        return sum(by.values()) if by else None

    @property
    def tensor_instructions(self) -> float | None:
        return self.metrics.get(TENSOR_METRIC)

    @property
    def dram_bytes(self) -> float | None:
        r, w = self.metrics.get(DRAM_READ_METRIC), self.metrics.get(DRAM_WRITE_METRIC)
        return None if r is None and w is None else (r or 0.0) + (w or 0.0)

    @property
    def duration_s(self) -> float | None:
        return self.metrics.get(DURATION_METRIC)

    def bytes_by_level(self) -> dict[str, float]:
        """Bytes through L1, L2 and HBM (DRAM); only the levels the recording has."""
        out = {"l1": self.metrics.get(L1_BYTES_METRIC), "l2": self.metrics.get(L2_BYTES_METRIC)}
        out["hbm"] = self.dram_bytes
        return {level: v for level, v in out.items() if v is not None}


def _is_metric(column: str) -> bool:
    return bool(re.match(r"^[a-z0-9_]+__[a-z0-9_]", column))


def parse_ncu_csv(text: str) -> list[KernelMetrics]:
    """Kernels from ``ncu --csv --page raw`` output (log lines, the header, units row and one row per kernel).

    Skips ``==PROF==``/``==WARNING==`` lines and anything before the header (program output); the units
    row scales values to base units; "n/a" and empty cells become None; "1,234" reads as 1234.
    """
    lines = [line for line in text.splitlines() if not line.startswith("==")]
    start = next((i for i, line in enumerate(lines) if line.startswith('"ID"')), None)
    if start is None:
        return []
    rows = list(csv.reader(lines[start:]))
    header = rows[0]
    col = {name: i for i, name in enumerate(header)}
    id_col, name_col = col.get("ID"), col.get("Kernel Name")
    if id_col is None or name_col is None:
        return []
    nvtx_col = next((i for i, h in enumerate(header) if "Push/Pop_Range" in h), None)
    metric_cols = [(i, h) for i, h in enumerate(header) if _is_metric(h)]
    scales = {h: 1.0 for _i, h in metric_cols}
    kernels: list[KernelMetrics] = []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        kid = row[id_col].strip()
        if not kid:  # the units row: ID is empty
            scales = {h: _scale(row[i]) for i, h in metric_cols}
            continue
        try:
            kernel_id = int(kid.replace(",", ""))
        except ValueError:
            continue
        metrics = {h: _value(row[i], scales[h]) for i, h in metric_cols}
        nvtx = parse_nvtx_stack(row[nvtx_col]) if nvtx_col is not None else ()
        kernels.append(KernelMetrics(kernel_id, row[name_col], metrics, nvtx))
    return kernels


# -- attribution and comparison -----------------------------------------------------------------------------
def static_op_name(op: str) -> str:
    """The NVTX spelling of a static record's op: ``aten.convolution.default`` -> ``aten::convolution``."""
    parts = op.split(".")
    if len(parts) >= 2 and parts[0] == "aten":
        return f"aten::{parts[1]}"
    return op


def group_by_op(
    kernels: Iterable[KernelMetrics],
    known_ops: Iterable[str] = (),
    aliases: Mapping[str, str] = NVTX_ALIASES,
) -> dict[str, list[KernelMetrics]]:
    """Kernels grouped by the aten op they belong to (see the module docstring for the rule)."""
    known = set(known_ops)
    groups: dict[str, list[KernelMetrics]] = {}
    for k in kernels:
        ops = k.aten_ops
        if not ops:
            key = UNATTRIBUTED
        else:
            key = aliases.get(ops[-1], ops[-1])
            for name in reversed(ops):
                hit = next((c for c in (name, aliases.get(name)) if c is not None and c in known), None)
                if hit is not None:
                    key = hit
                    break
        groups.setdefault(key, []).append(k)
    return groups


@dataclass(frozen=True)
class StaticOpCost:
    """The static model's estimate for one op name, summed over its calls in a pass."""

    flops: int | None  # None: at least one call is uncounted, so the sum is unknown
    bytes: int
    calls: int


def static_costs_by_op(records: Iterable[Any]) -> dict[str, StaticOpCost]:
    """Sum static OpRecords (``op``, ``flops``, ``bytes_read``, ``bytes_written``, ``count``) per NVTX op name."""
    acc: dict[str, list[Any]] = {}
    for r in records:
        key = static_op_name(r.op)
        flops, nbytes, calls = acc.get(key, [0, 0, 0])
        n = getattr(r, "count", 1)
        flops = None if flops is None or r.flops is None else flops + r.flops * n
        acc[key] = [flops, nbytes + (r.bytes_read + r.bytes_written) * n, calls + n]
    return {k: StaticOpCost(f, b, c) for k, (f, b, c) in acc.items()}


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


@dataclass(frozen=True)
class OpComparison:
    """Measured (ncu) against estimated (static) work of one op, with the reason they differ."""

    op: str
    kernels: int
    measured_flops: float | None  # sass fadd/fmul/ffma-class FLOPs, all precisions
    measured_by_precision: Mapping[str, float] = field(default_factory=dict)
    tensor_instructions: float | None = None
    estimated_flops: int | None = None
    ratio: float | None = None  # measured / estimated
    dram_bytes: float | None = None
    estimated_bytes: int | None = None  # static minimum traffic
    duration_s: float | None = None
    bytes_by_level: Mapping[str, float] = field(default_factory=dict)  # l1, l2, hbm: measured by ncu
    implied_flops_per_tensor_instruction: float | None = None  # (estimate - sass) / tensor instructions
    explanation: str = ""
    in_static: bool = True  # False: kernels of an op the static profile does not list

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "kernels": self.kernels,
            "measured_flops": self.measured_flops,
            "measured_by_precision": dict(self.measured_by_precision),
            "tensor_instructions": self.tensor_instructions,
            "estimated_flops": self.estimated_flops,
            "ratio": self.ratio,
            "dram_bytes": self.dram_bytes,
            "estimated_bytes": self.estimated_bytes,
            "duration_s": self.duration_s,
            "bytes_by_level": dict(self.bytes_by_level),
            "implied_flops_per_tensor_instruction": self.implied_flops_per_tensor_instruction,
            "explanation": self.explanation,
            "in_static": self.in_static,
        }


def _explain(
    measured: float | None,
    tensor: float | None,
    estimated: int | None,
    kernels: int,
    in_static: bool,
    tolerance: float,
) -> str:
    if not in_static:
        return (
            "not in the static profile: kernels of work the static model does not see (copies, casts, setup)"
        )
    if kernels == 0:
        return "no kernels recorded: a view or allocation, or work fused into another op's kernel"
    if estimated is None:
        return "uncounted by the static model: no estimate to compare"
    if measured is None:
        return "sass FP metrics missing from the recording"
    if tensor:
        return (
            f"tensor cores: MMA work is not in the sass FP counters ({tensor:.4g} tensor-pipe instructions); "
            "the sass FLOPs are the kernels' other arithmetic"
        )
    if measured == 0 and estimated == 0:
        return "no FP kernels (memory op): nothing estimated, nothing counted"
    if measured == 0:
        return (
            "no fadd/fmul/ffma counted: the op's work is comparisons (FMNMX), moves or special functions, "
            "which these counters leave out"
        )
    if estimated == 0:
        return "FP instructions where none were estimated: address or scale arithmetic of a data-movement op"
    ratio = measured / estimated
    if abs(ratio - 1.0) <= tolerance:
        return f"within {tolerance:.0%}"
    if ratio > 1.0:
        return (
            f"measured {ratio:.3g}x the estimate: the kernels do arithmetic the formula leaves out "
            "(index math, rescaling, padded tiles)"
        )
    return (
        f"measured {ratio:.3g}x the estimate: work outside fadd/fmul/ffma (MUFU exp/rsqrt, FMNMX, integer) "
        "or a cheaper algorithm (Winograd/FFT convolution)"
    )


def compare_with_static(
    kernels_by_op: Mapping[str, Sequence[KernelMetrics]],
    static: Mapping[str, StaticOpCost],
    tolerance: float = 0.05,
) -> list[OpComparison]:
    """One row per op in either side, largest estimate first (unestimated ops last)."""
    rows: list[OpComparison] = []
    for op in sorted(set(kernels_by_op) | set(static)):
        ks = list(kernels_by_op.get(op, ()))
        cost = static.get(op)
        by: dict[str, float] = {}
        levels: dict[str, float] = {}
        for k in ks:
            for p, v in k.flops_by_precision().items():
                by[p] = by.get(p, 0.0) + v
            for level, v in k.bytes_by_level().items():
                levels[level] = levels.get(level, 0.0) + v
        measured = sum(by.values()) if by else None  # no kernels or no sass metric: nothing measured
        tensor = _sum(k.tensor_instructions for k in ks)
        estimated = cost.flops if cost is not None else None
        ratio = measured / estimated if measured is not None and estimated else None
        implied = None
        if tensor and estimated is not None and measured is not None and estimated > measured:
            implied = (estimated - measured) / tensor
        rows.append(
            OpComparison(
                op=op,
                kernels=len(ks),
                measured_flops=measured,
                measured_by_precision=by,
                tensor_instructions=tensor,
                estimated_flops=estimated,
                ratio=ratio,
                dram_bytes=_sum(k.dram_bytes for k in ks),
                estimated_bytes=cost.bytes if cost is not None else None,
                duration_s=_sum(k.duration_s for k in ks),
                bytes_by_level=levels,
                implied_flops_per_tensor_instruction=implied,
                explanation=_explain(measured, tensor, estimated, len(ks), cost is not None, tolerance),
                in_static=cost is not None,
            )
        )
    rows.sort(key=lambda r: (r.estimated_flops is None, -(r.estimated_flops or 0), r.op))
    return rows


def totals(rows: Iterable[OpComparison]) -> dict[str, float | None]:
    """Whole-pass sums: measured sass FLOPs, estimated FLOPs (None if an op of the static profile is
    uncounted), the ratio, tensor-pipe instructions, DRAM bytes and kernel time."""
    rows = list(rows)
    static_rows = [r for r in rows if r.in_static]
    estimated = (
        None
        if any(r.estimated_flops is None for r in static_rows)
        else float(sum(r.estimated_flops or 0 for r in static_rows))
    )
    measured = _sum(r.measured_flops for r in rows)
    return {
        "measured_flops": measured,
        "estimated_flops": estimated,
        "ratio": measured / estimated if measured is not None and estimated else None,
        "tensor_instructions": _sum(r.tensor_instructions for r in rows),
        "dram_bytes": _sum(r.dram_bytes for r in rows),
        "duration_s": _sum(r.duration_s for r in rows),
        **{f"{level}_bytes": _sum(r.bytes_by_level.get(level) for r in rows) for level in LEVELS},
    }
