#!/usr/bin/env bash
# The "speed at size" benchmark end to end: a fresh data directory, a tenant loaded with
# RESOURCES resources through transaction bundles (bench/tenant_gen), search latencies at 1, 4
# and 8 connections (bench/search_load), and the disk size per resource (bench/size_report.sh).
# Usage: bench/at_size.sh [BUILD_DIR]   (RESOURCES, CONCURRENCY, QUERIES, DIR may be set)
# Build first, in Release: cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release -G Ninja &&
#   ninja -C build-rel hygie tenant_gen search_load
set -euo pipefail
BUILD=${1:-build}
RESOURCES=${RESOURCES:-1000000}
CONCURRENCY=${CONCURRENCY:-16}
QUERIES=${QUERIES:-2000}
DIR=${DIR:-/var/tmp/hygie-at-size}
PORT=${PORT:-18090}
H=$BUILD/hygie
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$DIR" && mkdir -p "$DIR"
"$H" init --data "$DIR/data" >/dev/null
"$H" tenant create size --data "$DIR/data" >/dev/null
"$H" token issue --data "$DIR/data" --tenant size --scope 'user/*.cruds' --ttl 8h >"$DIR/token"
"$H" serve --data "$DIR/data" --listen 127.0.0.1:$PORT 2>"$DIR/server.log" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:$PORT/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
echo "at_size: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$BUILD/bench/tenant_gen" --url http://127.0.0.1:$PORT --tenant size --token-file "$DIR/token" \
  --resources "$RESOURCES" --concurrency "$CONCURRENCY" --progress 30 \
  --sample-out "$DIR/sample.json" | tee "$DIR/load.txt"
for c in 1 4 8; do
  echo "search_load: $c connections"
  "$BUILD/bench/search_load" --url http://127.0.0.1:$PORT --tenant size --token-file "$DIR/token" \
    --sample "$DIR/sample.json" --queries "$QUERIES" --concurrency "$c"
done
bash "$HERE/size_report.sh" "$DIR/data" size "$DIR/load.txt"
