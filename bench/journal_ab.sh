#!/usr/bin/env bash
# The audit journal's cost on one row of the core benchmark (read Patient at 64 clients by
# default), measured so that a noisy shared machine hurts both sides alike: the two servers
# (BASE, built without the journal, and JOURNAL) run at the same time, each on its own fresh data
# directory, and short runs alternate between them in ABBA order (base, journal, journal, base,
# ...), so that a drift of the machine's speed over seconds or minutes falls on both. Each pair
# of neighbouring runs gives a ratio (journal / base); prints every ratio, their median and
# quartiles, and the median req/s, p50, p99 and server CPU per request of each side.
# Usage: bench/journal_ab.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR [extra `hygie serve` arguments for
#   the journal server...]
#   (PAIRS, DURATION, WARMUP, CLIENTS, MODE, TYPE, PRELOAD, PORT, WORKDIR may be set; the raw
#    loadgen JSON lines are kept in $WORKDIR/runs.jsonl when WORKDIR is given)
set -euo pipefail
BASE=${1:?usage: bench/journal_ab.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR [serve arguments...]}
JOURNAL=${2:?usage: bench/journal_ab.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR [serve arguments...]}
shift 2
PAIRS=${PAIRS:-20}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-64}
MODE=${MODE:-read}
TYPE=${TYPE:-Patient}
PRELOAD=${PRELOAD:-100}
PORT=${PORT:-18480}
KEEP=${WORKDIR:+1}
WORK=${WORKDIR:-$(mktemp -d /var/tmp/hygie-journal-ab-XXXXXX)}
mkdir -p "$WORK"
RUNS=$WORK/runs.jsonl
: >"$RUNS"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"

BASE_PID=
cleanup() {
  [ -z "$BASE_PID" ] || { kill "$BASE_PID" 2>/dev/null || true; wait "$BASE_PID" 2>/dev/null || true; }
  stop_server
  rm -rf "$WORK/base" "$WORK/journal"
  [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT

echo "# $(machine_line)" >&2
rm -rf "$WORK/base" "$WORK/journal"
bench_install "$BASE/hygie" "$WORK/base" bench "$WORK/base.token"
start_server "$BASE/hygie" "$WORK/base" "$PORT" "$WORK/base.log"
BASE_PID=$SERVER_PID
bench_install "$JOURNAL/hygie" "$WORK/journal" bench "$WORK/journal.token"
start_server "$JOURNAL/hygie" "$WORK/journal" "$((PORT + 1))" "$WORK/journal.log" "$@"

# run SIDE PAIR: one loadgen run against SIDE's server, appended to runs.jsonl.
run() {
  local side=$1 pair=$2 build=$BASE port=$PORT pid=$BASE_PID out ticks0 ticks1
  if [ "$side" = journal ]; then build=$JOURNAL port=$((PORT + 1)) pid=$SERVER_PID; fi
  # Server CPU ticks (user + system) around the run, for CPU per request.
  ticks0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$("$build/bench/loadgen" --url "http://127.0.0.1:$port" --tenant bench \
    --token-file "$WORK/$side.token" --mode "$MODE" --type "$TYPE" --concurrency "$CLIENTS" \
    --duration "$DURATION" --warmup "$WARMUP" --preload "$PRELOAD" --json) || true
  ticks1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  [ -n "$out" ] || out='{"rps":0,"latency_us":{"p50":0,"p99":0},"errors":{"no_run":1}}'
  python3 - "$out" "$side" "$pair" "$((ticks1 - ticks0))" "$(getconf CLK_TCK)" "$DURATION" \
    "$WARMUP" "$PRELOAD" "$MODE" >>"$RUNS" <<'EOF'
import json, sys
line, side, pair, ticks, hz, duration, warmup, preload, mode = sys.argv[1:]
r = json.loads(line)
r["side"], r["pair"] = side, int(pair)
# Requests served during the run, estimated: the window's rate over warm-up + window, plus the
# preload's creates (reads and updates only).
served = r["rps"] * (float(duration) + float(warmup)) + (int(preload) if mode != "create" else 0)
r["server_cpu_us_per_req"] = int(ticks) / int(hz) * 1e6 / served if served else 0
print(json.dumps(r))
EOF
}

for pair in $(seq "$PAIRS"); do
  if [ $((pair % 2)) -eq 1 ]; then
    run base "$pair"
    run journal "$pair"
  else
    run journal "$pair"
    run base "$pair"
  fi
  echo "pair $pair of $PAIRS done" >&2
done

python3 - "$RUNS" "$MODE" "$TYPE" "$CLIENTS" "$DURATION" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
mode, typ, clients, duration = sys.argv[2:]
side = lambda s: [r for r in runs if r["side"] == s]
base, journal = side("base"), side("journal")
failed = sum(r.get("non2xx", 0) + sum(r.get("errors", {}).values()) for r in runs)
ratios = []
for b in base:
    j = [r for r in journal if r["pair"] == b["pair"]]
    if j and b["rps"]:
        ratios.append(j[0]["rps"] / b["rps"])
q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [float("nan")] * 3
med = lambda rs, f: statistics.median(f(r) for r in rs)
print(f"{mode} {typ}, {clients} clients, {len(ratios)} pairs of {duration} s runs (ABBA)")
print()
print("| side | req/s (median) | p50 ms | p99 ms | server CPU µs/request |")
print("|---|---:|---:|---:|---:|")
for name, rs in (("without the journal", base), ("with the journal", journal)):
    print(f"| {name} | {med(rs, lambda r: r['rps']):,.0f} | "
          f"{med(rs, lambda r: r['latency_us']['p50']) / 1000:.2f} | "
          f"{med(rs, lambda r: r['latency_us']['p99']) / 1000:.2f} | "
          f"{med(rs, lambda r: r['server_cpu_us_per_req']):.0f} |")
print()
print(f"Ratio journal / base per pair: median **{statistics.median(ratios):.3f}**, "
      f"quartiles {q[0]:.3f} to {q[2]:.3f}; failed requests: {failed}")
print("Ratios in order: " + " ".join(f"{x:.2f}" for x in ratios))
EOF
