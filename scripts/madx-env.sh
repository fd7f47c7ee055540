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
# MADX_PROCESSES=N (default 1): the task adapters train as N data-parallel processes (`mpirun -np N
# build/adapt-mpi`, docs/data-parallel.md): on 2 cores 1.2-1.8x the steps per second, so more steps
# in the same time budget, and another random draw (dropout) than the one-process runs the shipped
# adapters come from. TRAIN is the command that trains them.
PROCESSES=${MADX_PROCESSES:-1}
[[ "$PROCESSES" =~ ^[1-9][0-9]*$ ]] || { echo "MADX_PROCESSES must be a positive integer, not '$PROCESSES'" >&2; exit 2; }
TRAIN=("$ADAPT")
if [ "$PROCESSES" -gt 1 ]; then
  ADAPT_MPI=${ADAPT_MPI:-$(dirname "$ADAPT")/adapt-mpi}
  [ -x "$ADAPT_MPI" ] || make -s "$ADAPT_MPI"
  # root allowed (mpirun refuses it unless told); processes on this machine only (no ssh needed)
  TRAIN=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm=isolated
         mpirun --bind-to none -np "$PROCESSES" "$ADAPT_MPI")
fi
