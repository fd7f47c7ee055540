#!/usr/bin/env bash
# Self-training on raw Quechua text (docs/madx.md, "Self-training"): the shipped setup tags qu.txt,
# the confident and plausible sentences become silver training data, and a new task adapter is
# trained on English WikiANN + that silver data over both language adapters, as the shipped one is.
#   1. tag every Quechua sentence but a held-out tail with Stack(qu, ner) and --scores;
#   2. silver tags: Quechua writes names capitalised, so a lower-case word the teacher put in an
#      entity becomes O, and so does a sentence's first word (capitalised whatever it is) unless
#      the text writes it capitalised more often than not elsewhere; keep a sentence of 4-40 words
#      with an entity when every remaining entity word has probability >= MIN_SCORE (0.7), and as
#      many entity-free ones;
#   3. train the student task adapter on English + silver (the teacher's recipe, same budget);
#   4. report, on the held-out Quechua tail (no labels): entities per sentence, mean tag
#      probability and the share of entities that start lower-case, for teacher and student; and
#      English dev entity F1 with each language adapter.
# No Quechua labels are used. Budget: SELF_TRAIN_SECONDS (1500). Output in build/self-train/;
# SELF_TRAIN_REUSE_TAGS=1 keeps the teacher's tags from an earlier run there; SELF_TRAIN_MODEL,
# SELF_TRAIN_MAX_LENGTH and SELF_TRAIN_EVAL_EXAMPLES (3000) serve other base models and the tests.
source "$(dirname "$0")/madx-env.sh"
WORK=${SELF_TRAIN_WORK:-build/self-train}
ADAPTERS=${SELF_TRAIN_ADAPTERS:-models/adapters}
MIN_SCORE=${MIN_SCORE:-0.7}
HELD_OUT=${HELD_OUT:-2000}
SECONDS_BUDGET=${SELF_TRAIN_SECONDS:-1500}
MODEL=${SELF_TRAIN_MODEL:-models/default}
MAX_LENGTH=${SELF_TRAIN_MAX_LENGTH:-128}
EVAL_EXAMPLES=${SELF_TRAIN_EVAL_EXAMPLES:-3000}
# a word that starts with a capital letter (mawk matches bytes: the accented capitals spelled out)
CAPITALISED='^([A-Z]|Á|É|Í|Ó|Ú|Ñ)'
mkdir -p "$WORK"
LOAD="--load-adapter $ADAPTERS/en --load-adapter $ADAPTERS/qu"

echo "== 1. tag Quechua text with the teacher, Stack(qu, ner)"
xzcat -f "$QU" | grep -v '^[[:space:]]*$' > "$WORK/qu-all.txt"
total=$(wc -l < "$WORK/qu-all.txt")
head -n $((total - HELD_OUT)) "$WORK/qu-all.txt" > "$WORK/qu-train.txt"
tail -n "$HELD_OUT" "$WORK/qu-all.txt" > "$WORK/qu-heldout.txt"
if [ "${SELF_TRAIN_REUSE_TAGS:-0}" = 1 ] && [ -s "$WORK/qu-teacher.conll" ]; then
  echo "(reusing $WORK/qu-teacher.conll)"
else
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ADAPTERS/ner" --setup "Stack(qu, ner)" \
    --input "$WORK/qu-train.txt" --format text --output "$WORK/qu-teacher.conll" --scores
fi

echo "== 2. keep confident, plausible sentences (tag probability >= $MIN_SCORE)"
awk -v min="$MIN_SCORE" -v out="$WORK/silver.conll" -v capitalised="$CAPITALISED" '
  function upper(w) { return w ~ capitalised }
  function key(w) { w = tolower(w); gsub(/Á/, "á", w); gsub(/É/, "é", w); gsub(/Í/, "í", w); gsub(/Ó/, "ó", w); gsub(/Ú/, "ú", w); gsub(/Ñ/, "ñ", w); return w }
  function name_like(w) { return name_case[key(w)] > common_case[key(w)] }
  function starts(i) { return i == 1 || word[i - 1] ~ /^[.:?!]$/ }
  function flush(   i, ok, ents, text, type, prev, t) {
    if (n == 0) return
    ok = (n >= 4 && n <= 40); ents = 0; text = ""; prev = "O"
    for (i = 1; i <= n; i++) {
      type = tag[i] == "O" ? "" : substr(tag[i], 3)
      # the teacher tags Quechua common words next to names: a lower-case word is O, and so is
      # the first word of a sentence (capitalised whatever it is) unless the word is written
      # capitalised more often than not where it is not first (a name, not a common word)
      if (type != "" && (!upper(word[i]) || (starts(i) && !name_like(word[i])))) type = ""
      if (type != "" && score[i] + 0 < min) ok = 0
      t = type == "" ? "O" : (prev == type && tag[i] ~ /^I-/ ? "I-" : "B-") type
      if (t ~ /^B-/) ents++
      prev = type == "" ? "O" : type
      text = text word[i] "\t" t "\n"
    }
    if (ok && ents > 0) { print text > out; kept_e++ }
    else if (ok) plain[kept_o++] = text
    n = 0
  }
  BEGIN { FS = "\t"; n = 0; kept_e = 0; kept_o = 0; after_stop = 1 }
  # first pass: how each word is written where it does not start a sentence (a line may hold
  # several: ".", ":", "?" and "!" start one too)
  FNR == NR {
    if (NF == 0) after_stop = 1
    else { if (!after_stop) { if (upper($1)) name_case[key($1)]++; else common_case[key($1)]++ }; after_stop = ($1 ~ /^[.:?!]$/) }
    next
  }
  NF == 0 { sentences++; flush(); next }
  { n++; word[n] = $1; tag[n] = $2; score[n] = $3 }
  END {
    flush()
    # as many entity-free sentences as sentences with entities, spread over the text
    use = kept_o < kept_e ? kept_o : kept_e
    for (k = 0; k < use; k++) print plain[int(k * kept_o / use)] > out
    printf "%d sentences tagged; kept %d with entities and %d of %d without\n", sentences, kept_e, use, kept_o
  }
' "$WORK/qu-teacher.conll" "$WORK/qu-teacher.conll"

echo "== 3. student task adapter: English + silver Quechua, over Stack(en, ner) / Stack(qu, ner), ${SECONDS_BUDGET}s"
xzcat -f "$NER_TRAIN" > "$WORK/train-mixed.conll"
printf '\n' >> "$WORK/train-mixed.conll"
cat "$WORK/silver.conll" >> "$WORK/train-mixed.conll"
"$ADAPT" train --task ner --model "$MODEL" --train "$WORK/train-mixed.conll" --dev "$NER_DEV" --output "$WORK/ner" --name ner \
  $LOAD --setup "Stack(en, ner);Stack(qu, ner)" --adapter-config "seq_bn[reduction_factor=16]" \
  --batch-size 32 --max-length "$MAX_LENGTH" --lr 1e-3 --epochs 3 --eval-every 250 --max-dev-examples 2000 \
  --max-seconds "$SECONDS_BUDGET" --seed 7

echo "== 4. teacher vs student (held-out Quechua: no labels; English dev: entity F1)"
heldout_stats() { # CONLL
  awk -F'\t' -v capitalised="$CAPITALISED" '
    NF == 0 { s++; prev = "O"; next }
    { p += $3; w++
      if ($2 ~ /^B-/ || ($2 ~ /^I-/ && substr(prev, 3) != substr($2, 3))) { e++; if ($1 !~ capitalised) low++ }
      prev = $2 }
    END { printf "entities/sentence %.2f  mean tag probability %.3f  entities starting lower-case %.1f%%\n", e / s, p / w, 100 * low / (e ? e : 1) }' "$1"
}
for who in teacher student; do
  ner=$ADAPTERS/ner; [ "$who" = student ] && ner=$WORK/ner/best/ner
  "$ADAPT" predict --model "$MODEL" $LOAD --load-adapter "$ner" --setup "Stack(qu, ner)" \
    --input "$WORK/qu-heldout.txt" --format text --output "$WORK/heldout-$who.conll" --scores
  echo "$who, held-out Quechua: $(heldout_stats "$WORK/heldout-$who.conll")"
  for setup in "Stack(en, ner)" "Stack(qu, ner)"; do
    scores=$WORK/eval-$who-${setup//[^a-zA-Z]/}.json
    "$ADAPT" eval --model "$MODEL" --data "$NER_DEV" $LOAD --load-adapter "$ner" --setup "$setup" --max-examples "$EVAL_EXAMPLES" \
      --json "$scores" > /dev/null
    echo "$who, English dev, $setup: entity F1 $(sed -n 's/.*"value":[[:space:]]*\([0-9.]*\).*/\1/p' "$scores")"
  done
done
