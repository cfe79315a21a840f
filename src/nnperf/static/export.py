"""Plain-dict and CSV export of a static summary (the JSON schema documented in the README)."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from nnperf.records.static_profile import PHASES
from nnperf.static import aggregate

if TYPE_CHECKING:
    from nnperf.static.summary import StaticSummary

SCHEMA = "nnperf.static-summary"
SCHEMA_VERSION = 1


def summary_to_dict(s: StaticSummary, include_ops: bool = False) -> dict[str, Any]:
    p = s.profile
    training = s.training
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "model": p.model,
        "source": p.source,
        "family": p.family,
        "input": p.input,
        "input_shapes": [list(x) for x in p.input_shapes],
        "batch": p.batch,
        "dtype": p.dtype,
        "mode": p.mode,
        "optimizer_name": p.optimizer,
        "tensor_mode": p.tensor_mode,
        "conventions": {
            "flops": "2 FLOPs per multiply-add; MACs count multiply-adds of matmul/conv/attention only",
            "bytes": "minimum traffic: each distinct input read once, each output written once",
        },
        "params": {
            "total": p.params_total,
            "trainable": p.params_trainable,
            "non_trainable": p.params_total - p.params_trainable,
            "buffers": p.buffers_total,
        },
        "context": p.context,
        "forward": s.forward.to_dict(),
        "backward": s.backward.to_dict() if p.training_analysed else None,
        "optimizer": s.optimizer.to_dict() if p.training_analysed else None,
        "inference": s.inference.to_dict(),
        "training": {phase: training[phase].to_dict() for phase in PHASES} if p.training_analysed else None,
        "memory": asdict(p.memory),
        "by_kind": {k: t.to_dict() for k, t in sorted(aggregate.by_kind(s.ops).items())},
        "uncounted_ops": s.uncounted_ops,
        "warnings": list(p.warnings),
    }
    if out["training"] is not None:
        out["training"]["total"] = aggregate.totals(p.train_ops).to_dict()
    if include_ops:
        out["ops"] = {
            "infer": [asdict(r) for r in p.infer_ops],
            "train": [asdict(r) for r in p.train_ops],
        }
    return out


CSV_COLUMNS = (
    "module",
    "type",
    "phase",
    "flops",
    "macs",
    "bytes_read",
    "bytes_written",
    "op_calls",
    "uncounted_calls",
)


def modules_csv(s: StaticSummary, depth: int | None = None) -> str:
    """One row per (module path, phase) with its totals; rows sum to the totals of the pass."""
    types = {c.path: c.type for c in s.profile.modules}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for (path, phase), t in aggregate.by_module(s.ops, depth).items():
        w.writerow(
            [
                path,
                types.get(path, ""),
                phase,
                t.flops,
                t.macs,
                t.bytes_read,
                t.bytes_written,
                t.calls,
                t.uncounted,
            ]
        )
    return buf.getvalue()
