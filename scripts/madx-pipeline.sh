#!/usr/bin/env bash
# Reproduces the shipped MAD-X adapters from raw data (what `adapt demo quechua-ner --retrain` runs):
#   1. language adapters (MLM, seq_bn_inv: Pfeiffer + NICE invertible adapter, reduction factor 2)
#      on English and Quechua text, the shipped base model frozen;
#   2. the NER task adapter (seq_bn, reduction factor 16) + tagging head on WikiANN English, trained
#      over the language adapters in turn: Stack(en, ner) and Stack(qu, ner) (docs/madx.md says why);
#   3. self-training (scripts/madx-self-train.sh): that setup tags raw Quechua text, the confident
#      and case-plausible tags become silver data, and the task adapter is trained again on English
#      + silver Quechua, over both language adapters;
#   4. copies the best checkpoints (English dev entity F1 / held-out MLM loss) to models/adapters/.
# The base model itself (models/default) needs a GPU to pretrain: see models/default/README.md.
# Data: ../shared/data when present, else the copies in data/. Budgets: language adapters 720 steps
# (or MADX_LANG_SECONDS, 2400) each, the two at the same time; MADX_TASK_SECONDS (1500) for the
# first task adapter and MADX_SELF_TRAIN_SECONDS (1200) for the second.
source "$(dirname "$0")/madx-env.sh"
WORK=${MADX_WORK:-build/madx}
LANG_S=${MADX_LANG_SECONDS:-2400}
TASK_S=${MADX_TASK_SECONDS:-1500}
MODEL=models/default
mkdir -p "$WORK"
lang() { # NAME TEXT
  OMP_NUM_THREADS=1 "$ADAPT" train --task mlm --model "$MODEL" --train "$2" --output "$WORK/lang-$1" --name "$1" \
    --adapter-config "seq_bn_inv[reduction_factor=2]" --batch-size 32 --max-length 128 --lr 1e-3 --warmup 0.05 \
    --max-steps 720 --max-seconds "$LANG_S" --eval-every 100 --seed 7
}
echo "== 1. language adapters (en, qu), 720 steps (at most ${LANG_S}s) each, in parallel"
lang en "$EN" > "$WORK/lang-en.log" 2>&1 &
pid_en=$!
lang qu "$QU" 2>&1 | tee "$WORK/lang-qu.log"
wait $pid_en || { cat "$WORK/lang-en.log"; exit 1; }
tail -n 2 "$WORK/lang-en.log"
echo "== 2. NER task adapter over Stack(en, ner) / Stack(qu, ner), ${TASK_S}s"
"$ADAPT" train --task ner --model "$MODEL" --train "$NER_TRAIN" --dev "$NER_DEV" --output "$WORK/ner" --name ner \
  --load-adapter "$WORK/lang-en/best/en" --load-adapter "$WORK/lang-qu/best/qu" \
  --setup "Stack(en, ner);Stack(qu, ner)" --adapter-config "seq_bn[reduction_factor=16]" \
  --batch-size 32 --max-length 128 --lr 1e-3 --epochs 3 --eval-every 250 --max-dev-examples 2000 \
  --max-seconds "$TASK_S" --seed 7
echo "== 3. self-training on raw Quechua text"
mkdir -p "$WORK/teacher"
rm -rf "$WORK/teacher/"*
cp -r "$WORK/lang-en/best/en" "$WORK/lang-qu/best/qu" "$WORK/ner/best/ner" "$WORK/teacher/"
SELF_TRAIN_ADAPTERS="$WORK/teacher" SELF_TRAIN_WORK="$WORK/self-train" \
  SELF_TRAIN_SECONDS="${MADX_SELF_TRAIN_SECONDS:-1200}" bash scripts/madx-self-train.sh
echo "== 4. install into models/adapters"
mkdir -p models/adapters
for a in en qu; do rm -rf "models/adapters/$a"; cp -r "$WORK/lang-$a/best/$a" "models/adapters/$a"; done
rm -rf models/adapters/ner && cp -r "$WORK/self-train/ner/best/ner" models/adapters/ner
cp "$WORK"/lang-en/summary.json models/adapters/en/training_summary.json
cp "$WORK"/lang-qu/summary.json models/adapters/qu/training_summary.json
cp "$WORK"/self-train/ner/summary.json models/adapters/ner/training_summary.json
echo "done: models/adapters/{en,qu,ner}"
