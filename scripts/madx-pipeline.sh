#!/usr/bin/env bash
# Reproduces the shipped MAD-X adapters from raw data (what `adapt demo quechua-ner --retrain` runs):
#   1. language adapters (MLM, seq_bn_inv: Pfeiffer + NICE invertible adapter, reduction factor 2)
#      on English, Spanish and Quechua text, the shipped base model frozen (the Spanish one is
#      shipped for compositions; the NER task adapter does not use it);
#   2. the NER task adapter (seq_bn, reduction factor 16) + tagging head on WikiANN English, trained
#      over the language adapters in turn: Stack(en, ner) and Stack(qu, ner) (docs/madx.md says why);
#   3. self-training (scripts/madx-self-train.sh), MADX_SELF_TRAIN_ROUNDS (2) rounds: the setup tags
#      raw Quechua text, the confident and plausible tags become silver data, and the task adapter
#      is trained again on English + silver Quechua; the next round's teacher is this round's
#      student. The teachers' rounds train both data over both language adapters in turn; the last
#      round routes English through Stack(en, ner) and the silver Quechua through Stack(qu, ner),
#      so that the shipped task adapter reads Quechua through the Quechua adapter, and adds
#      WikiANN-style fragments (titles) of the silver sentences to the silver data;
#   4. copies the best checkpoints (English dev entity F1 / held-out MLM loss) to models/adapters/.
# The base model itself (models/default) needs a GPU to pretrain: see models/default/README.md.
# Data: ../shared/data when present, else the copies in data/. Budgets: language adapters 720 steps
# (or MADX_LANG_SECONDS, 2400) each, one thread each: English then Spanish beside Quechua; MADX_TASK_SECONDS (1500) for the
# first task adapter and MADX_SELF_TRAIN_SECONDS (1500) for each self-trained one.
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
echo "== 1. language adapters (en then es, beside qu), 720 steps (at most ${LANG_S}s) each"
{ lang en "$EN" > "$WORK/lang-en.log" 2>&1 && lang es "$ES" > "$WORK/lang-es.log" 2>&1; } &
pid_en_es=$!
lang qu "$QU" 2>&1 | tee "$WORK/lang-qu.log"
wait $pid_en_es || { cat "$WORK/lang-en.log" "$WORK/lang-es.log" 2>/dev/null; exit 1; }
tail -n 2 "$WORK/lang-en.log" "$WORK/lang-es.log"
echo "== 2. NER task adapter over Stack(en, ner) / Stack(qu, ner), ${TASK_S}s"
"${TRAIN[@]}" train --task ner --model "$MODEL" --train "$NER_TRAIN" --dev "$NER_DEV" --output "$WORK/ner" --name ner \
  --load-adapter "$WORK/lang-en/best/en" --load-adapter "$WORK/lang-qu/best/qu" \
  --setup "Stack(en, ner);Stack(qu, ner)" --adapter-config "seq_bn[reduction_factor=16]" \
  --batch-size 32 --max-length 128 --lr 1e-3 --epochs 3 --eval-every 250 --max-dev-examples 2000 \
  --max-seconds "$TASK_S" --seed 7
ROUNDS=${MADX_SELF_TRAIN_ROUNDS:-2}
student=$WORK/ner/best/ner
for round in $(seq 1 "$ROUNDS"); do
  echo "== 3.$round self-training on raw Quechua text, round $round of $ROUNDS"
  mkdir -p "$WORK/teacher-$round"
  rm -rf "$WORK/teacher-$round/"*
  cp -r "$WORK/lang-en/best/en" "$WORK/lang-qu/best/qu" "$student" "$WORK/teacher-$round/"
  last=$([ "$round" = "$ROUNDS" ] && echo 1 || echo 0)
  SELF_TRAIN_ADAPTERS="$WORK/teacher-$round" SELF_TRAIN_WORK="$WORK/self-train-$round" \
    SELF_TRAIN_ROUTE=$last SELF_TRAIN_FRAGMENTS=$last SELF_TRAIN_SECONDS="${MADX_SELF_TRAIN_SECONDS:-1500}" bash scripts/madx-self-train.sh
  student=$WORK/self-train-$round/ner/best/ner
done
echo "== 4. install into models/adapters"
mkdir -p models/adapters
for a in en es qu; do rm -rf "models/adapters/$a"; cp -r "$WORK/lang-$a/best/$a" "models/adapters/$a"; done
rm -rf models/adapters/ner && cp -r "$student" models/adapters/ner
cp "$WORK"/lang-en/summary.json models/adapters/en/training_summary.json
cp "$WORK"/lang-es/summary.json models/adapters/es/training_summary.json
cp "$WORK"/lang-qu/summary.json models/adapters/qu/training_summary.json
cp "$student/../../summary.json" models/adapters/ner/training_summary.json
cp "$student/../../curve.svg" models/adapters/ner/training_curve.svg
echo "done: models/adapters/{en,es,qu,ner}"
