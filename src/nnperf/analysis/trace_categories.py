"""What kind of time an event is: the categories of busy time, their priority and the names that decide them.

Shared by the interval arithmetic (:mod:`nnperf.analysis.intervals`, which sums time per category) and the
per-rank analysis (:mod:`nnperf.analysis.trace_rank`); the rules are written down in
:mod:`nnperf.analysis.trace`'s module doc ("Busy, idle, categories").
"""

from __future__ import annotations

import re

from nnperf.analysis.trace_model import LAUNCH_CATS, Event

# Categories, first wins where events nest or streams overlap; "idle" is the time no event covers.
PRIORITY: tuple[str, ...] = ("sync", "communication", "memcpy", "data loading", "optimizer", "compute")
CATEGORIES: tuple[str, ...] = (
    "compute",
    "data loading",
    "optimizer",
    "communication",
    "memcpy",
    "sync",
    "idle",
)
COMPUTE = PRIORITY.index("compute")

_SYNC = re.compile(r"Synchronize|^(cuda|hip)Memcpy(2D|3D)?$|^cuMemcpy(DtoH|HtoD|DtoD)?(_v2)?$")
_COMM = re.compile(
    r"nccl|gloo|c10d|record_param_comms|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all", re.IGNORECASE
)
DATA_LOADER = re.compile(r"DataLoader")
_OPTIMIZER = re.compile(r"^Optimizer\.(step|zero_grad)#")


def own_category(e: Event) -> int | None:
    """The category (an index into PRIORITY) that an event's own name and cat give it, else None.

    None means compute, unless an enclosing event (for GPU work: the code that launched it) says otherwise.
    """
    if e.cat in LAUNCH_CATS and _SYNC.search(e.name):
        return PRIORITY.index("sync")
    if _COMM.search(e.name):
        return PRIORITY.index("communication")
    if e.cat in ("gpu_memcpy", "gpu_memset"):
        return PRIORITY.index("memcpy")
    if DATA_LOADER.search(e.name):
        return PRIORITY.index("data loading")
    if _OPTIMIZER.match(e.name):
        return PRIORITY.index("optimizer")
    return None
