"""Trace analysis on hand-made traces: every expected number is derived by hand from the event times.

The GPU trace (tests/data/traces/gpu_handwritten.json) is HAND-WRITTEN in the format torch.profiler writes
for CUDA runs (see tests/data/traces/README.txt): no GPU recording exists yet. Times are microseconds.
"""

from __future__ import annotations

import argparse
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nnperf.analysis.critical_path import PathStep, critical_path, path_length
from nnperf.analysis.trace import (
    CATEGORIES,
    SCHEMA,
    analyze,
    load_trace,
    profiler_name,
    trace_from_dict,
)
from nnperf.cli.trace_cmd import add_trace
from nnperf.errors import UsageError
from nnperf.records.static_profile import OpRecord
from nnperf.report.trace_view import short_name, trace_section

TRACES = Path(__file__).resolve().parents[1] / "data" / "traces"
GPU_TRACE = TRACES / "gpu_handwritten.json"
PATH_TRACE = TRACES / "critical_path_synthetic.json"
US = 1e-6


def x(cat: str, name: str, ts: float, dur: float, tid: Any = 1, pid: Any = 1, **args: Any) -> dict[str, Any]:
    return {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur, "args": args}


def trace(*events: dict[str, Any], **header: Any) -> dict[str, Any]:
    return {"schemaVersion": 1, **header, "traceEvents": list(events)}


# ---- critical_path on its own ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class S:
    lane: str
    start: float
    end: float
    waits: bool = False


def test_critical_path_known_answer() -> None:
    # host: L1 [0,10] and L2 [10,20] launch K1 and K2, C [20,50] is CPU work, S [50,100] synchronises.
    # GPU:  K1 [15,60], K2 [60,90] (queued behind K1). S waits for K2: ready at 90.
    spans = [
        S("cpu", 0, 10),  # 0 L1
        S("cpu", 10, 20),  # 1 L2
        S("cpu", 20, 50),  # 2 C
        S("cpu", 50, 100, waits=True),  # 3 S
        S("gpu", 15, 60),  # 4 K1
        S("gpu", 60, 90),  # 5 K2
    ]
    path = critical_path(spans, [(0, 4), (1, 5), (5, 3)])
    # L1 10 + K1 (60 - max(15, 10) = 45) + K2 30 + S (100 - max(50, 90) = 10) = 95
    # the host alone: L1 10 + L2 10 + C 30 + S 10 = 60;  L1, L2, K2 (90 - max(60, 20) = 30), S 10 = 60
    assert path == [PathStep(0, 0, 10), PathStep(4, 15, 60), PathStep(5, 60, 90), PathStep(3, 90, 100)]
    assert path_length(path) == 95


def test_critical_path_ignores_a_dependency_that_cannot_extend_a_chain() -> None:
    # A tiny kernel [5, 8] finished before its launch call [0, 10] returned: the chain stays on the host.
    spans = [S("cpu", 0, 10), S("cpu", 10, 30), S("gpu", 5, 8)]
    path = critical_path(spans, [(0, 2)])
    assert [p.index for p in path] == [0, 1]
    assert path_length(path) == 30  # 10 + 20


def test_critical_path_errors() -> None:
    assert critical_path([]) == []
    with pytest.raises(ValueError, match="overlap on lane"):
        critical_path([S("cpu", 0, 10), S("cpu", 5, 20)])
    with pytest.raises(ValueError, match="does not exist"):
        critical_path([S("cpu", 0, 10)], [(0, 3)])
    with pytest.raises(ValueError, match="before it starts"):
        critical_path([S("cpu", 10, 0)])


# ---- the synthetic trace with a known critical path -------------------------------------------------------------
def test_critical_path_of_synthetic_trace_is_found_exactly() -> None:
    rank = analyze(load_trace(PATH_TRACE)).ranks[0]
    # Spans: main: mm [0,100], add [100,150], cudaDeviceSynchronize [200,560] (waits), mul [560,600];
    # autograd thread: MulBackward0 [620,700] (after mul, by a fwdbwd flow); stream 7: K1 [40,440] (from mm),
    # K2 [440,540] (from add), K3 [600,900] (from mul), K4 [900,950] (from MulBackward0).
    # mm 100 + K1 (440 - max(40, 100) = 340) + K2 100 + sync (560 - max(200, 540) = 20) + mul 40 + K3 300
    # + K4 50 = 950. Runners-up: via add instead of K1: 100 + 50 + 100 + 20 + 40 + 300 + 50 = 660;
    # skipping the sync and mul: 100 + 340 + 100 + 300 + 50 = 890; via MulBackward0: ... + 80 + 50 < 300 + 50.
    cp = rank.steps[0].critical_path
    got = [(s.lane, s.name, round(s.start_s / US), round(s.end_s / US)) for s in cp.segments]
    assert got == [
        ("main", "aten::mm", 0, 100),
        ("GPU 0 stream 7", "K1", 100, 440),
        ("GPU 0 stream 7", "K2", 440, 540),
        ("main", "cudaDeviceSynchronize", 540, 560),
        ("main", "aten::mul", 560, 600),
        ("GPU 0 stream 7", "K3", 600, 900),
        ("GPU 0 stream 7", "K4", 900, 950),
    ]
    assert cp.length_s == pytest.approx(950 * US)
    assert cp.span_s == pytest.approx(950 * US)
    assert cp.by_lane == pytest.approx(
        {"main": 160 * US, "GPU 0 stream 7": 790 * US}
    )  # 100+20+40; 340+100+300+50
    assert cp.by_category == pytest.approx({"compute": 930 * US, "sync": 20 * US})


# ---- the hand-written GPU trace --------------------------------------------------------------------------------
# Per 10 ms step (README.txt): host thread: DataLoader [0,3000], to [3000,3400], linear [3400,4400],
# relu [4400,4800], item [4800,7500] with cudaStreamSynchronize [5000,7400], Optimizer.step [7500,9000],
# untraced [9000,10000]. Stream 7: HtoD copy [3200,3600], GEMM [3700,6700], ReLU [6700,7200],
# DtoH copy [7200,7300], SGD kernel [8000,9500].
@pytest.fixture(scope="module")
def gpu_report():
    return analyze(load_trace(GPU_TRACE))


def test_gpu_trace_breakdown_per_lane(gpu_report) -> None:
    rank = gpu_report.ranks[0]
    assert rank.step_marker == "ProfilerStep#N"
    assert [s.name for s in rank.steps] == ["ProfilerStep#4", "ProfilerStep#5"]
    assert [s.duration_s for s in rank.steps] == pytest.approx([10e-3, 10e-3])
    host, stream = rank.lanes
    assert (host.lane, host.kind, stream.lane, stream.kind) == (
        "thread 4242 (python)",
        "cpu",
        "GPU 0 stream 7",
        "gpu",
    )
    ms = 1e-3
    # compute = to 400 + linear 1000 + relu 400 + item before the sync 200 + after it 100 = 2100
    assert host.seconds == pytest.approx(
        {
            "compute": 2.1 * ms,
            "data loading": 3 * ms,
            "optimizer": 1.5 * ms,
            "communication": 0,
            "memcpy": 0,
            "sync": 2.4 * ms,
            "idle": 1 * ms,
        }
    )
    # GEMM 3000 + ReLU 500; the SGD kernel is optimizer time (launched in Optimizer.step); copies 400 + 100
    assert stream.seconds == pytest.approx(
        {
            "compute": 3.5 * ms,
            "data loading": 0,
            "optimizer": 1.5 * ms,
            "communication": 0,
            "memcpy": 0.5 * ms,
            "sync": 0,
            "idle": 4.5 * ms,
        }
    )
    assert sum(host.seconds[c] for c in CATEGORIES) == pytest.approx(10 * ms)


def test_gpu_idle_share_and_attribution(gpu_report) -> None:
    rank = gpu_report.ranks[0]
    # busy 400 + 3000 + 500 + 100 + 1500 = 5500 of 10000
    assert rank.gpu_idle_share == pytest.approx({"GPU 0": 0.45})
    gpu = {i.cause: i.seconds_per_step for i in rank.idle if i.subject == "GPU 0"}
    # idle gaps [0,3200] [3600,3700] [7300,8000] [9500,10000]; the host meanwhile:
    # [0,3000] data loader; [3000,3200] aten::to + [3600,3700] addmm + [7400,7500] item + [7500,8000] optimizer
    # = 900 of CPU work; [7300,7400] in the sync; [9500,10000] untraced
    assert gpu == pytest.approx(
        {
            "waiting for data (host in the data loader)": 3000 * US,
            "waiting on the host (CPU work, op dispatch, kernel launches)": 900 * US,
            "waiting on the host (untraced host time: Python, I/O, sleep)": 500 * US,
            "synchronisation (host blocked on the device)": 100 * US,
        }
    )
    assert rank.stall_share == pytest.approx(0.30)  # 3000 of 10000: GPU idle while the host loads data
    assert [s.device_idle_s["GPU 0"] for s in rank.steps] == pytest.approx([4500 * US] * 2)


def test_gpu_findings_and_advice(gpu_report) -> None:
    rank = gpu_report.ranks[0]
    assert rank.cause == "data loading"
    # data 3000; host in syncs 2400; GPU idle while the host works or is untraced 900 + 500 = 1400
    assert [(f.cause, round(f.share, 6)) for f in rank.findings] == [
        ("data loading", 0.30),
        ("synchronisation", 0.24),
        ("GPU waiting on the host", 0.14),
    ]
    advice = " ".join(rank.findings[0].advice)
    assert "num_workers" in advice and "pin_memory=True" in advice  # single-process loader, pageable copies
    assert (
        "cudaStreamSynchronize" in rank.findings[1].message
        and "aten::_local_scalar_dense" in rank.findings[1].message
    )


def test_gpu_top_kernels(gpu_report) -> None:
    rank = gpu_report.ranks[0]
    got = [(k.name[:30], k.time_s, k.launched_by) for k in rank.top_kernels]
    assert [g[0] for g in got] == [
        "sm90_xmma_gemm_f32f32_f32f32_f",
        "void at::native::(anonymous na",
        "void at::native::vectorized_el",
        "Memcpy HtoD (Pageable -> Devic",
        "Memcpy DtoH (Device -> Pageabl",
    ]
    assert [g[1] for g in got] == pytest.approx([3000 * US, 1500 * US, 500 * US, 400 * US, 100 * US])
    assert [g[2] for g in got] == [
        "aten::addmm",
        "aten::_foreach_add_",
        "aten::clamp_min",
        "aten::copy_",
        "aten::_local_scalar_dense",
    ]
    assert rank.top_kernels[0].share == pytest.approx(0.30)
    assert rank.top_kernels[0].calls_per_step == 1
    # CPU ops by self time: the sync call 2400; _foreach_add_ 1200 - its launch 100 = 1100; addmm 800 - 100
    top = {o.name: o.time_s for o in rank.top_ops[:3]}
    assert top == pytest.approx(
        {"cudaStreamSynchronize": 2400 * US, "aten::_foreach_add_": 1100 * US, "aten::addmm": 700 * US}
    )


def test_gpu_critical_path(gpu_report) -> None:
    cp = gpu_report.ranks[0].critical_path
    # loader 3000 + to 400 + linear 1000 + GEMM (6700 - max(3700, 4400) = 2300) + ReLU 500 + DtoH 100
    # + sync (7400 - 7300 = 100) + item 100 + Optimizer.step 1500 + SGD kernel (9500 - 9000 = 500) = 9500.
    # Via the HtoD copy instead of linear: 400 + 200 + 3000 = 3600 < 400 + 1000 + 2300 = 3700.
    assert cp.length_s == pytest.approx(9500 * US)
    assert cp.by_lane == pytest.approx({"thread 4242 (python)": 6100 * US, "GPU 0 stream 7": 3400 * US})
    names = [s.name[:24] for s in cp.segments]
    assert names == [
        "enumerate(DataLoader)#_S",
        "aten::to",
        "aten::linear",
        "sm90_xmma_gemm_f32f32_f3",
        "void at::native::vectori",
        "Memcpy DtoH (Device -> P",
        "cudaStreamSynchronize",
        "aten::item",
        "Optimizer.step#SGD.step",
        "void at::native::(anonym",
    ]


def test_correlation_ids_link_launches_without_flow_events() -> None:
    data = json.loads(GPU_TRACE.read_text())
    data["traceEvents"] = [e for e in data["traceEvents"] if e.get("cat") != "ac2g"]
    rank = analyze(trace_from_dict(data)).ranks[0]
    assert [k.launched_by for k in rank.top_kernels][:2] == ["aten::addmm", "aten::_foreach_add_"]
    assert rank.lanes[1].seconds["optimizer"] == pytest.approx(1500 * US)
    assert rank.critical_path.length_s == pytest.approx(9500 * US)


def _mm_record() -> OpRecord:
    # addmm 4096x4096 @ 4096x4096 + bias: 2*M*N*K = 2 * 4096**3 = 137_438_953_472 FLOPs;
    # reads A, B (4096**2 * 4 B each) and the bias (4096 * 4 B), writes 4096**2 * 4 B
    return OpRecord(
        "aten.addmm.default",
        "fc",
        "forward",
        "matmul",
        137_438_953_472,
        68_719_476_736,
        134_234_112,
        67_108_864,
        ((4096,), (4096, 4096), (4096, 4096)),
        ("float32",) * 3,
    )


def test_static_costs_give_roofline_classes_from_the_gpus_nominal_peaks() -> None:
    records = [
        _mm_record(),
        # relu on 4096**2 floats: 1 FLOP per element, read and write 4096**2 * 4 B
        OpRecord(
            "aten.relu.default",
            "act",
            "forward",
            "pointwise",
            16_777_216,
            0,
            67_108_864,
            67_108_864,
            ((4096, 4096),),
            ("float32",),
        ),
    ]
    rank = analyze(load_trace(GPU_TRACE), static_records=records).ranks[0]
    costed = {c.name: c for c in rank.costed_ops}
    mm, relu = costed["aten::addmm"], costed["aten::relu"]
    assert mm.time_source == "device" and mm.time_s == pytest.approx(3000 * US)  # the GEMM kernel
    # 137_438_953_472 / 3e-3 s = 4.5813e13 FLOP/s; intensity 137_438_953_472 / 201_342_976 = 682.6 FLOP/B,
    # right of the H100 SXM ridge 66.9e12 / 3.35e12 = 19.97: compute-bound, 4.5813e13 / 66.9e12 = 68.5%
    assert mm.achieved_flops_per_s == pytest.approx(137_438_953_472 / 3e-3)
    assert mm.intensity == pytest.approx(137_438_953_472 / 201_342_976)
    assert mm.bound == "compute"
    assert mm.efficiency == pytest.approx(137_438_953_472 / 3e-3 / 66.9e12)
    # relu: 0.125 FLOP/B, attainable 0.125 * 3.35e12 = 4.1875e11; achieved 16_777_216 / 5e-4 = 3.355e10:
    # 8.0% of the roof, under 10%: below both roofs
    assert relu.bound == "below both roofs"
    assert relu.efficiency == pytest.approx(16_777_216 / 5e-4 / (0.125 * 3.35e12))
    gemm = rank.top_kernels[0]
    assert (gemm.costed_as, gemm.bound) == ("aten::addmm", "compute")
    assert gemm.efficiency == pytest.approx(mm.efficiency)
    assert rank.top_kernels[2].costed_as == "aten::relu"  # launched by clamp_min under relu
    assert any("nominal fp32" in n for n in rank.notes)


def test_profiler_name() -> None:
    assert profiler_name("aten.addmm.default") == "aten::addmm"
    assert profiler_name("aten._foreach_add_.List") == "aten::_foreach_add_"
    assert profiler_name("aten::mm") == "aten::mm"


# ---- steps, data loading, variation, stragglers ------------------------------------------------------------------
def test_time_between_step_ranges_belongs_to_the_step_before() -> None:
    loader = "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"
    data = trace(
        x("user_annotation", "nnperf.step", 0, 50),
        x("cpu_op", "aten::mm", 0, 50),
        x("user_annotation", loader, 50, 50),  # the loop fetches the next batch between the ranges
        x("user_annotation", "nnperf.step", 100, 50),
        x("cpu_op", "aten::mm", 100, 50),
        x("user_annotation", loader, 150, 50),
        x("user_annotation", "nnperf.step", 200, 50),
        x("cpu_op", "aten::mm", 200, 50),
    )
    rank = analyze(trace_from_dict(data)).ranks[0]
    assert rank.step_marker == "nnperf.step"
    assert [round(s.duration_s / US) for s in rank.steps] == [
        100,
        100,
        50,
    ]  # to the next start; last: its own
    assert [round(s.marker_s / US) for s in rank.steps] == [50, 50, 50]
    assert rank.stall_share == pytest.approx(100 / 250)  # two fetches of 50 over 250
    assert rank.cause == "data loading"
    assert "num_workers > 0" in rank.findings[0].advice[0]


def test_multiprocess_loader_advice_and_slow_first_step() -> None:
    loader = "enumerate(DataLoader)#_MultiProcessingDataLoaderIter.__next__"
    events = []
    for i, wait in enumerate((300, 50, 50)):
        t0 = i * 1000
        events += [
            x("user_annotation", f"ProfilerStep#{i}", t0, 1000),
            x("user_annotation", loader, t0, wait),
            x("cpu_op", "aten::mm", t0 + wait, 1000 - wait),
        ]
    rank = analyze(trace_from_dict(trace(*events))).ranks[0]
    assert rank.stall_share == pytest.approx(400 / 3000)
    advice = " ".join(rank.findings[0].advice)
    assert "prefetch_factor" in advice and "raise num_workers" in advice
    assert "persistent_workers=True" in advice  # the first step waited 300 > 2 x 50
    assert "pin_memory" not in advice  # no host-to-device copies in a CPU trace


def test_variation_names_the_slowest_step_and_what_grew() -> None:
    data = trace(
        x("cpu_op", "aten::mm", 0, 80),
        x("cpu_op", "aten::mm", 100, 80),
        x("cpu_op", "aten::mm", 200, 280),
        *(x("user_annotation", "nnperf.step", t, d) for t, d in ((0, 80), (100, 80), (200, 280))),
        threadName="ignored header key",
    )
    rank = analyze(trace_from_dict(data)).ranks[0]
    v = rank.variation
    # steps 100, 100, 280: mean 160; sample variance (60**2 + 60**2 + 120**2) / 2 = 10800
    assert (v.mean_s, v.median_s) == pytest.approx((160 * US, 100 * US))
    assert v.stdev_s == pytest.approx(10800**0.5 * US)
    assert v.cv == pytest.approx(10800**0.5 / 160)
    assert (v.slowest_step, v.slowest_ratio) == (2, pytest.approx(2.8))
    assert v.slowest_cause == "+200.0 us of compute on thread 1"  # 280 against the median step's 80
    lost = next(f for f in rank.findings if f.cause == "step-time variation")
    assert lost.share == pytest.approx(180 / 480)  # 280 - 100 of 480


def test_without_step_ranges_the_whole_trace_is_one_step() -> None:
    rank = analyze(
        trace_from_dict(trace(x("cpu_op", "aten::mm", 10, 30), x("cpu_op", "aten::add", 60, 40)))
    ).ranks[0]
    assert rank.step_marker == "(whole trace)"
    assert rank.steps[0].duration_s == pytest.approx(90 * US)  # from 10 to 100
    assert rank.lanes[0].seconds["idle"] == pytest.approx(20 * US)
    assert any("no step ranges" in n for n in rank.notes)


def test_sync_inside_the_optimizer_counts_as_sync() -> None:
    data = trace(
        x("user_annotation", "ProfilerStep#1", 0, 100),
        x("user_annotation", "Optimizer.step#Adam.step", 0, 100),
        x("cpu_op", "aten::_foreach_mul_", 0, 60),
        x("cuda_runtime", "cudaDeviceSynchronize", 60, 40),
    )
    lane = analyze(trace_from_dict(data)).ranks[0].lanes[0]
    assert (lane.seconds["optimizer"], lane.seconds["sync"]) == pytest.approx((60 * US, 40 * US))


def _rank_trace(rank: int, compute: int) -> dict[str, Any]:
    events = []
    for i in range(3):
        t0 = i * 30_500
        events += [
            x("user_annotation", f"ProfilerStep#{i}", t0, 30_500),
            x("cpu_op", "aten::mm", t0, compute),
            x("cpu_op", "c10d::allreduce_", t0 + compute, 30_500 - compute),
        ]
    return trace(*events, distributedInfo={"backend": "gloo", "rank": rank, "world_size": 2})


def test_straggler_across_ranks() -> None:
    report = analyze([trace_from_dict(_rank_trace(0, 20_000)), trace_from_dict(_rank_trace(1, 30_000))])
    # rank 0 works 20 ms and waits 10.5 ms in the allreduce; rank 1 works 30 ms and waits 0.5 ms.
    # median work (20 + 30) / 2 = 25 ms: ratios 0.8 and 1.2, over 1.10 for rank 1
    assert [(t.rank, round(t.work_s / US), round(t.communication_s / US)) for t in report.rank_times] == [
        (0, 20_000, 10_500),
        (1, 30_000, 500),
    ]
    assert [t.ratio for t in report.rank_times] == pytest.approx([0.8, 1.2])
    (straggler,) = report.stragglers
    assert "rank 1" in straggler.message
    assert straggler.seconds_per_step == pytest.approx(5_000 * US)
    assert report.ranks[0].cause == "communication"  # 10.5 of 30.5 ms
    assert report.ranks[0].label == "rank 0"
    with pytest.raises(UsageError, match="both rank 0"):
        analyze([trace_from_dict(_rank_trace(0, 1)), trace_from_dict(_rank_trace(0, 2))])


# ---- loading: truncated and foreign files ------------------------------------------------------------------------
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_trace(tmp_path / "nope.json")


def test_truncated_trace_missing_only_its_closing_brackets_is_recovered(tmp_path: Path) -> None:
    text = GPU_TRACE.read_text()
    body = text[: text.rindex("]")]  # cut before the closing "]" of traceEvents ...
    body = body[: body.rindex("}") + 1] + ",\n"  # ... after an event and its comma, as a writer would stop
    (tmp_path / "cut.json").write_text(body)
    t = load_trace(tmp_path / "cut.json")
    assert any("cut short" in w for w in t.warnings)
    assert len(t.events) == len(load_trace(GPU_TRACE).events)
    assert any("cut short" in w for w in analyze(t).warnings)


def test_trace_missing_only_its_last_brace_is_recovered(tmp_path: Path) -> None:
    text = GPU_TRACE.read_text()
    (tmp_path / "cut.json").write_text(text[: text.rindex("]") + 1])  # ends with the event list's "]"
    t = load_trace(tmp_path / "cut.json")
    assert any("closing '}' was missing" in w for w in t.warnings)


def test_trace_truncated_inside_an_event_is_an_error(tmp_path: Path) -> None:
    text = GPU_TRACE.read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(UsageError, match=r"not valid JSON .*truncated inside an event"):
        load_trace(tmp_path / "cut.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"model": "resnet50", "batch": 8}',
            "not a Chrome/Perfetto trace .no 'traceEvents'; its keys: batch, model",
        ),
        ('{"traceEvents": {"a": 1}}', "'traceEvents' is not a list"),
        ('{"traceEvents": [{"ph": "M", "name": "process_name", "pid": 1}]}', "no complete .'X'. events"),
        ("[1, 2, 3]", "not of trace events"),
        ('"text"', "not a Chrome/Perfetto trace .a str."),
        ("", "is empty"),
    ],
)
def test_foreign_json_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "foreign.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as info:
        load_trace(path)
    assert "\n" not in str(info.value)


def test_gzip_and_json_array_traces(tmp_path: Path) -> None:
    (tmp_path / "t.json.gz").write_bytes(gzip.compress(GPU_TRACE.read_bytes()))
    assert len(load_trace(tmp_path / "t.json.gz").events) == len(load_trace(GPU_TRACE).events)
    (tmp_path / "a.json").write_text(json.dumps([x("cpu_op", "aten::mm", 0, 10)]))
    assert [e.name for e in load_trace(tmp_path / "a.json").events] == ["aten::mm"]


# ---- report, CLI and views ---------------------------------------------------------------------------------------
def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nnperf")
    add_trace(parser.add_subparsers())
    return parser.parse_args(["trace", *argv])


def test_cli_table_json_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _cli(str(GPU_TRACE), "--steps", "--top", "3")
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "Cause: data loading (30% of the step time)" in out
    assert "GPU 0 stream 7" in out and "ProfilerStep#5" in out

    args = _cli(str(GPU_TRACE), "--format", "json")
    assert args.run(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == SCHEMA
    assert data["ranks"][0]["cause"] == "data loading"
    assert len(data["ranks"][0]["top_kernels"]) == 5

    args = _cli(str(GPU_TRACE), "--format", "html", "-o", str(tmp_path / "t.html"))
    assert args.run(args) == 0
    page = (tmp_path / "t.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "http" not in page  # self-contained: no external asset, no URL


def test_cli_errors(tmp_path: Path) -> None:
    args = _cli(str(GPU_TRACE), "--format", "html", "-o", str(tmp_path / "t.txt"))
    with pytest.raises(UsageError, match=r"ending in \.html"):
        args.run(args)
    args = _cli(str(tmp_path / "missing.json"))
    with pytest.raises(UsageError, match="not found"):
        args.run(args)


def test_trace_section_is_markdown(gpu_report) -> None:
    title, body = trace_section(gpu_report)
    assert title == "Trace analysis"
    assert body.startswith("### ")
    assert "| lane |" in body and "Cause: data loading" in body


def test_short_kernel_names() -> None:
    long = "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<" + "x" * 100 + ">(int)"
    assert short_name(long) == "at::native::multi_tensor_apply_kernel<...>"
    assert short_name("aten::mm") == "aten::mm"


def test_analysis_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, nnperf.analysis.trace, nnperf.cli.trace_cmd; print('torch' in sys.modules)"
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src}
    )
    assert out.stdout.strip() == "False", out.stderr


def test_a_gpu_trace_goes_under_the_gpu_roofs_of_a_profile_not_the_host_cpus() -> None:
    from nnperf.analysis.trace import trace_ceilings

    # a profile recorded on the GPU machine: CPU roofs of its host, and its GPU's measured section
    profile = {
        "measured": {
            "flops": {"fp32": 2e12},
            "bandwidth": {"dram": {"triad": 2e11}},
            "gpu": {"flops": {"fp32": 50e12}, "bandwidth": {"hbm": {"copy": 3.1e12, "triad": 3.0e12}}},
        }
    }
    gpu_trace = load_trace(GPU_TRACE)
    ceilings, level = trace_ceilings([gpu_trace], profile)
    assert level == "hbm"
    assert ceilings.peak("fp32").flops_per_s == 50e12 and ceilings.memory("hbm").bytes_per_s == 3.0e12
    assert ceilings.peak("fp32", "nominal").flops_per_s == 66.9e12  # H100 SXM spec sheet beside it
    rank = analyze(gpu_trace, static_records=[_mm_record()], ceilings=ceilings, memory_level=level).ranks[0]
    mm = {c.name: c for c in rank.costed_ops}["aten::addmm"]
    # 137_438_953_472 FLOPs in 3 ms = 4.5813e13 FLOP/s against the measured 50e12: 91.6%
    assert mm.efficiency == pytest.approx(137_438_953_472 / 3e-3 / 50e12)
    cpu_ceilings, cpu_level = trace_ceilings([], profile)  # no GPU in the traces: the profile's CPU roofs
    assert cpu_level == "dram" and cpu_ceilings.peak("fp32").flops_per_s == 2e12
