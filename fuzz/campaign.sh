#!/usr/bin/env bash
# A long fuzzing campaign: runs each target of BUILD/fuzz until it has had CPU_SECONDS of CPU
# (user + system, measured, not wall time: on a busy machine a wall-clock budget is not the
# fuzzing it claims), in rounds of at most ROUND seconds, with its seed corpus and the corpus it
# grew before (BUILD/fuzz-work/<name>/corpus, as fuzz/run.sh). Progress is one line per round on
# stderr; the table for docs/security.md (target, seed inputs, corpus at the end, executions, CPU
# seconds, findings) goes to BUILD/fuzz-work/campaign.md and stdout. A target that finds something
# stops there; its artifact is in BUILD/fuzz-work/<name>/. Exits 1 when any target found something.
# FUZZ_TARGETS="a b" limits the campaign to those targets.
# Usage: fuzz/campaign.sh [BUILD] [CPU_SECONDS] [ROUND]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-fuzz}
CPU_SECONDS=${2:-900}
ROUND=${3:-300}

table="$BUILD/fuzz-work/campaign.md"
mkdir -p "$BUILD/fuzz-work"
{
  echo "| target | seed inputs | corpus at the end | executions | CPU s | findings |"
  echo "|---|---:|---:|---:|---:|---|"
} >"$table"

# Sets CHILDREN_CPU to the CPU seconds (user + system) of every child this shell has waited for.
# `times` must run in this shell, not in a command substitution, whose counters start at zero.
children_cpu() {
  times >"$BUILD/fuzz-work/.times"
  CHILDREN_CPU=$(sed -n 2p "$BUILD/fuzz-work/.times" |
    awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%d", t }')
}

source fuzz/common.sh
status=0
for name in $(fuzz_targets "$BUILD"); do
  work="$BUILD/fuzz-work/$name"
  seeds=$(find "fuzz/corpus/$name" -type f | wc -l)
  children_cpu
  base=$CHILDREN_CPU
  cpu=0 execs=0 found="none" round=0
  while [ "$cpu" -lt "$CPU_SECONDS" ]; do
    round=$((round + 1))
    rc=0
    fuzz_run "$BUILD" "$name" "$ROUND" "$work/log.$round" || rc=$?
    children_cpu
    cpu=$((CHILDREN_CPU - base))
    n=$(fuzz_executions "$work/log.$round")
    execs=$((execs + n))
    echo "fuzz campaign: $name round $round: $n executions, $cpu CPU s of $CPU_SECONDS" >&2
    if [ "$rc" -ne 0 ]; then
      found=$(grep -m1 -E "ERROR: |SUMMARY: |Test unit written" "$work/log.$round" || echo "exit $rc")
      status=1
      break
    fi
  done
  corpus=$(find "$work/corpus" -type f | wc -l)
  echo "| $name | $seeds | $corpus | $execs | $cpu | $found |" >>"$table"
done
cat "$table"
exit "$status"
