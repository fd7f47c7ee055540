#!/usr/bin/env bash
# Self-training on raw Quechua text (docs/madx.md, "Self-training"): the shipped setup tags qu.txt,
# the confident and plausible sentences become silver training data, and a new task adapter is
# trained on English WikiANN + that silver data over both language adapters, as the shipped one is.
#   1. tag every Quechua sentence but a held-out tail with Stack(qu, ner) and --scores;
#   2. keep a sentence when it has 4-40 words, every tag's probability is >= MIN_SCORE, and every
#      entity starts with a capital letter (Quechua writes names capitalised, like English); keep
#      as many entity-free sentences as sentences with entities;
#   3. train the student task adapter on English + silver (the teacher's recipe, same budget);
#   4. report, on the held-out Quechua tail (no labels): entities per sentence, mean tag
#      probability and the share of entities that start lower-case, for teacher and student; and
#      English dev entity F1 with each language adapter.
# No Quechua labels are used. Budget: SELF_TRAIN_SECONDS (1500). Output in build/self-train/.
source "$(dirname "$0")/madx-env.sh"
WORK=${SELF_TRAIN_WORK:-build/self-train}
ADAPTERS=${SELF_TRAIN_ADAPTERS:-models/adapters}
MIN_SCORE=${MIN_SCORE:-0.9}
HELD_OUT=${HELD_OUT:-2000}
SECONDS_BUDGET=${SELF_TRAIN_SECONDS:-1500}
MODEL=models/default
mkdir -p "$WORK"
LOAD="--load-adapter $ADAPTERS/en --load-adapter $ADAPTERS/qu"

echo "== 1. tag Quechua text with the teacher, Stack(qu, ner)"
xzcat -f "$QU" | grep -v '^[[:space:]]*$' > "$WORK/qu-all.txt"
total=$(wc -l < "$WORK/qu-all.txt")
head -n $((total - HELD_OUT)) "$WORK/qu-all.txt" > "$WORK/qu-train.txt"
tail -n "$HELD_OUT" "$WORK/qu-all.txt" > "$WORK/qu-heldout.txt"
"$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ADAPTERS/ner" --setup "Stack(qu, ner)" \
  --input "$WORK/qu-train.txt" --format text --output "$WORK/qu-teacher.conll" --scores

echo "== 2. keep confident, plausible sentences (tag probability >= $MIN_SCORE)"
awk -v min="$MIN_SCORE" -v out="$WORK/silver.conll" '
  function flush(   i, ok, ents) {
    if (n == 0) return
    ok = (n >= 4 && n <= 40); ents = 0
    for (i = 1; ok && i <= n; i++) {
      if (score[i] + 0 < min) ok = 0
      if (tag[i] ~ /^B-/ || (tag[i] ~ /^I-/ && (i == 1 || substr(tag[i - 1], 3) != substr(tag[i], 3)))) {
        ents++
        if (word[i] !~ /^[[:upper:]ÁÉÍÓÚÑ]/) ok = 0
      }
    }
    if (ok && (ents > 0 || kept_o < kept_e)) {
      for (i = 1; i <= n; i++) print word[i] "\t" tag[i] > out
      print "" > out
      if (ents > 0) kept_e++; else kept_o++
    }
    n = 0
  }
  BEGIN { FS = "\t"; n = 0; kept_e = 0; kept_o = 0 }
  NF == 0 { sentences++; flush(); next }
  { n++; word[n] = $1; tag[n] = $2; score[n] = $3 }
  END { flush(); printf "%d sentences tagged, kept %d with entities and %d without\n", sentences, kept_e, kept_o }
' "$WORK/qu-teacher.conll"

echo "== 3. student task adapter: English + silver Quechua, over Stack(en, ner) / Stack(qu, ner), ${SECONDS_BUDGET}s"
xzcat -f "$NER_TRAIN" > "$WORK/train-mixed.conll"
printf '\n' >> "$WORK/train-mixed.conll"
cat "$WORK/silver.conll" >> "$WORK/train-mixed.conll"
"$ADAPT" train --task ner --model "$MODEL" --train "$WORK/train-mixed.conll" --dev "$NER_DEV" --output "$WORK/ner" --name ner \
  $LOAD --setup "Stack(en, ner);Stack(qu, ner)" --adapter-config "seq_bn[reduction_factor=16]" \
  --batch-size 32 --max-length 128 --lr 1e-3 --epochs 3 --eval-every 250 --max-dev-examples 2000 \
  --max-seconds "$SECONDS_BUDGET" --seed 7

echo "== 4. teacher vs student (held-out Quechua: no labels; English dev: entity F1)"
heldout_stats() { # CONLL
  awk -F'\t' '
    NF == 0 { s++; prev = "O"; next }
    { p += $3; w++
      if ($2 ~ /^B-/ || ($2 ~ /^I-/ && substr(prev, 3) != substr($2, 3))) { e++; if ($1 !~ /^[[:upper:]ÁÉÍÓÚÑ]/) low++ }
      prev = $2 }
    END { printf "entities/sentence %.2f  mean tag probability %.3f  entities starting lower-case %.1f%%\n", e / s, p / w, 100 * low / (e ? e : 1) }' "$1"
}
for who in teacher student; do
  ner=$ADAPTERS/ner; [ "$who" = student ] && ner=$WORK/ner/best/ner
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ner" --setup "Stack(qu, ner)" \
    --input "$WORK/qu-heldout.txt" --format text --output "$WORK/heldout-$who.conll" --scores
  echo "$who, held-out Quechua: $(heldout_stats "$WORK/heldout-$who.conll")"
  for setup in "Stack(en, ner)" "Stack(qu, ner)"; do
    "$ADAPT" eval --model "$MODEL" --data "$NER_DEV" $LOAD --load-adapter "$ner" --setup "$setup" --max-examples 3000 \
      --json "$WORK/eval-$who-${setup//[^a-z]/}.json" > /dev/null
    echo "$who, English dev, $setup: entity F1 $(grep -o '"f1": [0-9.]*' "$WORK/eval-$who-${setup//[^a-z]/}.json" | head -1)"
  done
done
