# Sourced by the MAD-X scripts: runs from the repository root with build/adapt built, and names
# the data: ../shared/data when present, else the copies in data/ (QU, EN, NER_TRAIN, NER_DEV;
# ES, a fifth of the base model's Spanish pretraining text, is always the repository's copy);
# MADX_QU, MADX_NER_TRAIN and MADX_NER_DEV name other files (the tests' tiny data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ADAPT=${ADAPT:-build/adapt}
[ -x "$ADAPT" ] || make -s
SHARED=${ADAPT_SHARED:-../shared}
if [ -f "$SHARED/data/text/qu.txt" ]; then
  QU=$SHARED/data/text/qu.txt EN=$SHARED/data/text/en.txt
  NER_TRAIN=$SHARED/data/ner/wikiann-en/train.conll NER_DEV=$SHARED/data/ner/wikiann-en/dev.conll
else
  QU=data/text/qu.txt.xz EN=data/text/en.txt.xz
  NER_TRAIN=data/ner/wikiann-en/train.conll.xz NER_DEV=data/ner/wikiann-en/dev.conll.xz
fi
ES=data/text/es.txt.xz
QU=${MADX_QU:-$QU} NER_TRAIN=${MADX_NER_TRAIN:-$NER_TRAIN} NER_DEV=${MADX_NER_DEV:-$NER_DEV}
