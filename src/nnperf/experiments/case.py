"""One study case in its own process: ``python -m nnperf.experiments.case PAYLOAD.json STORE_ROOT``.

The payload holds the RunSpec, the per-sample input shape, the options and the record's ``case`` section. The
record is written by this process (atomically, into the store) as soon as the case ends, so a study that is
killed afterwards loses nothing. A bad setting becomes a failed record too: in a study, one bad case must not
stop the others. The parent asks the kernel to kill this process when the parent dies (``PR_SET_PDEATHSIG``,
set in the parent's ``preexec_fn``), so an interrupted study never leaves a case finishing behind its back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def static_key(case: Any) -> str:
    """What the static analysis depends on: model, input, dtype, autocast, optimizer and KV-cache context (not
    threads, data...)."""
    s = case.spec
    shape = "x".join(map(str, case.model.input)) if case.model.input else "-"
    key = f"{case.model.label}|{s.dtype}|b{s.batch}|seq{s.seq}|in{shape}|ac{s.autocast}|opt{s.optimizer}"
    return key + (f"|ctx{s.context}" if s.context is not None else "")


def case_payload(case: Any, study: Any, fingerprint: str, static: Path | None = None) -> dict[str, Any]:
    """What this module reads for one case (``static``: the study's stored static analysis of its model)."""
    return {
        "static": str(static) if static is not None and static.is_file() else None,
        "spec": case.spec.to_dict(),
        "input": list(case.model.input) if case.model.input else None,
        "profile": study.run.profile,
        "case": {
            "id": case.id,
            "study": study.name,
            "environment": case.environment.name,
            "model": case.model.label,
            "fingerprint": fingerprint,
            "repetition": case.repetition,
            "static_key": static_key(case),
        },
    }


def run_case(payload: dict[str, Any], store_root: str) -> int:
    from nnperf.errors import NnperfError
    from nnperf.experiments.store import ResultStore
    from nnperf.measure.bench import measure
    from nnperf.records.measurement import Measurement, RunSpec

    spec = RunSpec.from_dict(payload["spec"])
    store = ResultStore(store_root)
    trace = None
    if payload.get("profile"):  # the profiler's trace goes into the store beside the record, for the report
        case = payload["case"]
        trace = store.trace_path(case["id"], case["fingerprint"])
        trace.parent.mkdir(parents=True, exist_ok=True)
    prediction = None
    if payload.get("static"):  # the study's stored static analysis of this model and input: not redone here
        try:
            prediction = json.loads(Path(payload["static"]).read_text())
        except (OSError, ValueError):
            prediction = None  # measure() analyses the model itself
    try:
        m = measure(
            spec,
            input=tuple(payload["input"]) if payload.get("input") else None,
            profile=bool(payload.get("profile")),
            trace_path=trace,
            prediction=prediction,
        )
    except NnperfError as exc:  # a setting this machine cannot run (e.g. cuda without a GPU): a failed case
        m = Measurement(spec=spec, status="failed", failed_stage="validate", error=str(exc))
    record = m.to_dict()
    record["case"] = payload["case"]
    store.write_case(record)
    return 0 if m.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    payload = json.loads(Path(args[0]).read_text())
    return run_case(payload, args[1])


if __name__ == "__main__":
    sys.exit(main())
