# Shared by the benchmark scripts (source it): a fresh installation and a `hygie serve` that is
# stopped on exit. Callers set `set -euo pipefail` themselves.

SERVER_PID=

# bench_install HYGIE DATA_DIR TENANT TOKEN_FILE [TTL]: a data directory with one tenant and a
# token (TTL, default 2h) that may do everything in it.
bench_install() {
  local h=$1 data=$2 tenant=$3 token=$4 ttl=${5:-2h}
  "$h" init --data "$data" 2>/dev/null
  "$h" tenant create "$tenant" --data "$data" 2>/dev/null
  "$h" token issue --data "$data" --tenant "$tenant" --scope 'user/*.cruds' --ttl "$ttl" >"$token"
}

# start_server HYGIE DATA_DIR PORT LOG [serve arguments...]: starts `hygie serve` on
# 127.0.0.1:PORT (its pid in SERVER_PID) and waits until it is ready; exits with its log if it
# is not within 10 s.
start_server() {
  local h=$1 data=$2 port=$3 log=$4
  shift 4
  "$h" serve --data "$data" --listen 127.0.0.1:"$port" "$@" 2>"$log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start" >&2
  cat "$log" >&2
  exit 1
}

# stop_server: stops the server start_server started, if any, and waits for it.
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}

# machine_line: date, cores, CPU model and load average, for the head of a result.
machine_line() {
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo |
    cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# bench_workdir NAME: sets WORK (WORKDIR when given, then kept; else a fresh
# /var/tmp/hygie-NAME-XXXXXX, removed on exit) and RUNS (WORK/runs.jsonl, emptied), and traps
# the exit to stop the server and remove WORK/data.
bench_workdir() {
  KEEP=${WORKDIR:+1}
  WORK=${WORKDIR:-$(mktemp -d /var/tmp/hygie-"$1"-XXXXXX)}
  mkdir -p "$WORK"
  RUNS=$WORK/runs.jsonl
  : >"$RUNS"
  trap bench_cleanup EXIT
}
bench_cleanup() {
  stop_server
  rm -rf "$WORK/data"
  [ -n "$KEEP" ] || rm -rf "$WORK"
}
