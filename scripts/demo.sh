#!/usr/bin/env bash
# The main job. Until the Quechua NER demo lands (issue 6), it shows the most complete end-to-end
# path available: load a real transformers checkpoint (3 shards) and reproduce its MLM outputs.
set -eu
BUILD=${1:-build}
SHARED=${ADAPT_SHARED:-../shared}
model="$SHARED/fixtures/models/hf-roberta-sharded"
if [ ! -d "$model" ]; then
  echo "demo: $model not found (set ADAPT_SHARED to the shared material folder)" >&2
  exit 1
fi
"$BUILD/adapt" info "$model"
out=$(mktemp -d)
"$BUILD/adapt-case" "$SHARED/fixtures/cases/c13_hf_sharded_roberta" "$out/c13.safetensors"
echo "computed the MLM logits of 3 sentences (en, es, qu) into $out/c13.safetensors"
