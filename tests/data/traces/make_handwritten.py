"""Writes the HAND-WRITTEN traces of this folder (see README.txt): python tests/data/traces/make_handwritten.py

Every time below is an offset in microseconds from the trace's base; the tests derive their expected numbers
from these offsets by hand, so change both together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASE = 1_700_000_000_000.0  # µs, the order of magnitude Kineto's timestamps have
HOST_PID = HOST_TID = 4242
GPU_PID, STREAM = 0, 7


def _x(cat: str, name: str, ts: float, dur: float, pid: Any, tid: Any, **args: Any) -> dict[str, Any]:
    return {
        "ph": "X",
        "cat": cat,
        "name": name,
        "pid": pid,
        "tid": tid,
        "ts": BASE + ts,
        "dur": dur,
        "args": args,
    }


def _flow(ph: str, fid: int, ts: float, pid: Any, tid: Any, cat: str = "ac2g") -> dict[str, Any]:
    e = {"ph": ph, "id": fid, "pid": pid, "tid": tid, "ts": BASE + ts, "cat": cat, "name": cat}
    if ph == "f":
        e["bp"] = "e"
    return e


def _meta(pid: Any, tid: Any, name: str, value: Any) -> dict[str, Any]:
    key = {"process_name": "name", "process_labels": "labels", "thread_name": "name"}[name]
    return {"ph": "M", "name": name, "pid": pid, "tid": tid, "ts": BASE, "args": {key: value}}


def _launch(
    events: list[dict[str, Any]], name: str, ts: float, dur: float, corr: int, cbid: int = 211
) -> None:
    """A CUDA runtime call on the host thread and the flow arrow that starts at it."""
    events.append(
        _x("cuda_runtime", name, ts, dur, HOST_PID, HOST_TID, **{"cbid": cbid, "correlation": corr})
    )
    events.append(_flow("s", corr, ts, HOST_PID, HOST_TID))


def _on_gpu(
    events: list[dict[str, Any]], cat: str, name: str, ts: float, dur: float, corr: int, **extra: Any
) -> None:
    args = {"device": 0, "context": 1, "stream": STREAM, "correlation": corr, **extra}
    events.append(_x(cat, name, ts, dur, GPU_PID, STREAM, **args))
    events.append(_flow("f", corr, ts, GPU_PID, STREAM))


GEMM = "sm90_xmma_gemm_f32f32_f32f32_f32_tn_n_tilesize128x128x8_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas"
RELU = (
    "void at::native::vectorized_elementwise_kernel<4, at::native::(anonymous namespace)::launch_clamp_scalar"
    "(at::TensorIteratorBase&, c10::Scalar, c10::Scalar, at::native::detail::ClampLimits)::{lambda()#1}::"
    "operator()() const::{lambda()#7}::operator()() const::{lambda(float)#1}, at::detail::Array<char*, 2> >"
    "(int, at::native::(anonymous namespace)::launch_clamp_scalar(at::TensorIteratorBase&, c10::Scalar, "
    "c10::Scalar, at::native::detail::ClampLimits)::{lambda()#1}::operator()() const::{lambda()#7}::operator()"
    "() const::{lambda(float)#1}, at::detail::Array<char*, 2>)"
)
SGD = (
    "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::"
    "TensorListMetadata<2>, at::native::(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, "
    "std::plus<float>, float>(at::native::(anonymous namespace)::TensorListMetadata<2>, at::native::"
    "(anonymous namespace)::BinaryOpListAlphaFunctor<float, 2, 2, 0>, std::plus<float>, float)"
)
X4096 = [4096, 4096]


def gpu_step(events: list[dict[str, Any]], t0: float, step: int, corr0: int) -> None:
    """One 10 ms training step of a 4096x4096 linear layer + ReLU on an H100 (layout in README.txt)."""
    cpu = "cpu_op"
    h = (HOST_PID, HOST_TID)
    events.append(_x("user_annotation", f"ProfilerStep#{step}", t0, 10_000, *h))
    events.append(
        _x("user_annotation", "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", t0, 3_000, *h)
    )
    # batch.to("cuda"): a host-to-device copy from pageable memory
    events.append(_x(cpu, "aten::to", t0 + 3_000, 400, *h, **{"Input Dims": [X4096, [], [], [], []]}))
    events.append(_x(cpu, "aten::copy_", t0 + 3_050, 300, *h, **{"Input Dims": [X4096, X4096, []]}))
    _launch(events, "cudaMemcpyAsync", t0 + 3_100, 200, corr0 + 1, cbid=41)
    _on_gpu(
        events, "gpu_memcpy", "Memcpy HtoD (Pageable -> Device)", t0 + 3_200, 400, corr0 + 1, bytes=67_108_864
    )
    # the linear layer: aten::linear -> aten::addmm -> one GEMM kernel
    events.append(_x(cpu, "aten::linear", t0 + 3_400, 1_000, *h, **{"Input Dims": [X4096, X4096, [4096]]}))
    events.append(
        _x(cpu, "aten::addmm", t0 + 3_500, 800, *h, **{"Input Dims": [[4096], X4096, X4096, [], []]})
    )
    _launch(events, "cudaLaunchKernel", t0 + 3_600, 100, corr0 + 2)
    _on_gpu(events, "kernel", GEMM, t0 + 3_700, 3_000, corr0 + 2, grid=[32, 32, 1], block=[128, 1, 1])
    # ReLU: launched at once, runs after the GEMM on the same stream
    events.append(_x(cpu, "aten::relu", t0 + 4_400, 400, *h, **{"Input Dims": [X4096]}))
    events.append(_x(cpu, "aten::clamp_min", t0 + 4_420, 360, *h, **{"Input Dims": [X4096, []]}))
    _launch(events, "cudaLaunchKernel", t0 + 4_500, 100, corr0 + 3)
    _on_gpu(events, "kernel", RELU, t0 + 6_700, 500, corr0 + 3, grid=[16384, 1, 1], block=[128, 1, 1])
    # loss.item(): a device-to-host copy and a stream synchronisation that waits for it
    events.append(_x(cpu, "aten::item", t0 + 4_800, 2_700, *h, **{"Input Dims": [[]]}))
    events.append(_x(cpu, "aten::_local_scalar_dense", t0 + 4_850, 2_600, *h, **{"Input Dims": [[]]}))
    _launch(events, "cudaMemcpyAsync", t0 + 4_900, 100, corr0 + 4, cbid=41)
    _on_gpu(events, "gpu_memcpy", "Memcpy DtoH (Device -> Pageable)", t0 + 7_200, 100, corr0 + 4, bytes=4)
    events.append(
        _x(
            "cuda_runtime",
            "cudaStreamSynchronize",
            t0 + 5_000,
            2_400,
            *h,
            **{"cbid": 131, "correlation": corr0 + 5},
        )
    )
    # the optimizer: one fused multi-tensor kernel
    events.append(_x("user_annotation", "Optimizer.step#SGD.step", t0 + 7_500, 1_500, *h))
    events.append(_x(cpu, "aten::_foreach_add_", t0 + 7_600, 1_200, *h, **{"Input Dims": [[], [], []]}))
    _launch(events, "cudaLaunchKernel", t0 + 7_700, 100, corr0 + 6)
    _on_gpu(events, "kernel", SGD, t0 + 8_000, 1_500, corr0 + 6, grid=[4, 1, 1], block=[512, 1, 1])
    # [9000, 10000]: the host runs untraced Python (logging); the GPU is done at 9500


def gpu_trace() -> dict[str, Any]:
    events: list[dict[str, Any]] = [
        _meta(HOST_PID, 0, "process_name", "python"),
        _meta(HOST_PID, 0, "process_labels", "CPU"),
        _meta(HOST_PID, HOST_TID, "thread_name", f"thread {HOST_TID} (python)"),
        _meta(GPU_PID, 0, "process_name", "python"),
        _meta(GPU_PID, 0, "process_labels", "GPU 0"),
        _meta(GPU_PID, STREAM, "thread_name", f"stream {STREAM} "),
    ]
    gpu_step(events, 0, 4, 100)
    gpu_step(events, 10_000, 5, 200)
    events.append(
        {
            "ph": "X",
            "cat": "Trace",
            "name": "PyTorch Profiler (0)",
            "pid": "Spans",
            "tid": "PyTorch Profiler",
            "ts": BASE - 500,
            "dur": 21_000,
            "args": {"Op count": 0},
        }
    )
    return {
        "schemaVersion": 1,
        "deviceProperties": [
            {
                "id": 0,
                "name": "NVIDIA H100 80GB HBM3",
                "totalGlobalMem": 85_031_714_816,
                "computeMajor": 9,
                "computeMinor": 0,
                "maxThreadsPerBlock": 1024,
                "maxThreadsPerMultiprocessor": 2048,
                "regsPerBlock": 65536,
                "warpSize": 32,
                "sharedMemPerBlock": 49152,
                "numSms": 132,
            }
        ],
        "cupti_version": 22,
        "cuda_runtime_version": 12040,
        "cuda_driver_version": 12040,
        "record_shapes": 1,
        "displayTimeUnit": "ms",
        "baseTimeNanoseconds": 1_700_000_000_000_000_000,
        "traceEvents": events,
        "traceName": "gpu_handwritten.json (hand-written, not recorded)",
    }


def critical_path_trace() -> dict[str, Any]:
    """Two host threads and one stream; the critical path is derived by hand in tests/unit/test_trace_analysis.py."""
    t1, t2 = (1, 1), (1, 2)
    g = (0, 7)
    ev: list[dict[str, Any]] = [
        _meta(1, 1, "thread_name", "main"),
        _meta(1, 2, "thread_name", "pt_autograd_0"),
        _meta(0, 0, "process_labels", "GPU 0"),
        _x("user_annotation", "nnperf.step", 0, 1_000, *t1),
        _x("cpu_op", "aten::mm", 0, 100, *t1),  # A
        _x("cuda_runtime", "cudaLaunchKernel", 20, 10, *t1, correlation=11),
        _x("cpu_op", "aten::add", 100, 50, *t1),  # B
        _x("cuda_runtime", "cudaLaunchKernel", 110, 10, *t1, correlation=12),
        _x("cuda_runtime", "cudaDeviceSynchronize", 200, 360, *t1),  # S, top-level
        _x("cpu_op", "aten::mul", 560, 40, *t1),  # D
        _x("cuda_runtime", "cudaLaunchKernel", 570, 10, *t1, correlation=13),
        _x("cpu_op", "autograd::engine::evaluate_function: MulBackward0", 620, 80, *t2),  # E
        _x("cuda_runtime", "cudaLaunchKernel", 650, 10, *t2, correlation=14),
        _x("kernel", "K1", 40, 400, *g, correlation=11, stream=7),
        _x("kernel", "K2", 440, 100, *g, correlation=12, stream=7),
        _x("kernel", "K3", 600, 300, *g, correlation=13, stream=7),
        _x("kernel", "K4", 900, 50, *g, correlation=14, stream=7),
        _flow("s", 11, 20, *t1),
        _flow("f", 11, 40, *g),
        _flow("s", 12, 110, *t1),
        _flow("f", 12, 440, *g),
        _flow("s", 13, 570, *t1),
        _flow("f", 13, 600, *g),
        _flow("s", 14, 650, *t2),
        _flow("f", 14, 900, *g),
        _flow("s", 1, 560, *t1, cat="fwdbwd"),  # aten::mul (forward) -> MulBackward0 on the autograd thread
        _flow("f", 1, 620, *t2, cat="fwdbwd"),
    ]
    return {"schemaVersion": 1, "traceEvents": ev}


def main() -> None:
    for name, data in (
        ("gpu_handwritten.json", gpu_trace()),
        ("critical_path_synthetic.json", critical_path_trace()),
    ):
        (HERE / name).write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
