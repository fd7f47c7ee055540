#!/usr/bin/env bash
# Self-training on raw Quechua text (docs/madx.md, "Self-training"): the shipped setup tags qu.txt,
# the confident and plausible sentences become silver training data, and a new task adapter is
# trained on English WikiANN + that silver data: with SELF_TRAIN_ROUTE=1 (the default) English
# through Stack(en, ner) and the silver Quechua through Stack(qu, ner), so that the task adapter
# reads Quechua through the Quechua adapter; with 0 both through both setups in turn.
#   1. tag every Quechua line but HELD_OUT (2000) spread over the text with Stack(qu, ner) and --scores;
#   2. silver tags (scripts/madx-silver.awk): Quechua writes names capitalised, so a lower-case
#      word the teacher put in an entity becomes O, and so does a sentence's first word unless the
#      text writes it capitalised more often than not elsewhere; a name keeps one type across the
#      text; a place's lower-case head noun ("Wanta pruwinsya", "Beni mayu": learnt from article
#      titles) continues the name; adjacent names of one type are one, unless a case suffix ends the
#      first ("Perúpi Lima"); an article's title is typed by its first sentence's predicate ("X
#      nisqaqa ... huk llaqtam", learnt), or its sentence left out when the text writes the title
#      nowhere else; a sentence template (names and numbers masked: Wikipedia boilerplate) is
#      used 10 times at most; keep up to SILVER_MAX (4000) sentences of 2-40 words with an
#      entity whose teacher-decided words all have probability >= MIN_SCORE (0.7), and as many
#      entity-free ones; each sentence with entities also gives SELF_TRAIN_FRAGMENTS (1; 0: none)
#      WikiANN-style fragments that open with one of them (scripts/madx-fragments.awk), every
#      SELF_TRAIN_MARKUP-th (6; 0: none) also with that entity in WikiANN's bold or italic
#      markup; SELF_TRAIN_HEAD_NAMES=1 (0, the default) also lets a place's head noun name the
#      untyped capitalised words before it (madx-silver.awk's head_names_rule);
#   3. train the student task adapter on English + silver (the teacher's recipe, same budget);
#   4. report, on the held-out Quechua lines (no labels): entities per sentence, mean tag
#      probability and the share of entities that start lower-case, for teacher and student, and
#      how many tags change without the Quechua adapter (setup ner); and English dev entity F1
#      with each language adapter and without.
# No Quechua labels are used. Budget: SELF_TRAIN_SECONDS (1500). Output in build/self-train/;
# SELF_TRAIN_REUSE_TAGS=1 keeps the teacher's tags from an earlier run there; SELF_TRAIN_MODEL,
# SELF_TRAIN_MAX_LENGTH, SELF_TRAIN_BATCH (32) and SELF_TRAIN_EVAL_EXAMPLES (3000) serve other
# base models and the tests; SELF_TRAIN_SEED (7, the shipped student's) repeats a variant.
source "$(dirname "$0")/madx-env.sh"
WORK=${SELF_TRAIN_WORK:-build/self-train}
ADAPTERS=${SELF_TRAIN_ADAPTERS:-models/adapters}
MIN_SCORE=${MIN_SCORE:-0.7}
SILVER_MAX=${SILVER_MAX:-4000}
HELD_OUT=${HELD_OUT:-2000}
SECONDS_BUDGET=${SELF_TRAIN_SECONDS:-1500}
MODEL=${SELF_TRAIN_MODEL:-models/default}
MAX_LENGTH=${SELF_TRAIN_MAX_LENGTH:-128}
EVAL_EXAMPLES=${SELF_TRAIN_EVAL_EXAMPLES:-3000}
BATCH=${SELF_TRAIN_BATCH:-32}
SEED=${SELF_TRAIN_SEED:-7}
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "SELF_TRAIN_SEED must be a non-negative integer, not '$SEED'" >&2; exit 2; }
ROUTE=${SELF_TRAIN_ROUTE:-1}
FRAGMENTS=${SELF_TRAIN_FRAGMENTS:-1}
[[ "$FRAGMENTS" =~ ^[0-9]+$ ]] || { echo "SELF_TRAIN_FRAGMENTS must be a count of fragments per sentence (0: none), not '$FRAGMENTS'" >&2; exit 2; }
MARKUP=${SELF_TRAIN_MARKUP:-6}
[[ "$MARKUP" =~ ^[0-9]+$ ]] || { echo "SELF_TRAIN_MARKUP must say every how many fragments carry markup (0: none), not '$MARKUP'" >&2; exit 2; }
HEAD_NAMES=${SELF_TRAIN_HEAD_NAMES:-0}
[[ "$HEAD_NAMES" =~ ^[01]$ ]] || { echo "SELF_TRAIN_HEAD_NAMES must be 0 or 1, not '$HEAD_NAMES'" >&2; exit 2; }
mkdir -p "$WORK"
LOAD="--load-adapter $ADAPTERS/en --load-adapter $ADAPTERS/qu"

echo "== 1. tag Quechua text with the teacher, Stack(qu, ner)"
xzcat -f "$QU" | grep -v '^[[:space:]]*$' > "$WORK/qu-all.txt"
# held out: HELD_OUT lines spread over the text (Wikipedia, web and legal text alike)
every=$(( $(wc -l < "$WORK/qu-all.txt") / HELD_OUT ))
[ "$every" -ge 2 ] || every=2
awk -v k="$every" -v train="$WORK/qu-train.txt" -v held="$WORK/qu-heldout.txt" \
  '{ print > (NR % k == 0 ? held : train) }' "$WORK/qu-all.txt"
if [ "${SELF_TRAIN_REUSE_TAGS:-0}" = 1 ] && [ -s "$WORK/qu-teacher.conll" ]; then
  echo "(reusing $WORK/qu-teacher.conll)"
else
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ADAPTERS/ner" --setup "Stack(qu, ner)" \
    --input "$WORK/qu-train.txt" --format text --output "$WORK/qu-teacher.conll" --scores
fi

echo "== 2. keep confident, plausible sentences (tag probability >= $MIN_SCORE)"
awk -f scripts/madx-case.awk -f scripts/madx-silver.awk -v min="$MIN_SCORE" -v max="$SILVER_MAX" -v head_names_rule="$HEAD_NAMES" -v out="$WORK/silver.conll" \
  "$WORK/qu-teacher.conll" "$WORK/qu-teacher.conll" "$WORK/qu-teacher.conll"
cp "$WORK/silver.conll" "$WORK/silver-train.conll"
if [ "$FRAGMENTS" -gt 0 ]; then
  awk -f scripts/madx-fragments.awk -v per_sentence="$FRAGMENTS" -v markup_every="$MARKUP" "$WORK/silver.conll" >> "$WORK/silver-train.conll"
  echo "with $(grep -c '^$' "$WORK/silver-train.conll") sentences, fragments that open with an entity included"
fi

xzcat -f "$NER_TRAIN" > "$WORK/train-en.conll"
if [ "$ROUTE" = 1 ]; then
  echo "== 3. student task adapter: English through Stack(en, ner), silver Quechua through Stack(qu, ner), ${SECONDS_BUDGET}s"
  data=(--train "$WORK/train-en.conll" --train "$WORK/silver-train.conll")
else
  echo "== 3. student task adapter: English + silver Quechua, over Stack(en, ner) / Stack(qu, ner) in turn, ${SECONDS_BUDGET}s"
  { cat "$WORK/train-en.conll"; printf '\n'; cat "$WORK/silver-train.conll"; } > "$WORK/train-mixed.conll"
  data=(--train "$WORK/train-mixed.conll")
fi
"${TRAIN[@]}" train --task ner --model "$MODEL" "${data[@]}" --dev "$NER_DEV" --output "$WORK/ner" --name ner \
  $LOAD --setup "Stack(en, ner);Stack(qu, ner)" --adapter-config "seq_bn[reduction_factor=16]" \
  --batch-size "$BATCH" --max-length "$MAX_LENGTH" --lr 1e-3 --epochs 3 --eval-every 250 --max-dev-examples 2000 \
  --max-seconds "$SECONDS_BUDGET" --seed "$SEED"

echo "== 4. teacher vs student (held-out Quechua: no labels; English dev: entity F1)"
heldout_stats() { # CONLL
  awk -F'\t' -f scripts/madx-case.awk -f scripts/madx-heldout-stats.awk "$1"
}
for who in teacher student; do
  ner=$ADAPTERS/ner; [ "$who" = student ] && ner=$WORK/ner/best/ner
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ner" --setup "Stack(qu, ner)" \
    --input "$WORK/qu-heldout.txt" --format text --output "$WORK/heldout-$who.conll" --scores
  echo "$who, held-out Quechua: $(heldout_stats "$WORK/heldout-$who.conll")"
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ner" --setup ner \
    --input "$WORK/qu-heldout.txt" --format text --output "$WORK/heldout-$who-ner.conll"
  echo "$who, held-out Quechua: $(paste "$WORK/heldout-$who.conll" "$WORK/heldout-$who-ner.conll" |
    awk -F'\t' '$1 != "" { n++; if ($2 != $5) d++ } END { printf "%d of %d tags differ without the Quechua adapter (setup ner)", d, n }')"
  for setup in "Stack(en, ner)" "Stack(qu, ner)" ner; do
    scores=$WORK/eval-$who-${setup//[^a-zA-Z]/}.json
    "$ADAPT" eval --model "$MODEL" --data "$NER_DEV" $LOAD --load-adapter "$ner" --setup "$setup" --max-examples "$EVAL_EXAMPLES" \
      --json "$scores" > /dev/null
    echo "$who, English dev, $setup: entity F1 $(sed -n 's/.*"value":[[:space:]]*\([0-9.]*\).*/\1/p' "$scores")"
  done
done
