#!/usr/bin/env bash
# Tokenizer throughput (not a test): MB/s of input text on shared/data/text/{en,qu}.txt for each
# fixture tokenizer type, adapt (one thread, `adapt tokenize --lines --quiet`) against Hugging Face
# `tokenizers` from npm (installed into a temporary folder, one thread, batches of 1000 lines).
# Both count every line of the file, same bytes; token counts are printed to show they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${ADAPT_SHARED:-$(cd .. && pwd)/shared}
ADAPT=${ADAPT:-build/adapt}
[ -x "$ADAPT" ] || make -s "$ADAPT"
NPMDIR=$(mktemp -d)
trap 'rm -rf "$NPMDIR"' EXIT
(cd "$NPMDIR" && npm install --silent --no-audit --no-fund tokenizers >/dev/null 2>&1) || { echo "npm install tokenizers failed" >&2; exit 1; }
cp bench/tokenize_hf.js "$NPMDIR/"
export RAYON_NUM_THREADS=1 RAYON_RS_NUM_CPUS=1 TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
printf '%-18s %-8s %10s %10s %8s %12s %12s\n' tokenizer text "adapt MB/s" "HF MB/s" ratio "adapt tokens" "HF tokens"
for name in bert-base-uncased wordpiece-cased unigram-xlmr bytelevel-bpe; do
  tok="$SHARED/fixtures/tokenizers/$name/tokenizer.json"
  for text in en qu; do
    file="$SHARED/data/text/$text.txt"
    a=$("$ADAPT" tokenize "$tok" --lines --quiet < "$file" 2>&1 >/dev/null)
    h=$(node "$NPMDIR/tokenize_hf.js" "$tok" "$file")
    am=$(sed -n 's/.*MB\/s \([0-9.]*\).*/\1/p' <<<"$a"); at=$(sed -n 's/.*tokens \([0-9]*\).*/\1/p' <<<"$a")
    hm=$(sed -n 's/.*MB\/s \([0-9.]*\).*/\1/p' <<<"$h"); ht=$(sed -n 's/.*tokens \([0-9]*\).*/\1/p' <<<"$h")
    printf '%-18s %-8s %10s %10s %8s %12s %12s\n' "$name" "$text.txt" "$am" "$hm" "$(awk -v a="$am" -v b="$hm" 'BEGIN{printf "%.2fx", a/b}')" "$at" "$ht"
  done
done
