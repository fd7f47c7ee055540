#!/usr/bin/env bash
# Runs every test binary in $BUILD/tests, prints each one's cmocka report, then one summary line.
set -u
BUILD=${BUILD:-build}
export BUILD
passed=0; failed=0; bad=()
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ]; then
    bad+=("$(basename "$t")")
    # A binary that died before reporting counts as one failure.
    [ -z "$f" ] && failed=$((failed + 1))
  fi
done
[ ${#bad[@]} -gt 0 ] && echo "failing test programs: ${bad[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
