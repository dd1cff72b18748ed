#!/usr/bin/env bash
# Runs the fuzz targets built in BUILD/fuzz (make fuzz), each for SECONDS with its seed corpus
# fuzz/corpus/<name>/, JOBS at a time. New inputs go to BUILD/fuzz-work/<name>/corpus (kept
# between runs, never the tree), crashes, leaks, timeouts (> 1 s per input) and out-of-memory
# inputs to BUILD/fuzz-work/<name>/, the log to BUILD/fuzz-work/<name>/log. Exits 1 when any
# target found something. FUZZ_TARGETS="a b" limits the run to those targets.
# Usage: fuzz/run.sh [BUILD] [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
JOBS=${3:-2}

targets=()
for bin in "$BUILD"/fuzz/*_fuzz; do
  name=$(basename "$bin" _fuzz)
  if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  targets+=("$name")
done
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz: no targets in $BUILD/fuzz (make fuzz builds them)" >&2
  exit 1
fi

run_one() {
  local name=$1 work="$BUILD/fuzz-work/$1"
  if [ ! -d "fuzz/corpus/$name" ]; then
    echo "fuzz: $name: no seed corpus fuzz/corpus/$name/ (fuzz/make_corpus.sh writes it)"
    return 1
  fi
  mkdir -p "$work/corpus"
  local rc=0
  UBSAN_OPTIONS=print_stacktrace=1 "$BUILD/fuzz/${name}_fuzz" \
    -max_total_time="$SECONDS_EACH" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "fuzz/corpus/$name" >"$work/log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $name: ok, ${execs:-?} executions in ${SECONDS_EACH} s"
  else
    echo "fuzz: $name: FAILED (exit $rc), ${execs:-?} executions; see $work/log:"
    grep -E "ERROR|invariant broken|Test unit written|SUMMARY" "$work/log" | head -5 | sed 's/^/  /'
  fi
  return "$rc"
}
export -f run_one
export BUILD SECONDS_EACH

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || status=1
if [ "$status" -ne 0 ]; then
  echo "fuzz: a target failed; reproduce with $BUILD/fuzz/<name>_fuzz <input>" >&2
fi
exit "$status"
