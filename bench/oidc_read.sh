#!/usr/bin/env bash
# Measures reads with tokens of an external OpenID Connect provider against reads with tokens of
# the built-in issuer, on one server and one data set: the core benchmark's read row (loadgen
# --mode read, 64 clients) with, alternately, a built-in token and provider tokens (ES256 and
# RS256, client credentials from the real oidc-provider of tests/oidc). Verified tokens are
# cached by the server (the default), so the figure shows the steady cost of an OIDC token.
# Prints a Markdown table of medians (req/s, p50, p99) and each kind's ratio to the built-in one.
# Usage: bench/oidc_read.sh BUILD_DIR
#   (DURATION, WARMUP, CLIENTS, REPS, PRELOAD, PORT, TYPE may be set)
set -euo pipefail
BUILD=${1:?usage: bench/oidc_read.sh BUILD_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-64}
REPS=${REPS:-3}
PRELOAD=${PRELOAD:-2000}
PORT=${PORT:-18480}
TYPE=${TYPE:-Patient}
WORK=$(mktemp -d /var/tmp/hygie-oidc-read-XXXXXX)
. "$HERE/bench/lib.sh"
PIDS=()
cleanup() {
  stop_server
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash "$HERE/tests/oidc/install.sh" >/dev/null
node "$HERE/tests/oidc/provider.mjs" --port 0 --ready-file "$WORK/provider.json" \
  >"$WORK/provider.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/provider.json" ] && break; sleep 0.1; done
ISSUER=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["issuer"])' \
  "$WORK/provider.json")

H=$BUILD/hygie
"$H" init --data "$WORK/data" 2>/dev/null
"$H" tenant create bench --data "$WORK/data" 2>/dev/null
"$H" issuer add --data "$WORK/data" --tenant bench --issuer "$ISSUER" --audience hygie-test \
  --roles-claim roles >/dev/null
"$H" token issue --data "$WORK/data" --tenant bench --scope 'user/*.cruds' --ttl 2h \
  --role practitioner >"$WORK/token-builtin"
start_server "$H" "$WORK/data" "$PORT" "$WORK/server.log"

oidc_token() {  # ALG -> a fresh access token (5 minutes) in $WORK/token-ALG
  node "$HERE/tests/oidc/flows.mjs" client-credentials --issuer "$ISSUER" --alg "$1" \
    --client hygie-practitioner --secret hygie-practitioner-secret --scope 'user/*.cruds' \
    >"$WORK/token-$1"
}

RUNS=$WORK/runs.jsonl
: >"$RUNS"
for rep in $(seq "$REPS"); do
  for kind in builtin ES256 RS256; do
    [ "$kind" = builtin ] || oidc_token "$kind"
    out=$("$BUILD/bench/loadgen" --url http://127.0.0.1:$PORT --tenant bench \
      --token-file "$WORK/token-$kind" --mode read --type "$TYPE" --concurrency "$CLIENTS" \
      --duration "$DURATION" --warmup "$WARMUP" --preload "$PRELOAD" --json)
    python3 -c 'import json,sys; r=json.loads(sys.argv[2]); r["kind"]=sys.argv[1]; print(json.dumps(r))' \
      "$kind" "$out" >>"$RUNS"
    echo "rep $rep $kind: $(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["rps"], "req/s,", r["non2xx"], "non-2xx")' "$out")" >&2
  done
done

python3 - "$RUNS" "$TYPE" "$CLIENTS" "$REPS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
typ, clients, reps = sys.argv[2], sys.argv[3], sys.argv[4]
def med(kind, f):
    return statistics.median(f(r) for r in runs if r["kind"] == kind)
base = med("builtin", lambda r: r["rps"])
print(f"| token ({typ} read, {clients} clients, median of {reps}) | req/s | p50 ms | p99 ms | ratio | non-2xx |")
print("|---|---:|---:|---:|---:|---:|")
names = {"builtin": "built-in issuer (ES256)", "ES256": "OIDC provider, ES256", "RS256": "OIDC provider, RS256"}
for kind in ("builtin", "ES256", "RS256"):
    rps = med(kind, lambda r: r["rps"])
    p50 = med(kind, lambda r: r["latency_us"]["p50"]) / 1000
    p99 = med(kind, lambda r: r["latency_us"]["p99"]) / 1000
    bad = sum(r["non2xx"] for r in runs if r["kind"] == kind)
    print(f"| {names[kind]} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {rps / base:.2f} | {bad} |")
EOF
