#!/usr/bin/env bash
# Kill-and-resume test of `adapt train --checkpoint-every N --resume` (issue 8).
#
# Builds a tiny model (BPE tokenizer of 400 tokens, RoBERTa with hidden 32, 2 layers) and a tiny
# NER task (60 WikiANN sentences, 30 for dev), trains once without interruption (the reference),
# then trains the same run again, killing it with SIGKILL at a random moment KILLS times and
# resuming it with --resume each time. After each kill the last checkpoint must load
# (--check-checkpoint) and must not go backwards; at the end OUT/losses.tsv (every step's loss at
# full precision), the final checkpoint and the best adapter must equal the reference's bit for bit.
#
# usage: scripts/kill-resume-test.sh [-k KILLS (20)] [-s STEPS (90)] [-c CHECKPOINT_EVERY (3)]
#                                    [-r SEED for the kill moments] [-o REPORT.tsv]
# env: BUILD (build), ADAPT_SHARED (../shared), OMP_NUM_THREADS (1 unless set)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$here/$BUILD ;; esac
adapt=$BUILD/adapt
shared=${ADAPT_SHARED:-$here/../shared}
kills=20 steps=90 every=3 seed=$$ report=
while getopts k:s:c:r:o: opt; do
  case $opt in
    k) kills=$OPTARG ;; s) steps=$OPTARG ;; c) every=$OPTARG ;; r) seed=$OPTARG ;; o) report=$OPTARG ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
  esac
done
# One thread: the losses are reproducible at any fixed thread count (static OpenMP schedules), but
# one thread keeps the test from competing with other work for the cores.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
RANDOM=$seed
[ -x "$adapt" ] || { echo "kill-resume: $adapt not built" >&2; exit 2; }
work=$(mktemp -d /tmp/adapt-kill-resume.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

head -n 300 "$shared/data/text/en.txt" > en.txt
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=60' "$shared/data/ner/wikiann-en/train.conll" > train.conll
awk 'BEGIN{RS=""; ORS="\n\n"} NR<=30' "$shared/data/ner/wikiann-en/dev.conll" > dev.conll
"$adapt" tokenizer train --type bpe --vocab-size 400 --output tok en.txt > setup.log 2>&1
cat > config.json <<'EOF'
{"model_type": "roberta", "architectures": ["RobertaForMaskedLM"], "hidden_size": 32, "num_hidden_layers": 2,
 "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 400, "max_position_embeddings": 66,
 "type_vocab_size": 1, "pad_token_id": 1, "layer_norm_eps": 1e-5, "hidden_act": "gelu"}
EOF
"$adapt" init-model --config config.json --tokenizer tok/tokenizer.json --output base >> setup.log 2>&1

args=(train --task ner --model base --train train.conll --dev dev.conll --name ner --max-steps "$steps"
      --batch-size 4 --max-length 48 --lr 5e-3 --eval-every 10 --checkpoint-every "$every" --seed 7 --quiet)

ms() { date +%s%3N; }
t=$(ms)
"$adapt" "${args[@]}" --output ref > ref.log 2>&1
ref_ms=$(( $(ms) - t ))
t=$(ms)
"$adapt" "${args[@]}" --output ref --check-checkpoint > check-ref.log 2>&1
start_ms=$(( $(ms) - t ))
# kill moments: uniform in [0, startup + 3 x run / kills), so that the kills spread over the whole run
window=$(( start_ms + 3 * ref_ms / (2 * kills) + 1 ))
echo "reference: $steps steps in $ref_ms ms, startup $start_ms ms (OMP_NUM_THREADS=$OMP_NUM_THREADS); kills within $window ms of each start"

ckpt_step() { sed -n 's/^\t"step":\t\([0-9]*\),$/\1/p' run/checkpoint/state.json 2>/dev/null || true; }
[ -n "$report" ] && printf 'kill\tdelay_ms\tcheckpoint_step\tloads\n' > "$report"
last=0 killed=0 finished_early=0
for ((k = 1; k <= kills; k++)); do
  # a random moment: startup, a step, an evaluation, a checkpoint write
  delay=$(( (RANDOM * 32768 + RANDOM) % window ))
  "$adapt" "${args[@]}" --output run --resume > "run-$k.log" 2>&1 &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); else finished_early=$((finished_early + 1)); fi
  wait "$pid" 2>/dev/null || true
  step=$(ckpt_step)
  loads=none
  if [ -n "$step" ]; then
    if "$adapt" "${args[@]}" --output run --check-checkpoint > "check-$k.log" 2>&1; then loads=yes; else loads=NO; fi
  fi
  printf 'kill %2d after %4d ms: checkpoint step %s, loads: %s\n' "$k" "$delay" "${step:--}" "$loads"
  [ -n "$report" ] && printf '%d\t%d\t%s\t%s\n' "$k" "$delay" "${step:--}" "$loads" >> "$report"
  if [ "$loads" = NO ]; then cat "check-$k.log"; echo "FAIL: the checkpoint after kill $k does not load"; exit 1; fi
  if [ -n "$step" ] && [ "$step" -lt "$last" ]; then echo "FAIL: the checkpoint went back from step $last to $step"; exit 1; fi
  last=${step:-0}
done
"$adapt" "${args[@]}" --output run --resume > final.log 2>&1 || { cat final.log; echo "FAIL: the final resume failed"; exit 1; }
ok=1
cmp -s ref/losses.tsv run/losses.tsv || { ok=0; echo "FAIL: losses.tsv differs from the reference"; diff ref/losses.tsv run/losses.tsv | head; }
cmp -s ref/checkpoint/tensors.safetensors run/checkpoint/tensors.safetensors || { ok=0; echo "FAIL: the final weights and moments differ"; }
cmp -s ref/best/ner/adapter.safetensors run/best/ner/adapter.safetensors || { ok=0; echo "FAIL: the best adapter differs"; }
[ "$(wc -l < run/losses.tsv)" -eq "$steps" ] || { ok=0; echo "FAIL: losses.tsv has $(wc -l < run/losses.tsv) lines, not $steps"; }
echo "$kills runs: $killed killed with SIGKILL, $finished_early finished before the kill; the last checkpoint loaded after every kill"
[ $ok = 1 ] || exit 1
echo "PASS: $steps losses, the final weights, moments and best adapter equal the uninterrupted run bit for bit"
