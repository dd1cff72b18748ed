# Sourced by fuzz/run.sh and fuzz/campaign.sh: the one way to list the targets and to run one.

# Prints the target names of BUILD/fuzz (limited to FUZZ_TARGETS="a b" when set), one a line.
fuzz_targets() {
  local build=$1 bin name
  for bin in "$build"/fuzz/*_fuzz; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin" _fuzz)
    if [ -n "${FUZZ_TARGETS:-}" ] && [[ " $FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
    echo "$name"
  done
}

# Runs target NAME of BUILD for SECONDS of wall time with its seed corpus and the corpus it grew
# before (BUILD/fuzz-work/NAME/corpus, never the tree); findings (crash, leak, timeout over 1 s
# per input, out-of-memory) go to BUILD/fuzz-work/NAME/, the output to LOG. Returns the fuzzer's
# exit status.
fuzz_run() {
  local build=$1 name=$2 seconds=$3 log=$4 work="$1/fuzz-work/$2"
  mkdir -p "$work/corpus"
  UBSAN_OPTIONS=print_stacktrace=1 "$build/fuzz/${name}_fuzz" \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "fuzz/corpus/$name" >"$log" 2>&1
}

# The executions a fuzzer's LOG reports (0 when it reports none).
fuzz_executions() {
  local n
  n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -1)
  echo "${n:-0}"
}
