#!/usr/bin/env bash
# adapt (CUDA backend) against PyTorch eager on BERT-base shapes, batch 32 x 128, in one run on one
# GPU: `bench/gpu.sh [ADAPT_GPU] [SECONDS]`. Prints each measurement, then the ratios last.
# A stage that fails prints why and the rest goes on.
ADAPT_GPU=${1:-build/adapt-gpu}
SECS=${2:-4}
PY=${PYTHON:-python3}
declare -A A P
for mode in infer full; do
    line=$(timeout 120 "$ADAPT_GPU" bench --mode "$mode" --seconds "$SECS" 2>&1 | tee /dev/stderr | grep '^bench ')
    A[$mode]=$(sed -n 's/.*: \([0-9]*\) tokens\/s.*/\1/p' <<<"$line")
done
for mode in infer full; do
    line=$(timeout 180 "$PY" "$(dirname "$0")/gpu_pytorch.py" "$mode" "$SECS" 2>&1 | tee /dev/stderr | grep '^pytorch ')
    P[$mode]=$(awk '{print $4}' <<<"$line")
done
echo "== adapt vs PyTorch eager (BERT-base, B32 x T128, bf16) =="
for mode in infer full; do
    a=${A[$mode]:-0} p=${P[$mode]:-0}
    if [[ $a -gt 0 && $p -gt 0 ]]; then
        awk -v m="$mode" -v a="$a" -v p="$p" 'BEGIN { printf "%-6s adapt %9.0f tok/s  pytorch %9.0f tok/s  ratio %.2fx\n", m, a, p, a / p }'
    else
        echo "$mode: adapt '${a}' pytorch '${p}' (a stage failed; see above)"
    fi
done
echo "adapter: not measured (adapter kernels on the GPU are not implemented yet)"
