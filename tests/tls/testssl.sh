#!/usr/bin/env bash
# TLS as a real scanner sees it: testssl.sh (Debian's package) against `hygie serve` with TLS on
# loopback. Fails on any finding of severity MEDIUM or higher, except those that the test's own
# self-signed, short-lived certificate causes (allowed by id, below). Writes the scanner's JSON
# and a summary to OUT (default build/testssl).
#
# Usage: tests/tls/testssl.sh [BUILD_DIR]     (part of `make test-long`)
set -euo pipefail
BUILD=${1:-build}
OUT=${OUT:-$BUILD/testssl}
H=$BUILD/hygie
command -v testssl >/dev/null || { echo "testssl.sh is not installed (scripts/install-deps.sh)"; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"
DATA=$OUT/data
"$H" init --data "$DATA" >/dev/null
"$H" serve --data "$DATA" --listen 127.0.0.2:0 --port-file "$OUT/port" \
  --tls-cert "$DATA/tls/server.crt" --tls-key "$DATA/tls/server.key" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do [ -s "$OUT/port" ] && break; sleep 0.1; done
[ -s "$OUT/port" ] || { echo "the server did not start:"; cat "$OUT/server.log"; exit 1; }
PORT=$(cat "$OUT/port")
echo "testssl.sh against https://127.0.0.2:$PORT (about a minute)"
# testssl exits with the number of findings; the JSON is what is judged.
testssl --quiet --color 0 --warnings off --severity MEDIUM \
  --ip 127.0.0.2 --jsonfile-pretty "$OUT/testssl.json" "localhost:$PORT" >"$OUT/testssl.txt" 2>&1 || true
python3 - "$OUT/testssl.json" <<'PY'
import json, sys
# What the self-signed certificate of a test installation causes, and nothing of Hygie's own.
# (The scan names the host "localhost", the certificate's name, at the address 127.0.0.2.)
ALLOWED = {"cert_chain_of_trust", "cert_expirationStatus", "cert_notAfter", "cert_revocation"}
RANK = {"MEDIUM": 1, "HIGH": 2, "CRITICAL": 3}
doc = json.load(open(sys.argv[1]))
results = doc.get("scanResult", [])
if not results:
    print("no scan result: the scanner did not reach the server"); sys.exit(1)
bad, allowed, checks = [], [], 0
for section in results[0].values():
    if not isinstance(section, list):
        continue
    for f in section:
        if not isinstance(f, dict) or "id" not in f:
            continue
        checks += 1
        if RANK.get(f.get("severity", ""), 0) == 0:
            continue
        (allowed if f["id"] in ALLOWED else bad).append(f)
for f in allowed:
    print(f"allowed (test certificate)  {f['severity']:8} {f['id']}: {f.get('finding','')}")
for f in bad:
    print(f"FINDING                     {f['severity']:8} {f['id']}: {f.get('finding','')}")
print(f"testssl.sh: {checks} results, {len(bad)} findings of MEDIUM or higher, {len(allowed)} allowed")
sys.exit(1 if bad else 0)
PY
