#!/usr/bin/env bash
# Runs the core benchmark matrix against a fresh Hygie data directory and prints Markdown rows
# for docs/benchmarks.md: create/read/update x Patient/Observation x 1/16/64 clients, the raw
# SQLite floor at the same durability, and resident memory with 100,000 resources stored.
# Usage: bench/run.sh [BUILD_DIR]   (DURATION, WARMUP, CLIENTS, RSS_RESOURCES may be set)
set -euo pipefail
BUILD=${1:-build}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-"1 16 64"}
RSS_RESOURCES=${RSS_RESOURCES:-100000}
H=$BUILD/hygie
LG=$BUILD/bench/loadgen
FLOOR=$BUILD/bench/sqlite_floor
WORK=$(mktemp -d /var/tmp/hygie-bench-XXXXXX)
PORT=18400
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_install "$H" "$WORK/data" bench "$WORK/token"
start_server "$H" "$WORK/data" "$PORT" "$WORK/server.log"

echo "# $(machine_line)"
echo "| mode | type | clients | req/s | p50 ms | p99 ms | failed |"
echo "|---|---|---:|---:|---:|---:|---:|"
for mode in create read update; do
  for type in Patient Observation; do
    for c in $CLIENTS; do
      out=$("$LG" --url http://127.0.0.1:$PORT --tenant bench --token-file "$WORK/token" \
        --mode $mode --type $type --concurrency $c --duration "$DURATION" --warmup "$WARMUP" \
        --preload 2000 --json)
      python3 bench/row.py loadgen "$mode" "$type" "$c" "$out"
    done
  done
done

echo
echo "SQLite floor (no HTTP, no crypto, no JSON; WAL, synchronous=FULL, group commit):"
echo "| clients | inserts/s | p50 ms | p99 ms |"
echo "|---:|---:|---:|---:|"
for c in $CLIENTS; do
  out=$("$FLOOR" --dir "$WORK" --mode group --clients $c --duration "$DURATION" --json)
  python3 bench/row.py floor "$c" "$out"
done

echo
echo "Resident memory with $RSS_RESOURCES resources stored:"
"$LG" --url http://127.0.0.1:$PORT --tenant bench --token-file "$WORK/token" --mode read \
  --type Patient --concurrency 64 --duration 5 --warmup 1 --preload "$RSS_RESOURCES" --json >/dev/null
rss=$(awk '/VmRSS/{print $2}' /proc/$SERVER_PID/status)
hwm=$(awk '/VmHWM/{print $2}' /proc/$SERVER_PID/status)
echo "VmRSS $((rss / 1024)) MiB, peak VmHWM $((hwm / 1024)) MiB, data dir $(du -sh "$WORK/data" | cut -f1)"
