#!/usr/bin/env bash
# Measures the failed-authentication limit of `hygie serve` (--auth-failure-burst,
# --auth-failures-per-minute). Three runs of DURATION seconds, each on a fresh server:
#   1. bad:   one keep-alive connection from 127.0.0.1 sends requests with a bad token as fast
#             as it can. Prints requests sent, 401s, 429s, when the first 429 came, and the rate
#             of 401s after the burst next to the configured rate (PER_MINUTE / 60 per second).
#   2. valid: one connection from 127.0.0.2 sends requests with a valid token (the baseline).
#   3. both:  run 1 and run 2 at the same time: valid traffic from another address while
#             127.0.0.1 is throttled (the limit holds the guessing address, not the server).
# Clients are python3 http.client loops (one request in flight each). 127.0.0.2 is a loopback
# address on Linux (127.0.0.0/8), so the server sees two client addresses without a network.
# Usage: bench/auth_limit.sh BUILD_DIR
#   (BURST=20, PER_MINUTE=60, DURATION=10, PORT=18490 may be set)
set -euo pipefail
BUILD=${1:?usage: bench/auth_limit.sh BUILD_DIR}
HYGIE=$BUILD/hygie
BURST=${BURST:-20}
PER_MINUTE=${PER_MINUTE:-60}
DURATION=${DURATION:-10}
PORT=${PORT:-18490}
WORK=$(mktemp -d /var/tmp/hygie-auth-limit-XXXXXX)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_install "$HYGIE" "$WORK/data" bench "$WORK/token"
limited_server() {
  start_server "$HYGIE" "$WORK/data" "$PORT" "$WORK/server.log" --auth-failure-burst "$BURST" \
    --auth-failures-per-minute "$PER_MINUTE"
}

cat >"$WORK/client.py" <<'EOF'
# client.py SOURCE PORT TOKEN_FILE|- DURATION: GETs as fast as it can for DURATION seconds,
# prints one JSON object with the counts by status and the time of the first 429.
import http.client, json, sys, time
source, port, token_file, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
token = "not-a-valid-token" if token_file == "-" else open(token_file).read().strip()
headers = {"Authorization": "Bearer " + token}
counts, first_429, after_429 = {}, None, {}
conn = None
start = time.monotonic()
end = start + duration
sent = 0
while True:
    now = time.monotonic()
    if now >= end:
        break
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                              source_address=(source, 0))
        conn.request("GET", "/fhir/bench/Patient?_count=1", headers=headers)
        res = conn.getresponse()
        res.read()
        status = res.status
        if res.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    except (OSError, http.client.HTTPException):
        status = 0
        if conn is not None:
            conn.close()
        conn = None
    sent += 1
    t = time.monotonic() - start
    counts[status] = counts.get(status, 0) + 1
    if status == 429 and first_429 is None:
        first_429 = t
    if first_429 is not None:
        after_429[status] = after_429.get(status, 0) + 1
elapsed = time.monotonic() - start
print(json.dumps({"source": source, "elapsed": elapsed, "sent": sent,
                  "counts": {str(k): v for k, v in sorted(counts.items())},
                  "first_429": first_429,
                  "after_first_429": {str(k): v for k, v in sorted(after_429.items())}}))
EOF

report() {  # report LABEL JSON
  python3 - "$1" "$2" "$PER_MINUTE" "$BURST" <<'EOF'
import json, sys
label, r, per_minute, burst = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
c = r["counts"]
n401, n429, n200 = c.get("401", 0), c.get("429", 0), c.get("200", 0)
other = r["sent"] - n401 - n429 - n200
print(f"{label}: from {r['source']}, {r['elapsed']:.1f} s: {r['sent']} requests "
      f"({r['sent'] / r['elapsed']:.0f}/s): 200: {n200}, 401: {n401}, 429: {n429}, other: {other}")
if r["first_429"] is not None:
    span = r["elapsed"] - r["first_429"]
    late401 = r["after_first_429"].get("401", 0)
    print(f"  first 429 after {r['first_429'] * 1000:.0f} ms and {n401 - late401} 401s "
          f"(burst {burst}); then {late401} 401s in {span:.1f} s = {late401 / span:.2f}/s "
          f"(configured {per_minute / 60:.2f}/s, i.e. {per_minute:g}/min)")
EOF
}

echo "# hygie serve --auth-failure-burst $BURST --auth-failures-per-minute $PER_MINUTE;" \
  "$DURATION s per run; $(nproc) CPUs"
limited_server
BAD=$(python3 "$WORK/client.py" 127.0.0.1 $PORT - "$DURATION")
stop_server
report "1. bad tokens alone" "$BAD"

limited_server
VALID=$(python3 "$WORK/client.py" 127.0.0.2 $PORT "$WORK/token" "$DURATION")
stop_server
report "2. valid tokens alone" "$VALID"

limited_server
python3 "$WORK/client.py" 127.0.0.1 $PORT - "$DURATION" >"$WORK/bad.json" &
BAD_PID=$!
VALID2=$(python3 "$WORK/client.py" 127.0.0.2 $PORT "$WORK/token" "$DURATION")
wait "$BAD_PID"
stop_server
report "3. bad tokens, during valid traffic" "$(cat "$WORK/bad.json")"
report "3. valid tokens, during bad traffic" "$VALID2"
python3 - "$VALID" "$VALID2" <<'EOF'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
ra = a["counts"].get("200", 0) / a["elapsed"]
rb = b["counts"].get("200", 0) / b["elapsed"]
print(f"  valid 200/s from 127.0.0.2: alone {ra:.0f}, while 127.0.0.1 is throttled {rb:.0f} "
      f"({rb / ra * 100:.0f}%)")
EOF
