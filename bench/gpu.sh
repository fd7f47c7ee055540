#!/usr/bin/env bash
# adapt (CUDA backend) against PyTorch eager on BERT-base shapes, batch 32 x 128, bf16, in one run
# on one GPU: `bench/gpu.sh [ADAPT_GPU] [SECONDS]`. Modes: infer (encoder forward), adapter (a
# seq_bn adapter per layer + token head train, the encoder frozen), full (every tensor trains).
# adapt's inference and adapter training are also measured without the fused attention kernels
# (ADAPT_GPU_UNFUSED_ATTENTION=1: cuBLAS batched GEMMs around a softmax kernel), for comparison. Prints
# each measurement, then the ratios last (issue 9's targets: adapter >= 3x, infer >= 2x), against
# PyTorch's best of PYTORCH_REPS runs.
# A stage that fails prints why and the rest goes on.
ADAPT_GPU=${1:-build/adapt-gpu}
SECS=${2:-4}
PY=${PYTHON:-python3}
MODES=${MODES:-infer adapter full}
UNFUSED_MODES=${UNFUSED_MODES-infer adapter}   # also measured without the fused attention
declare -A A P
adapt_bench() { # mode [env...]
    local mode=$1 line
    shift
    line=$(env "$@" timeout 120 "$ADAPT_GPU" bench --mode "$mode" --seconds "$SECS" 2>&1 | tee /dev/stderr | grep '^bench ')
    sed -n 's/.*: \([0-9]*\) tokens\/s.*/\1/p' <<<"$line"
}
for mode in $MODES; do A[$mode]=$(adapt_bench "$mode"); done
for mode in $UNFUSED_MODES; do A[$mode-unfused]=$(adapt_bench "$mode" ADAPT_GPU_UNFUSED_ATTENTION=1); done
PYTORCH_REPS=${PYTORCH_REPS:-1}   # PyTorch's throughput moves by 10-20% between runs: its best counts
for mode in $MODES; do
    for ((rep = 0; rep < PYTORCH_REPS; rep++)); do
        line=$(timeout 180 "$PY" "$(dirname "$0")/gpu_pytorch.py" "$mode" "$SECS" 2>&1 | tee /dev/stderr | grep '^pytorch ')
        p=$(awk '{print $4}' <<<"$line")
        [[ -n $p && ${p:-0} -gt ${P[$mode]:-0} ]] && P[$mode]=$p
    done
done
P[infer-unfused]=${P[infer]:-}
P[adapter-unfused]=${P[adapter]:-}
echo "== adapt vs PyTorch eager (BERT-base, B32 x T128, bf16) =="
for mode in $MODES infer-unfused adapter-unfused; do
    [[ -z ${A[$mode]+x} ]] && continue
    a=${A[$mode]:-0} p=${P[$mode]:-0}
    if [[ $a -gt 0 && $p -gt 0 ]]; then
        awk -v m="$mode" -v a="$a" -v p="$p" 'BEGIN { printf "%-13s adapt %9.0f tok/s  pytorch %9.0f tok/s  ratio %.2fx\n", m, a, p, a / p }'
    else
        echo "$mode: adapt '${a}' pytorch '${p}' (a stage failed; see above)"
    fi
done
