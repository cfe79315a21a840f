"""One rank of a data-parallel (DDP) timing run; launched by :func:`nnperf.measure.scaling.ddp_scaling` as

    python -m torch.distributed.run --standalone --nproc_per_node=N -m nnperf.measure.ddp_worker ARGS

Each rank builds the model (fresh weights; DDP broadcasts rank 0's at construction), wraps it in
``DistributedDataParallel`` and times two kinds of training step on the same synthetic batch, alternating
so that drift and other programs' load hit both alike:

* the **step**: forward, loss, backward with gradient all-reduce (no optimizer step: it is the same work at
  every world size and holds no communication);
* the **compute-only step**: the same under ``model.no_sync()``, which skips the all-reduce.

A DDP communication hook wraps the default all-reduce hook and records, per gradient bucket, the time from
the hook call (the bucket's gradients are ready) to the completion of its all-reduce future. The
**all-reduce time** of a step is the union of these intervals (wall time with at least one bucket's
all-reduce in flight); their plain sum is kept too. On CUDA the interval is measured with CUDA events.

All ranks meet at a barrier before every timed step (outside the timing), so no rank's step includes
another's lateness from the previous step. Rank 0 gathers every rank's raw samples and writes one JSON
record (``nnperf.ddp-run``) to ``--out``. A failure prints one line ``nnperf-ddp-worker: error: ...`` on
stderr and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

ERROR_MARK = "nnperf-ddp-worker: error:"
RUN_SCHEMA = "nnperf.ddp-run"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnperf.measure.ddp_worker")
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, required=True, help="per-rank batch")
    p.add_argument("--input", help="per-sample shape, e.g. 3x64x64")
    p.add_argument("--seq", type=int)
    p.add_argument("--dtype", default="fp32")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--backend", default=None, help="gloo (CPU default) or nccl (CUDA default)")
    p.add_argument("--threads", type=int, required=True, help="intra-op threads per rank")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--bucket-cap-mb", type=float, default=25.0)
    p.add_argument("--out", required=True, help="rank 0 writes the JSON record here")
    return p


def _merge(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of ``[start, end]`` intervals (seconds)."""
    total, end = 0.0, -float("inf")
    for a, b in sorted(intervals):
        if a > end:
            total += b - a
            end = b
        elif b > end:
            total += b - end
            end = b
    return total


class AllreduceTimer:
    """A DDP comm hook (the default all-reduce, timed per bucket); intervals are relative to the step start."""

    def __init__(self, torch: Any, cuda: bool) -> None:
        self.torch = torch
        self.cuda = cuda
        self._wall: list[tuple[float, float]] = []
        self._events: list[tuple[Any, Any]] = []
        self._ref: Any = None
        self._t0 = 0.0

    def start_step(self) -> None:
        self._wall, self._events = [], []
        self._t0 = time.perf_counter()
        if self.cuda:
            self._ref = self.torch.cuda.Event(enable_timing=True)
            self._ref.record()

    # No annotations on the parameters: DDP checks a hook's annotations against dist.GradBucket, and
    # ``from __future__ import annotations`` turns them into strings that fail that check.
    def hook(self, state, bucket):  # type: ignore[no-untyped-def]
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        start = time.perf_counter()
        begin = None
        if self.cuda:
            begin = self.torch.cuda.Event(enable_timing=True)
            begin.record()
        fut = default_hooks.allreduce_hook(state, bucket)

        def done(f: Any) -> Any:
            # Runs when the all-reduce completes (gloo: on its worker thread). On CUDA it runs with the
            # current stream waiting for the collective, so an event recorded here marks its end on the GPU.
            if self.cuda:
                end = self.torch.cuda.Event(enable_timing=True)
                end.record()
                self._events.append((begin, end))
            else:
                self._wall.append((start - self._t0, time.perf_counter() - self._t0))
            return f.value()

        return fut.then(done)

    def finish_step(self) -> tuple[float, float, int]:
        """(union of the buckets' all-reduce intervals, their sum, buckets) of the step just timed."""
        if self.cuda:
            self.torch.cuda.synchronize()
            spans = [
                (self._ref.elapsed_time(b) / 1e3, self._ref.elapsed_time(e) / 1e3) for b, e in self._events
            ]
        else:
            spans = list(self._wall)
        return _merge(spans), sum(b - a for a, b in spans), len(spans)


def _median(xs: list[float]) -> float | None:
    import statistics

    return statistics.median(xs) if xs else None


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    """Time the steps on this rank; rank 0 returns the gathered record, other ranks None."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from nnperf.models import InputSpec, build_workload, parse_shape

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    torch.set_num_threads(args.threads)
    cuda = args.device == "cuda"
    backend = args.backend or ("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        dist.init_process_group(backend, device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group(backend)
    try:
        spec = InputSpec(
            batch=args.batch,
            sample_shape=parse_shape(args.input) if args.input else None,
            seq=args.seq,
            dtype=args.dtype,
        )
        workload = build_workload(args.model, spec, device=device)
        model = workload.model.train()
        ddp = DDP(model, device_ids=[local_rank] if cuda else None, bucket_cap_mb=args.bucket_cap_mb)
        timer = AllreduceTimer(torch, cuda)
        ddp.register_comm_hook(None, timer.hook)
        batch = workload.make_inputs(device, train=True)
        params = [p for p in ddp.parameters() if p.requires_grad]
        in_args, in_kwargs = batch

        def step(sync: bool) -> None:
            for p in params:  # zero_grad(set_to_none=True)
                p.grad = None
            with contextlib.nullcontext() if sync else ddp.no_sync():
                out = ddp(*in_args, **in_kwargs)
                loss = workload.loss(out, batch)
                loss.backward()

        def barrier() -> None:
            if cuda:
                torch.cuda.synchronize()
                dist.barrier(device_ids=[local_rank])
            else:
                dist.barrier()

        for _ in range(args.warmup):
            step(True)
            step(False)
        samples: dict[str, list[Any]] = {
            "step_time_s": [],
            "compute_time_s": [],
            "allreduce_time_s": [],
            "allreduce_sum_s": [],
        }
        buckets = 0
        for i in range(args.iters):
            # Alternate which kind goes first so a slow drift favours neither.
            for sync in (True, False) if i % 2 == 0 else (False, True):
                barrier()
                timer.start_step()
                t0 = time.perf_counter()
                step(sync)
                if cuda:
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - t0
                union, total, n_buckets = timer.finish_step()
                if sync:
                    samples["step_time_s"].append(elapsed)
                    samples["allreduce_time_s"].append(union)
                    samples["allreduce_sum_s"].append(total)
                    buckets = n_buckets
                else:
                    samples["compute_time_s"].append(elapsed)
        grad_bytes = sum(p.numel() * p.element_size() for p in params)
        mine = {
            "rank": rank,
            "threads": torch.get_num_threads(),
            "buckets": buckets,
            **samples,
            "median": {k: _median(v) for k, v in samples.items()},
        }
        gathered: list[Any] | None = [None] * world if rank == 0 else None
        dist.gather_object(mine, gathered, dst=0)
        if rank != 0:
            return None
        assert gathered is not None
        ranks = sorted(gathered, key=lambda r: r["rank"])
        # The world's step is its slowest rank's: per step, the maximum over ranks.
        world_samples = {
            k: [max(r[k][i] for r in ranks) for i in range(args.iters)]
            for k in ("step_time_s", "compute_time_s", "allreduce_time_s")
        }
        compute_medians = [r["median"]["compute_time_s"] for r in ranks]
        return {
            "schema": RUN_SCHEMA,
            "world_size": world,
            "backend": backend,
            "device": str(device.type),
            "model": args.model,
            "input": workload.input_description,
            "per_rank_batch": args.batch,
            "global_batch": args.batch * world,
            "threads_per_rank": args.threads,
            "bucket_cap_mb": args.bucket_cap_mb,
            "buckets": buckets,
            "gradient_bytes": grad_bytes,
            "parameters": sum(p.numel() for p in params),
            "warmup": args.warmup,
            "iters": args.iters,
            "step": "forward + loss + backward (DDP gradient all-reduce); no optimizer step",
            **world_samples,
            "straggler_ratio": max(compute_medians) / min(compute_medians) if min(compute_medians) else None,
            "ranks": ranks,
        }
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rank = os.environ.get("RANK", "?")
    try:
        record = run(args)
    except Exception as exc:
        text = str(exc).strip().splitlines()
        print(f"{ERROR_MARK} rank {rank}: {type(exc).__name__}: {text[0] if text else ''}", file=sys.stderr)
        return 1
    if record is not None:
        from nnperf.records.jsonio import write_record

        write_record(Path(args.out), record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
