#!/usr/bin/env bash
# Runs the real-client tests: installs the pinned clients, starts a Hygie server on a fresh data
# directory, drives it with fhir-kit-client and MedplumClient, then stops it.
#
# Environment:
#   HYGIE_BINARY        the hygie executable (required)
#   HYGIE_CLIENT_TESTS  comma list of parts to run: crud,search,transaction,history (default: all)
#   HYGIE_KEEP_DATA     when 1, keep the temporary directory (data, server log) for inspection
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
all_parts="crud,search,transaction,history"

if [[ -z "${HYGIE_BINARY:-}" ]]; then
  echo "run.sh: HYGIE_BINARY must name the hygie executable" >&2
  exit 2
fi
if [[ ! -x "$HYGIE_BINARY" ]]; then
  echo "run.sh: HYGIE_BINARY=$HYGIE_BINARY is not an executable" >&2
  exit 2
fi
binary="$(cd "$(dirname "$HYGIE_BINARY")" && pwd)/$(basename "$HYGIE_BINARY")"

files=()
IFS=',' read -r -a parts <<< "${HYGIE_CLIENT_TESTS:-$all_parts}"
for part in "${parts[@]}"; do
  part="${part// /}"
  [[ -z "$part" ]] && continue
  case ",$all_parts," in
    *",$part,"*) files+=("$part.test.mjs") ;;
    *) echo "run.sh: unknown part '$part' in HYGIE_CLIENT_TESTS (known: $all_parts)" >&2; exit 2 ;;
  esac
done
if [[ ${#files[@]} -eq 0 ]]; then
  echo "run.sh: HYGIE_CLIENT_TESTS names no part (known: $all_parts)" >&2
  exit 2
fi

cd "$here"
bash "$here/../../scripts/npm-ci.sh" "$here" >/dev/null

work="$(mktemp -d "${TMPDIR:-/tmp}/hygie-clients.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ "${HYGIE_KEEP_DATA:-0}" == "1" ]]; then
    echo "run.sh: kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

tenant="clients"
"$binary" init --data "$work/data" >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; exit 1; }
"$binary" tenant create "$tenant" --data "$work/data" >"$work/tenant.log" 2>&1 ||
  { cat "$work/tenant.log" >&2; exit 1; }
token="$("$binary" token issue --data "$work/data" --tenant "$tenant" --scope 'user/*.cruds' --ttl 1h)"

"$binary" serve --data "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
  >"$work/server.log" 2>&1 &
server_pid=$!

server_log_tail() {
  echo "---- server log (last 40 lines) ----" >&2
  tail -n 40 "$work/server.log" >&2 || true
}

# Wait for the port file, then for /readyz to answer 200 (at most 30 s).
port=""
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "run.sh: the server exited before it was ready" >&2
    server_log_tail
    exit 1
  fi
  if [[ -z "$port" && -s "$work/port" ]]; then port="$(tr -d '[:space:]' <"$work/port")"; fi
  if [[ -n "$port" ]] && node "$here/lib/ready.mjs" "http://127.0.0.1:$port/readyz"; then break; fi
  sleep 0.1
done
if [[ -z "$port" ]] || ! node "$here/lib/ready.mjs" "http://127.0.0.1:$port/readyz"; then
  echo "run.sh: the server did not become ready within 30 s" >&2
  server_log_tail
  exit 1
fi

# @medplum/core needs a global WebSocket, which Node 20 has only behind a flag.
node_flags=()
if ! node -e 'process.exit(typeof WebSocket === "undefined" ? 1 : 0)'; then
  node_flags+=(--experimental-websocket)
fi

status=0
HYGIE_BASE_URL="http://127.0.0.1:$port" HYGIE_TENANT="$tenant" HYGIE_TOKEN="$token" \
  node "${node_flags[@]}" --test "${files[@]}" || status=$?

# A graceful stop: SIGTERM, and the server must exit by itself, with status 0.
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=""
if [[ $server_status -ne 0 ]]; then
  echo "run.sh: the server exited with status $server_status after SIGTERM" >&2
  status=1
fi
if [[ $status -ne 0 ]]; then server_log_tail; fi
exit "$status"
