#!/usr/bin/env bash
# adapt against PyTorch on the same machine, in the same run: `adapt bench` and bench/vs_pytorch.py
# (the same model in plain torch) alternate, REPS times per mode, so that load changes hit both.
# PyTorch runs in its fastest settings here: fp32 through Debian's OpenMP OpenBLAS with the
# AVX-512 kernels forced (the VM hides the CPU model; adapt picks them itself), TorchScript for
# inference when faster; bf16 under autocast (oneDNN) when BF16=1, against `adapt bench --dtype
# bf16` (weight-only bf16: frozen weights stored as bf16, widened to fp32 for sgemm; bf16 GEMMs
# measured slower than fp32 on CPUs without AMX, see docs/performance.md and bench/bf16_gemm.c).
# Installs Debian's python3-torch when missing. Not part of `make test` (minutes, needs torch).
#   PRESETS="bert-base default" MODES="infer adapter full" REPS=3 STEPS=5 THREADS=2 BF16=0 bench/vs_pytorch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PRESETS=${PRESETS:-bert-base default}
MODES=${MODES:-infer adapter full}
REPS=${REPS:-3}
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
BATCH=${BATCH:-8}
SEQ=${SEQ:-128}
BF16=${BF16:-0}
PY=/usr/bin/python3
ADAPT=${ADAPT:-build/adapt}

if ! $PY -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (Debian)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch >&2
fi
[ -x "$ADAPT" ] || make -j"$(nproc)" >&2

BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
CORE=$(grep -q avx512bw /proc/cpuinfo && echo SkylakeX || echo Haswell)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run_adapt() { OMP_NUM_THREADS=$THREADS "$ADAPT" bench --preset "$1" --mode "$2" --dtype "$3" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup "$WARMUP" --json; }
run_torch() {
  LD_LIBRARY_PATH=$BLAS OPENBLAS_CORETYPE=$CORE OMP_NUM_THREADS=$THREADS $PY bench/vs_pytorch.py --preset "$1" --mode "$2" \
    --dtype "$3" --batch "$BATCH" --seq "$SEQ" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS"
}

for preset in $PRESETS; do
  for mode in $MODES; do
    for rep in $(seq "$REPS"); do
      echo "$preset $mode rep $rep" >&2
      echo "adapt fp32 $(run_adapt "$preset" "$mode" fp32)" >> "$out"
      echo "torch fp32 $(run_torch "$preset" "$mode" fp32)" >> "$out"
      if [ "$BF16" = 1 ] && [ "$mode" != full ]; then
        echo "adapt bf16 $(run_adapt "$preset" "$mode" bf16)" >> "$out"
        echo "torch bf16 $(run_torch "$preset" "$mode" bf16)" >> "$out"
      fi
    done
  done
done

$PY - "$out" "$PRESETS" "$MODES" <<'PYEOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    impl, dtype, js = line.split(" ", 2)
    j = json.loads(js)
    rows.setdefault((impl, dtype, j["preset"], j["mode"]), []).append(j)
def med(key, field):
    return statistics.median(r[field] for r in rows[key]) if key in rows else None
print(f"{'preset':10} {'mode':8} {'adapt tok/s':>12} {'torch tok/s':>12} {'ratio':>6} {'adapt bf16':>11} {'torch bf16':>11} {'adapt RSS':>10} {'torch RSS':>10}  sgemm%")
ratios, bf16_ratios, rss = {}, {}, {}
for preset in sys.argv[2].split():
    for mode in sys.argv[3].split():
        a, t, b = med(("adapt", "fp32", preset, mode), "tokens_per_s"), med(("torch", "fp32", preset, mode), "tokens_per_s"), med(("torch", "bf16", preset, mode), "tokens_per_s")
        ab = med(("adapt", "bf16", preset, mode), "tokens_per_s")
        if ab and b: bf16_ratios[(preset, mode)] = ab / b
        ar, tr = med(("adapt", "fp32", preset, mode), "peak_rss_mb"), med(("torch", "fp32", preset, mode), "peak_rss_mb")
        share = med(("adapt", "fp32", preset, mode), "ceiling_share")
        ratios[(preset, mode)] = a / t
        rss[(preset, mode)] = ar / tr
        print(f"{preset:10} {mode:8} {a:12.1f} {t:12.1f} {a / t:6.2f} {ab if ab else float('nan'):11.1f} {b if b else float('nan'):11.1f} {ar:10.0f} {tr:10.0f}  {100 * share:5.1f}")
p = sys.argv[2].split()[0]
f = lambda m, r=ratios: f"{r[(p, m)]:.2f}" if (p, m) in r else "n/a"
g = lambda m: f(m, bf16_ratios)  # adapt bf16 weights / torch bf16 autocast
print(f"ratio fp32: infer={f('infer')} adapter={f('adapter')} full={f('full')}; bf16: infer={g('infer')} adapter={g('adapter')}; "
      f"rss={rss.get((p, 'adapter'), float('nan')):.2f}")
ad, fu = med(("adapt", "fp32", p, "adapter"), "step_ms"), med(("adapt", "fp32", p, "full"), "step_ms")
if ad and fu:  # same batch: the step-time ratio of the two training modes
    print(f"adapt step time adapter/full ({p}): {ad / fu:.2f}")
PYEOF
