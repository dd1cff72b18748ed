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
. "$HERE/lib.sh"
trap stop_server EXIT
bench_install "$H" "$DIR/data" size "$DIR/token" 8h
start_server "$H" "$DIR/data" "$PORT" "$DIR/server.log"
echo "at_size: $(machine_line)"
"$BUILD/bench/tenant_gen" --url http://127.0.0.1:$PORT --tenant size --token-file "$DIR/token" \
  --resources "$RESOURCES" --concurrency "$CONCURRENCY" --progress 30 \
  --sample-out "$DIR/sample.json" | tee "$DIR/load.txt"
for c in 1 4 8; do
  echo "search_load: $c connections"
  "$BUILD/bench/search_load" --url http://127.0.0.1:$PORT --tenant size --token-file "$DIR/token" \
    --sample "$DIR/sample.json" --queries "$QUERIES" --concurrency "$c"
done
bash "$HERE/size_report.sh" "$DIR/data" size "$DIR/load.txt"
