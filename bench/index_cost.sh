#!/usr/bin/env bash
# What the search index costs the write path: creates of the core benchmark's Patient and
# Observation (bench/bodies.h) at 64 clients against two builds of Hygie (A, B: e.g. before and
# after a change of the index layout), alternating A B A B ..., REPS times each, each run on a
# fresh data directory. After each run the server is stopped and the tenant's database is
# measured: index rows per resource (keyed hashes in idx_hash, date and number entries) and
# index bytes per resource (dbstat pages of the index tables and indexes, plus resource_current,
# which holds each resource's own hash list), and the bytes the server wrote (write(2) calls:
# WAL, checkpoints, journal) per resource. Prints a Markdown table of the medians and the
# B/A ratios. Needs the sqlite3 command line tool (scripts/install-deps.sh installs it).
# Usage: bench/index_cost.sh BUILD_A BUILD_B   (DURATION, WARMUP, CLIENTS, REPS, TYPES, PORT,
#   WORKDIR may be set; the raw lines are kept in $WORKDIR/runs.jsonl when WORKDIR is given)
set -euo pipefail
A=${1:?usage: bench/index_cost.sh BUILD_A BUILD_B}
B=${2:?usage: bench/index_cost.sh BUILD_A BUILD_B}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CLIENTS=${CLIENTS:-64}
REPS=${REPS:-3}
TYPES=${TYPES:-"Patient Observation"}
PORT=${PORT:-18480}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/lib.sh"
bench_workdir index-cost

echo "# $(machine_line)" >&2
for rep in $(seq "$REPS"); do
  for side in A B; do
    build=$A
    [ "$side" = B ] && build=$B
    for type in $TYPES; do
      rm -rf "$WORK/data"
      bench_install "$build/hygie" "$WORK/data" bench "$WORK/token"
      start_server "$build/hygie" "$WORK/data" "$PORT" "$WORK/server.log"
      ticks0=$(awk '{print $14 + $15}' /proc/$SERVER_PID/stat)
      wchar0=$(awk '/^wchar/{print $2}' /proc/$SERVER_PID/io)
      out=$("$build/bench/loadgen" --url http://127.0.0.1:$PORT --tenant bench \
        --token-file "$WORK/token" --mode create --type "$type" --concurrency "$CLIENTS" \
        --duration "$DURATION" --warmup "$WARMUP" --json) || true
      ticks1=$(awk '{print $14 + $15}' /proc/$SERVER_PID/stat)
      wchar1=$(awk '/^wchar/{print $2}' /proc/$SERVER_PID/io)
      stop_server
      db=$WORK/data/tenants/bench/data.db
      sizes=$(sqlite3 "$db" "SELECT (SELECT count(*) FROM resource_current),
        (SELECT count(*) FROM idx_hash), (SELECT count(*) FROM idx_date),
        (SELECT count(*) FROM idx_num),
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN
          ('idx_hash', 'idx_date', 'idx_date_k', 'idx_num', 'idx_num_k', 'idx_blocks')),
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = 'resource_current'),
        (SELECT coalesce(sum(pgsize), 0) FROM dbstat)")
      [ -n "$out" ] || out='{"rps":0,"latency_us":{"p50":0,"p99":0},"non2xx":0,"errors":{"no_run":1}}'
      python3 - "$side" "$rep" "$type" "$out" "$sizes" "$((ticks1 - ticks0))" \
        "$(getconf CLK_TCK)" "$DURATION" "$WARMUP" "$((wchar1 - wchar0))" >>"$RUNS" <<'EOF'
import json, sys
side, rep, typ, line, sizes, ticks, hz, duration, warmup, written = sys.argv[1:]
r = json.loads(line)
n, hashes, dates, numbers, index_bytes, current_bytes, db_bytes = map(int, sizes.split("|"))
r.update(side=side, rep=int(rep), type=typ, resources=n,
         load1=float(open("/proc/loadavg").read().split()[0]),
         hash_rows=hashes / n if n else 0, index_rows=(hashes + dates + numbers) / n if n else 0,
         index_bytes=index_bytes / n if n else 0,
         index_and_current_bytes=(index_bytes + current_bytes) / n if n else 0,
         db_bytes=db_bytes / n if n else 0)
served = r["rps"] * (float(duration) + float(warmup))
r["server_cpu_us_per_req"] = int(ticks) / int(hz) * 1e6 / served if served else 0
r["written_bytes"] = int(written) / n if n else 0  # write(2) bytes of the server per resource
print(json.dumps(r))
lat = r["latency_us"]
print(f"{side} #{rep} create {typ}: {r['rps']:,.0f} req/s, p99 {lat['p99'] / 1000:.2f} ms, "
      f"{r['index_rows']:.1f} index rows and {r['index_and_current_bytes']:,.0f} index bytes "
      f"per resource, server CPU {r['server_cpu_us_per_req']:.0f} us/req, load {r['load1']}",
      file=sys.stderr)
EOF
    done
  done
done

python3 - "$RUNS" "$CLIENTS" "$TYPES" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
clients, types = sys.argv[2], sys.argv[3].split()
def med(side, typ, key):
    vals = [r[key] if key in r else r["latency_us"][key] / 1000 for r in runs
            if r["side"] == side and r["type"] == typ]
    return statistics.median(vals) if vals else float("nan"), vals
cols = [("rps", "creates/s", ",.0f"), ("p99", "p99 ms", ".2f"),
        ("server_cpu_us_per_req", "server CPU µs/create", ",.0f"),
        ("hash_rows", "hash rows/resource", ".1f"), ("index_rows", "index rows/resource", ".1f"),
        ("index_and_current_bytes", "index bytes/resource", ",.0f"),
        ("db_bytes", "data.db bytes/resource", ",.0f"),
        ("written_bytes", "bytes written/resource", ",.0f")]
print(f"| create, {clients} clients | " + " | ".join(c[1] + " A / B" for c in cols) + " | B/A creates/s |")
print("|---|" + "---|" * (len(cols) + 1))
for typ in types:
    cells = []
    for key, _, fmt in cols:
        a, b = med("A", typ, key)[0], med("B", typ, key)[0]
        cells.append(f"{a:{fmt}} / {b:{fmt}}")
    ra, rb = med("A", typ, "rps")[0], med("B", typ, "rps")[0]
    print(f"| {typ} | " + " | ".join(cells) + f" | {rb / ra if ra else float('nan'):.2f} |")
print()
print("Runs (creates/s, in order, with the 1-minute load average after each):")
for typ in types:
    for side in ("A", "B"):
        vals = [f"{r['rps']:,.0f} ({r['load1']})" for r in runs
                if r["side"] == side and r["type"] == typ]
        print(f"- {typ} {side}: {' / '.join(vals)}")
failed = sum(r.get("non2xx", 0) + sum(r.get("errors", {}).values()) for r in runs)
print(f"\nFailed requests: {failed}")
EOF
