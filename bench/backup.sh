#!/usr/bin/env bash
# Backups measured end to end (docs/benchmarks.md, "Backups"):
#   1. a tenant loaded with RESOURCES resources (bench/tenant_gen, transaction bundles);
#   2. shipping throughput: `hygie backup backup now` of the whole tenant to a directory target
#      (MB/s and versions/s), and the backup's size per resource against the live data;
#   3. a full restore into a new data directory (versions back, index rebuilt), resources/s;
#   4. the request path's cost: creates/s at CLIENTS clients with shipping on (a target, every
#      second) and off, in alternated runs (off, on, on, off, ...) on two data directories.
# Usage: bench/backup.sh [BUILD_DIR]   (RESOURCES, CONCURRENCY, PAIRS, DURATION, CLIENTS, DIR,
#   PORT may be set)
set -euo pipefail
BUILD=${1:-build}
RESOURCES=${RESOURCES:-1000000}
CONCURRENCY=${CONCURRENCY:-16}
PAIRS=${PAIRS:-3}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-64}
DIR=${DIR:-/var/tmp/hygie-backup-bench}
PORT=${PORT:-18190}
H=$BUILD/hygie
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$DIR" && mkdir -p "$DIR"
. "$HERE/lib.sh"
trap stop_server EXIT
now() { date +%s.%N; }
sites() {
  "$H" site add dc1 --data "$1" --country FR --operator bench --hds-cert B-1 \
    --hds-valid-until 2030-12-31 --data-site 2>/dev/null
  "$H" site add dc2 --data "$1" --country FR --operator bench --hds-cert B-2 \
    --hds-valid-until 2030-12-31 2>/dev/null
}
echo "backup bench: $(machine_line)"
echo "build: $BUILD ($(grep CMAKE_BUILD_TYPE: "$BUILD/CMakeCache.txt" | cut -d= -f2))"

# 1. Load.
bench_install "$H" "$DIR/data" size "$DIR/token" 8h
sites "$DIR/data"
start_server "$H" "$DIR/data" "$PORT" "$DIR/server.log"
"$BUILD/bench/tenant_gen" --url http://127.0.0.1:$PORT --tenant size --token-file "$DIR/token" \
  --resources "$RESOURCES" --concurrency "$CONCURRENCY" --progress 60 | tail -3
stop_server
live=$(du -sb "$DIR/data/tenants/size" | cut -f1)
versions=$(sqlite3 "$DIR/data/tenants/size/data.db" 'select count(*) from resource_version')
echo "live tenant: $versions versions, $live bytes ($((live / versions)) bytes/version)"

# 2. Shipping to a directory target.
"$H" backup target add offsite --data "$DIR/data" --site dc2 --dir "$DIR/target" 2>/dev/null
t0=$(now)
"$H" backup now --data "$DIR/data" --tenant size >"$DIR/ship.txt"
t1=$(now)
cat "$DIR/ship.txt"
shipped=$(du -sb "$DIR/target" | cut -f1)
awk -v a="$t0" -v b="$t1" -v n="$versions" -v s="$shipped" -v l="$live" 'BEGIN {
  d = b - a; printf "ship to a directory: %.1f s, %.0f versions/s, %.1f MB/s; backup %d bytes, " \
    "%.0f bytes/version, %.2f of the live size\n", d, n / d, s / d / 1e6, s, s / n, s / l }'

# 2b. Shipping to S3 with Object Lock (a real Ceph RGW on loopback, tests/s3/rgw.sh), when S3=1.
if [ "${S3:-0}" = 1 ]; then
  rgw_port=$((PORT + 7))
  bash "$HERE/../tests/s3/rgw.sh" start "$DIR/rgw" "$rgw_port" >/dev/null
  trap 'stop_server; bash "$HERE/../tests/s3/rgw.sh" stop "$DIR/rgw" >/dev/null 2>&1 || true' EXIT
  cred() { grep "^$1=" "$DIR/rgw/credentials" | cut -d= -f2-; }
  python3 - "$(cred endpoint)" "$(cred server_access_key)" "$(cred server_secret_key)" \
    "$DIR/s3.json" <<'PY'
import json, os, sys
endpoint, key, secret, path = sys.argv[1:]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps({"access_key_id": key, "secret_access_key": secret}).encode())
os.close(fd)
PY
  # The bucket (Object Lock) is the owner's; the server's credential only puts, reads and lists.
  python3 - "$(cred endpoint)" "$(cred owner_access_key)" "$(cred owner_secret_key)" <<'PY'
import sys, boto3
endpoint, key, secret = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                  aws_secret_access_key=secret, region_name="us-east-1")
s3.create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)
res = ["arn:aws:s3:::bench", "arn:aws:s3:::bench/*"]
policy = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/server"]},
     "Action": ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket",
                "s3:ListBucketVersions", "s3:GetObjectRetention",
                "s3:GetBucketObjectLockConfiguration"], "Resource": res},
    {"Effect": "Deny", "Principal": {"AWS": ["arn:aws:iam:::user/server"]},
     "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutBucketPolicy",
                "s3:PutBucketVersioning", "s3:PutBucketObjectLockConfiguration"],
     "Resource": res}]}
import json
s3.put_bucket_policy(Bucket="bench", Policy=json.dumps(policy))
PY
  "$H" backup target add cloud --data "$DIR/data" --site dc2 --s3-endpoint "$(cred endpoint)" \
    --bucket bench --retention-days 1 --credentials-file "$DIR/s3.json" 2>/dev/null
  t0=$(now)
  "$H" backup now --data "$DIR/data" --tenant size --target cloud >"$DIR/ship-s3.txt"
  t1=$(now)
  cat "$DIR/ship-s3.txt"
  awk -v a="$t0" -v b="$t1" -v n="$versions" -v s="$shipped" 'BEGIN {
    d = b - a; printf "ship to S3 (RGW, Object Lock): %.1f s, %.0f versions/s, %.1f MB/s\n",
      d, n / d, s / d / 1e6 }'
fi

# 3. Full restore.
t0=$(now)
"$H" restore --data "$DIR/data" --target offsite --tenant size --to "$DIR/restored" \
  >"$DIR/restore.txt" 2>"$DIR/restore.err"
t1=$(now)
cat "$DIR/restore.txt"
awk -v a="$t0" -v b="$t1" -v n="$versions" 'BEGIN {
  d = b - a; printf "restore: %.1f s in all, %.0f resources/s (versions back and index rebuilt)\n",
    d, n / d }'
grep -E "^restore size: done|^index size: done" "$DIR/restore.err" || true
"$H" audit verify --data "$DIR/restored" --tenant size | tail -1

# 4. The request path with shipping on and off.
for side in off on; do
  bench_install "$H" "$DIR/rp-$side" demo "$DIR/rp-$side.token" 2h
  sites "$DIR/rp-$side"
done
"$H" backup target add rp --data "$DIR/rp-on" --site dc2 --dir "$DIR/rp-target" 2>/dev/null
run() {
  local side=$1 port=$((PORT + 1))
  local args=()
  [ "$side" = on ] && args=(--backup-interval-s 1)
  start_server "$H" "$DIR/rp-$side" "$port" "$DIR/rp-$side.log" "${args[@]}"
  "$BUILD/bench/loadgen" --url http://127.0.0.1:$port --tenant demo \
    --token-file "$DIR/rp-$side.token" --mode create --type Patient --concurrency "$CLIENTS" \
    --duration "$DURATION" --warmup 2 --json | python3 -c \
    'import json,sys; r=json.loads(sys.stdin.read()); print(round(r["rps"]), r["latency_us"]["p99"] / 1000)' \
    >"$DIR/run.txt"
  stop_server
}
echo "request path, creates of Patient at $CLIENTS clients, $DURATION s runs: side req/s p99_ms"
ratios=()
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then order="off on"; else order="on off"; fi
  declare -A got=()
  for side in $order; do
    run "$side"
    read -r rps p99 <"$DIR/run.txt"
    got[$side]=$rps
    echo "  pair $i $side $rps $p99"
  done
  ratios+=("$(awk -v a="${got[on]}" -v b="${got[off]}" 'BEGIN { printf "%.3f", a / b }')")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END {
  printf "shipping on / off, median of %d pair ratios: %s (all: ", NR, r[int((NR + 1) / 2)];
  for (i = 1; i <= NR; i++) printf "%s%s", r[i], i < NR ? " " : ")\n" }'
