#!/usr/bin/env bash
# Smoke test of the test OpenID Connect provider: installs it (install.sh), starts two instances,
# gets one token per flow with flows.mjs, and checks discovery, the JWKS and every token (alg,
# kid, signature, iss, aud, exp, claims) with check.mjs; also that a wrong client secret, a wrong
# password and a missing PKCE challenge are refused. Exits non-zero on any failure.
#
# Environment: OIDC_KEEP_DATA=1 keeps the temporary directory (provider logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/install.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/hygie-oidc.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ "${OIDC_KEEP_DATA:-0}" == "1" ]]; then
    echo "run-check.sh: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

fail() {
  echo "run-check.sh: $*" >&2
  for log in "$work"/*.err; do
    echo "---- $log ----" >&2
    tail -n 20 "$log" >&2 || true
  done
  exit 1
}

# Starts a provider; its ready line goes to $work/$1.json.
start() {
  node "$here/provider.mjs" --port 0 --ready-file "$work/$1.json" >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  local pid=$!
  for _ in $(seq 1 300); do
    [[ -s "$work/$1.json" ]] && return 0
    kill -0 "$pid" 2>/dev/null || fail "provider $1 exited before it was ready"
    sleep 0.1
  done
  fail "provider $1 not ready within 30 s"
}
start a
start b
ready="$work/a.json"

flow() {
  node "$here/flows.mjs" "$@" --ready-file "$ready" 2>>"$work/flows.err" ||
    fail "flows.mjs $* failed: $(tail -n 1 "$work/flows.err")"
}

args=()
for alg in RS256 ES256 EdDSA; do
  args+=("$alg=$(flow client-credentials --alg "$alg")")
done
args+=("patient=$(flow client-credentials --client hygie-patient)")
args+=("code=$(flow authorization-code)")
args+=("code-patient=$(flow authorization-code --user patient --alg RS256)")
args+=("other-audience=$(flow client-credentials --resource urn:hygie-test:other-audience)")
args+=("expired=$(flow expired)")
args+=("short=$(flow expired --wait 0)")

node "$here/check.mjs" "$ready" "$work/b.json" "${args[@]}" || fail "check.mjs failed"

# Refusals: the flows must fail, with status 1.
refused() {
  local status=0
  node "$here/flows.mjs" "$@" --ready-file "$ready" >/dev/null 2>>"$work/refused.err" || status=$?
  [[ $status -eq 1 ]] || fail "flows.mjs $* exited with $status, expected a refusal (1)"
}
refused client-credentials --secret wrong-secret
refused client-credentials --client nobody
refused client-credentials --resource urn:hygie-test:unknown
refused authorization-code --password wrong-password
refused authorization-code --user nobody

# A graceful stop: SIGTERM, status 0.
for pid in "${pids[@]}"; do
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  [[ $status -eq 0 ]] || fail "provider $pid exited with $status after SIGTERM"
done
pids=()
echo "run-check.sh: ok"
