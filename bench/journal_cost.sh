#!/usr/bin/env bash
# Measures what the audit journal costs: the create and read rows of the core benchmark
# (bench/run.sh) at 64 clients, Patient and Observation, against two builds of Hygie, one
# without the journal (BASE) and one with it (JOURNAL). The two servers run alternately,
# BASE JOURNAL BASE JOURNAL ..., REPS times each, each start on a fresh data directory, so that
# a noisy shared machine hurts both sides alike. Prints a Markdown table of the medians (req/s,
# p50, p99, and the JOURNAL/BASE ratio of req/s), the server's CPU time per request (user +
# system, sampled from /proc around each row) and the journal's disk bytes per record
# (du -sb DATA/audit after a JOURNAL run, divided by the records of its trees; one record per
# request served).
# Usage: bench/journal_cost.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR
#   (DURATION, WARMUP, CLIENTS, REPS, PRELOAD, PORT, WORKDIR may be set; the raw loadgen JSON
#    lines are kept in $WORKDIR/runs.jsonl when WORKDIR is given)
set -euo pipefail
BASE=${1:?usage: bench/journal_cost.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR}
JOURNAL=${2:?usage: bench/journal_cost.sh BASE_BUILD_DIR JOURNAL_BUILD_DIR}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-64}
REPS=${REPS:-3}
PRELOAD=${PRELOAD:-2000}
PORT=${PORT:-18470}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
bench_workdir journal-cost

# journal_server BUILD: a fresh data directory, tenant "bench", a token, `hygie serve`.
journal_server() {
  rm -rf "$WORK/data"
  bench_install "$1/hygie" "$WORK/data" bench "$WORK/token"
  start_server "$1/hygie" "$WORK/data" "$PORT" "$WORK/server.log"
}

# Number of records in the journal's trees (the tree size of each tree's newest checkpoint;
# the server writes one at shutdown), or nothing if the build has no journal.
journal_records() {
  local h=$1/hygie total=0 n
  for tree in $(ls "$WORK/data/audit" 2>/dev/null); do
    [ -d "$WORK/data/audit/$tree" ] || continue
    if [ "$tree" = "bench" ] || [ -f "$WORK/data/tenants/$tree/data.db" ]; then
      n=$("$h" audit checkpoint --data "$WORK/data" --tenant "$tree" 2>/dev/null | sed -n 2p)
    else
      n=$("$h" audit checkpoint --data "$WORK/data" 2>/dev/null | sed -n 2p)
    fi
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

echo "# $(machine_line)" >&2
for rep in $(seq "$REPS"); do
  for side in base journal; do
    build=$BASE
    [ "$side" = journal ] && build=$JOURNAL
    journal_server "$build"
    for mode in create read; do
      for type in Patient Observation; do
        # Server CPU ticks (user + system) around the row, for CPU per request.
        ticks0=$(awk '{print $14 + $15}' /proc/$SERVER_PID/stat)
        out=$("$build/bench/loadgen" --url http://127.0.0.1:$PORT --tenant bench \
          --token-file "$WORK/token" --mode $mode --type $type --concurrency "$CLIENTS" \
          --duration "$DURATION" --warmup "$WARMUP" --preload "$PRELOAD" --json) || true
        ticks1=$(awk '{print $14 + $15}' /proc/$SERVER_PID/stat)
        [ -n "$out" ] || out="{\"mode\":\"$mode\",\"type\":\"$type\",\"rps\":0,\"latency_us\":{\"p50\":0,\"p99\":0},\"non2xx\":0,\"errors\":{\"no_run\":1}}"
        python3 - "$side" "$rep" "$out" "$((ticks1 - ticks0))" "$(getconf CLK_TCK)" \
          "$DURATION" "$WARMUP" "$PRELOAD" >>"$RUNS" <<'EOF'
import json, sys
side, rep, line, ticks, hz, duration, warmup, preload = sys.argv[1:]
r = json.loads(line)
r["side"], r["rep"] = side, int(rep)
r["load1"] = float(open("/proc/loadavg").read().split()[0])
# Requests served during the row, estimated: the window's rate over warm-up + window, plus
# the preload of read rows.
served = r["rps"] * (float(duration) + float(warmup)) + (int(preload) if r.get("mode") == "read" else 0)
r["server_cpu_us_per_req"] = int(ticks) / int(hz) * 1e6 / served if served else 0
print(json.dumps(r))
lat = r["latency_us"]
print(f"{side} #{rep} {r.get('mode')} {r.get('type')}: {r['rps']:,.0f} req/s, "
      f"p50 {lat['p50'] / 1000:.2f} ms, p99 {lat['p99'] / 1000:.2f} ms, "
      f"server CPU {r['server_cpu_us_per_req']:.0f} us/req, load {r['load1']}", file=sys.stderr)
EOF
      done
    done
    stop_server
    if [ "$side" = journal ]; then
      bytes=$(du -sb "$WORK/data/audit" 2>/dev/null | cut -f1) || bytes=0
      echo "{\"side\":\"footprint\",\"rep\":$rep,\"audit_bytes\":${bytes:-0},\"records\":$(journal_records "$build")}" >>"$RUNS"
    fi
  done
done

python3 - "$RUNS" "$CLIENTS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
clients = sys.argv[2]
def med(side, mode, typ, key):
    vals = []
    for r in runs:
        if r.get("side") != side or r.get("mode") != mode or r.get("type") != typ:
            continue
        vals.append(r[key] if key in r else r["latency_us"][key] / 1000)
    return statistics.median(vals), vals
print(f"| mode | type | clients | req/s without | req/s with journal | ratio | p50 ms without | p50 ms with | p99 ms without | p99 ms with | failed |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for mode in ("create", "read"):
    for typ in ("Patient", "Observation"):
        (rb, rbs), (rj, rjs) = med("base", mode, typ, "rps"), med("journal", mode, typ, "rps")
        p50b, p50j = med("base", mode, typ, "p50")[0], med("journal", mode, typ, "p50")[0]
        p99b, p99j = med("base", mode, typ, "p99")[0], med("journal", mode, typ, "p99")[0]
        failed = sum(r.get("non2xx", 0) + sum(r.get("errors", {}).values()) for r in runs
                     if r.get("mode") == mode and r.get("type") == typ)
        ratio = rj / rb if rb else float("nan")
        print(f"| {mode} | {typ} | {clients} | {rb:,.0f} | {rj:,.0f} | {ratio:.2f} | {p50b:.2f} | "
              f"{p50j:.2f} | {p99b:.2f} | {p99j:.2f} | {failed} |")
print()
# The machine's speed drifts over minutes; each journal run follows its base run, so the ratio
# of each pair is less exposed to the drift than the ratio of the medians.
print("Ratio of each pair (journal run / the base run just before it), and their median:")
for mode in ("create", "read"):
    for typ in ("Patient", "Observation"):
        bs, js = med("base", mode, typ, "rps")[1], med("journal", mode, typ, "rps")[1]
        pairs = [j / b for b, j in zip(bs, js) if b]
        if pairs:
            print(f"- {mode} {typ}: {' / '.join(f'{p:.2f}' for p in pairs)}; "
                  f"median **{statistics.median(pairs):.2f}**")
print()
print("Server CPU per request (user + system, median, µs; estimated over warm-up + window):")
print("| mode | type | without | with journal | difference |")
print("|---|---|---:|---:|---:|")
for mode in ("create", "read"):
    for typ in ("Patient", "Observation"):
        cb = med("base", mode, typ, "server_cpu_us_per_req")[0]
        cj = med("journal", mode, typ, "server_cpu_us_per_req")[0]
        print(f"| {mode} | {typ} | {cb:.0f} | {cj:.0f} | {cj - cb:+.0f} |")
print()
print("Runs (req/s, in order, with the 1-minute load average at the end of each row):")
for mode in ("create", "read"):
    for typ in ("Patient", "Observation"):
        b = [f"{v:,.0f} ({l})" for v, l in zip(med("base", mode, typ, "rps")[1],
                                              med("base", mode, typ, "load1")[1])]
        j = [f"{v:,.0f} ({l})" for v, l in zip(med("journal", mode, typ, "rps")[1],
                                              med("journal", mode, typ, "load1")[1])]
        print(f"- {mode} {typ}: without {' / '.join(b)}; with journal {' / '.join(j)}")
fp = [r for r in runs if r.get("side") == "footprint"]
if fp:
    print()
    print("Journal on disk after each journal run (du -sb DATA/audit / records in its trees):")
    for r in fp:
        per = r["audit_bytes"] / r["records"] if r["records"] else float("nan")
        print(f"- run {r['rep']}: {r['audit_bytes']:,} bytes, {r['records']:,} records, "
              f"{per:,.0f} bytes/record")
EOF
