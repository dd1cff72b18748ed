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

source fuzz/common.sh
mapfile -t targets < <(fuzz_targets "$BUILD")
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
  local rc=0
  fuzz_run "$BUILD" "$name" "$SECONDS_EACH" "$work/log" || rc=$?
  local execs
  execs=$(fuzz_executions "$work/log")
  if [ "$rc" -eq 0 ]; then
    echo "fuzz: $name: ok, $execs executions in ${SECONDS_EACH} s"
  else
    echo "fuzz: $name: FAILED (exit $rc), $execs executions; see $work/log:"
    grep -E "ERROR|invariant broken|Test unit written|SUMMARY" "$work/log" | head -5 | sed 's/^/  /'
  fi
  return "$rc"
}
export -f run_one fuzz_run fuzz_executions
export BUILD SECONDS_EACH

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}' || status=1
if [ "$status" -ne 0 ]; then
  echo "fuzz: a target failed; reproduce with $BUILD/fuzz/<name>_fuzz <input>" >&2
fi
exit "$status"
