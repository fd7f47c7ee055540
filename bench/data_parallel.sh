#!/usr/bin/env bash
# Data-parallel training throughput (not a test): one training job on the shipped base model
# (models/default) run as one process using every core (`adapt train`), then as N processes that
# share each batch (`mpirun -np N adapt-mpi train`, the cores divided among them), in the same
# run; prints seconds per step, tokens/s and the ratio. WikiANN-en training sentences, an NER
# adapter (or --method full with METHOD=full), batch 32, 128 tokens at most.
#   bench/data_parallel.sh [PROCESSES (default: the cores)]
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${ADAPT_SHARED:-$(cd .. && pwd)/shared}
BUILD=${BUILD:-build}
P=${1:-$(nproc)}
STEPS=${STEPS:-40}
METHOD=${METHOD:-adapter}
[[ "$P" =~ ^[1-9][0-9]*$ ]] || { echo "PROCESSES must be a positive integer, not '$P'" >&2; exit 2; }
[ -x "$BUILD/adapt" ] && [ -x "$BUILD/adapt-mpi" ] || make -s "$BUILD/adapt" "$BUILD/adapt-mpi"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
xzcat -f "$SHARED/data/ner/wikiann-en/train.conll" | awk 'BEGIN { n = 0 } /^$/ { n++ } n < 4000' > "$WORK/train.conll"
args=(train --task ner --model models/default --train "$WORK/train.conll" --method "$METHOD" --batch-size 32
      --max-length 128 --max-steps "$STEPS" --lr 1e-4 --seed 1 --quiet)
# root allowed; processes on this machine only (no ssh needed)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm=isolated
"$BUILD/adapt" "${args[@]}" --output "$WORK/one" >/dev/null
mpirun --oversubscribe --bind-to none -np "$P" "$BUILD/adapt-mpi" "${args[@]}" --output "$WORK/many" >/dev/null
spstep() { sed -n 's/.*"seconds_per_step": \([0-9.]*\).*/\1/p' "$1/summary.json"; }
one=$(spstep "$WORK/one"); many=$(spstep "$WORK/many")
printf 'data-parallel %s training, %d steps of 32 sentences, models/default, %d cores\n' "$METHOD" "$STEPS" "$(nproc)"
printf '%-34s %12s %10s\n' run "s/step" "sent/s"
printf '%-34s %12s %10s\n' "adapt, 1 process x $(nproc) threads" "$one" "$(awk -v s="$one" 'BEGIN { printf "%.1f", 32 / s }')"
printf '%-34s %12s %10s\n' "adapt-mpi, $P processes" "$many" "$(awk -v s="$many" 'BEGIN { printf "%.1f", 32 / s }')"
printf 'ratio (one process time / %d processes time): %s\n' "$P" "$(awk -v a="$one" -v b="$many" 'BEGIN { printf "%.2fx", a / b }')"
printf 'final loss: one process %s, %d processes %s\n' "$(tail -1 "$WORK/one/losses.tsv" | cut -f2 | cut -c1-8)" "$P" \
  "$(tail -1 "$WORK/many/losses.tsv" | cut -f2 | cut -c1-8)"
