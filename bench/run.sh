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
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server() {
  "$H" serve --data "$WORK/data" --listen 127.0.0.1:$PORT 2>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -sf http://127.0.0.1:$PORT/readyz >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start" >&2; cat "$WORK/server.log" >&2; exit 1
}

"$H" init --data "$WORK/data" 2>/dev/null
"$H" tenant create bench --data "$WORK/data" 2>/dev/null
"$H" token issue --data "$WORK/data" --tenant bench --scope 'user/*.cruds' --ttl 2h >"$WORK/token"
start_server

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
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
