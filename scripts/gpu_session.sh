#!/usr/bin/env bash
# Every GPU-side check the open issues ask for, in one run on the `device` machine (about 6-8 minutes):
#
#     run(command="bash scripts/gpu_session.sh $OUT", timeout_s=600)
#
# then copy what comes back under $OUT into tests/data/gpu/ (see tests/data/gpu/README.txt) and commit it.
# Each step has its own time limit and log, and a failing step never stops the others: whatever was measured
# comes back. Uses the machine's own python3 and torch, with nnperf from this checkout (PYTHONPATH=src).
# DEVICE=cpu rehearses the commands on a machine without a GPU (the GPU-only steps then fail cleanly).
set -u
OUT=${1:?usage: bash scripts/gpu_session.sh OUTDIR}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-32}
mkdir -p "$OUT"/bench "$OUT"/traces "$OUT"/scale
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

step() {  # step NAME LIMIT_S COMMAND...: run with a limit, keep its log, record rc and seconds
    local name=$1 limit=$2 start rc
    shift 2
    echo "== $name (limit ${limit} s): $*"
    start=$(date +%s)
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    echo "$name rc=$rc $(($(date +%s) - start)) s" | tee -a "$OUT/steps.txt"
    tail -n 8 "$OUT/$name.log"
}

{
    date -u
    nvidia-smi || true
    ncu --version || echo "no ncu on PATH"
    "$PY" -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda,
'device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)"
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# issue 3: the GPU section of the machine profile (launch overhead, copies, device STREAM, GEMM per dtype)
step machine 150 "$PY" scripts/gpu_check.py "$OUT/machine"
PROFILE=$(ls "$OUT"/machine/machine_profile_*.json 2>/dev/null | head -n 1)

# issues 4 and 8: a CUDA training step with events, memory, counted FLOPs, the profiler and its trace
step bench_resnet18_train 120 "$PY" -m nnperf bench resnet18 --device "$DEVICE" -b "$BATCH" --mode train \
    --iters 20 --profile --trace "$OUT/traces/resnet18_train_$DEVICE.json" --format json \
    -o "$OUT/bench/resnet18_train_$DEVICE.json"
# issue 4: a transformer in bf16 (inference), another dtype and family on the CUDA path
step bench_gpt2_bf16 90 "$PY" -m nnperf bench gpt2 --device "$DEVICE" --seq 128 -b 8 --dtype bf16 \
    --format json -o "$OUT/bench/gpt2_infer_bf16_$DEVICE.json"
# nnperf predict: the same training step projected onto this GPU's measured roofs (and its spec sheet), to set
# beside the measured step of bench/resnet18_train (a prediction is a lower bound: measured / estimate >= 1)
step predict 60 sh -c "\"$PY\" -m nnperf predict resnet18 --mode train -b $BATCH \
    --on ${PROFILE:+$PROFILE:gpu,}h100-sxm5-80gb --format json > \"$OUT/bench/resnet18_train_predict.json\""
# a whole generation on the GPU (time to first token, per output token) beside its estimate at the measured roofs
step generation 120 "$PY" -m nnperf bench gpt2 --device "$DEVICE" --dtype bf16 --prompt 256 --generate 64 \
    --batch 8 --format json -o "$OUT/bench/gpt2_generation_bf16_$DEVICE.json"
# issue 8: the recorded GPU trace analysed with its static costs (GPU idle share, top kernels)
step trace 90 "$PY" -m nnperf trace "$OUT/traces/resnet18_train_$DEVICE.json" --model resnet18 -b "$BATCH" \
    --mode train ${PROFILE:+--machine "$PROFILE"} --format json -o "$OUT/traces/resnet18_train_${DEVICE}_analysis.json"
# issues 4 and 5: Nsight Compute sass FLOPs, tensor-pipe instructions, and L1/L2/HBM bytes per op
step ncu 200 "$PY" -m nnperf bench resnet18 --device "$DEVICE" -b 8 --ncu --ncu-out "$OUT/ncu"
# issue 5: the hierarchical roofline of that recording, under the roofs just measured
step hierarchical 60 "$PY" -m nnperf roofline --ncu "$OUT/ncu" ${PROFILE:+--machine "$PROFILE"} \
    -o "$OUT/ncu/hierarchical_roofline.png"
# issue 7: DDP through torchrun with NCCL (one GPU: world size 1; the all-reduce still runs through NCCL)
step ddp_nccl 120 "$PY" -m nnperf scale mnist-cnn --ddp 1 --device "$DEVICE" -b 64 --iters 20 \
    --format json --record "$OUT/scale/ddp_nccl_mnist.json"

echo "== done"
cat "$OUT/steps.txt"
