#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, -fsanitize=fuzzer,address,undefined, into
# build-fuzz/) and runs each for a while. Exits non-zero when a target crashes, leaks, times out or
# runs out of memory; the input that did it is saved in build-fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [--build-only] [--seeds] [TARGET...]
#     -t SECONDS   time per target (default $FUZZ_TIME or 30)
#     -j JOBS      targets run at once (default $FUZZ_JOBS or 1)
#     --build-only build, do not run
#     --seeds      rebuild fuzz/corpus/ from ../shared (fuzz/make_seeds.py) before running
#     TARGET       names without the fuzz_ prefix (default: all of fuzz/fuzz_*.c)
#
# Inputs that once crashed a target (fuzz/regressions/<target>/) are replayed before it runs.
# The seeds in fuzz/corpus/<target> are read-only inputs; what the fuzzer finds goes into
# build-fuzz/corpus/<target> and is reused by the next run. Each run appends one line per target
# to build-fuzz/runs.tsv (date, target, seconds, executions, result) for docs/reliability.md.
set -u
cd "$(dirname "$0")/.."
TIME=${FUZZ_TIME:-30}
JOBS=${FUZZ_JOBS:-1}
BUILD_ONLY=0
SEEDS=0
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) TIME=$2; shift 2 ;;
    -j) JOBS=$2; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --seeds) SEEDS=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) targets+=("${1#fuzz_}"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); targets+=("${n#fuzz_}"); done
fi

CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || CC=clang-14
command -v "$CC" >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)"; exit 1; }

make -s -f fuzz/fuzz.mk FUZZ_CC="$CC" FUZZ_BUILD="$FUZZ_BUILD" -j"$(nproc)" \
  $(printf "$FUZZ_BUILD/fuzz_%s " "${targets[@]}") || { echo "fuzz.sh: build failed"; exit 1; }

if [ $SEEDS -eq 1 ]; then
  make -s -f fuzz/fuzz.mk FUZZ_CC="$CC" FUZZ_BUILD="$FUZZ_BUILD" "$FUZZ_BUILD/libadapt-fuzz.a" || exit 1
  "$CC" -std=c11 -g -O1 -D_GNU_SOURCE -fopenmp -Iinclude -Isrc -Ifuzz -fsanitize=address,undefined \
    $(pkg-config --cflags libcjson) fuzz/seedgen.c "$FUZZ_BUILD/libadapt-fuzz.a" \
    $(pkg-config --libs libcjson libutf8proc libpcre2-8 liblzma openblas) -lm -lpthread -fopenmp \
    -o "$FUZZ_BUILD/seedgen" || exit 1
  python3 fuzz/make_seeds.py "$FUZZ_BUILD/seedgen" || exit 1
  echo "seeds: $(du -sh fuzz/corpus | cut -f1) in fuzz/corpus"
fi
[ $BUILD_ONLY -eq 1 ] && exit 0

# Scratch files of the file-based targets go to memory when possible.
[ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=/dev/shm
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$FUZZ_BUILD/logs"

run_one() { # target
  local t=$1 bin="$FUZZ_BUILD/fuzz_$1" work="$FUZZ_BUILD/corpus/$1" art="$FUZZ_BUILD/artifacts/$1/"
  mkdir -p "$work" "$art" "fuzz/corpus/$t"
  local dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  local log="$FUZZ_BUILD/logs/$t.log"
  # The inputs that crashed a target before (fuzz/regressions/<target>) must pass first.
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    if ! "$bin" -rss_limit_mb=2048 -timeout=20 fuzz/regressions/"$t"/* >"$log" 2>&1; then
      printf '%-16s regression input fails again (%s)\n' "$t" "$log"
      printf '%s\t%s\t0\t0\tregression\n' "$(date -u +%FT%TZ)" "$t" >>"$FUZZ_BUILD/runs.tsv"
      return 1
    fi
  fi
  "$bin" -max_total_time="$TIME" -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art" "${dict[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1
  local rc=$?
  local execs secs result
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ $rc -eq 0 ]; then result=ok; else
    result=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|deadly signal|out-of-memory|timeout' "$log" || echo "exit $rc")
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$TIME" "${execs:-0}" "$result" >>"$FUZZ_BUILD/runs.tsv"
  printf '%-16s %10s execs %8s exec/s  %s\n' "$t" "${execs:-0}" "${secs:-0}" "$result"
  [ $rc -eq 0 ]
}

fail=0
running=0
for t in "${targets[@]}"; do
  [ -x "$FUZZ_BUILD/fuzz_$t" ] || { echo "fuzz.sh: no target $t"; fail=1; continue; }
  run_one "$t" &
  running=$((running + 1))
  if [ $running -ge "$JOBS" ]; then wait -n || fail=1; running=$((running - 1)); fi
done
while [ $running -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
if [ $fail -ne 0 ]; then
  echo "fuzz.sh: FAILED (logs in $FUZZ_BUILD/logs, inputs in $FUZZ_BUILD/artifacts)"
  exit 1
fi
echo "fuzz.sh: all targets clean"
