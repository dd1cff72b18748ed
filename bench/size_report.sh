#!/usr/bin/env bash
# Disk size of one tenant's database against the raw JSON it holds.
# Usage: bench/size_report.sh DATA_DIR TENANT [RESOURCES|TENANT_GEN_OUTPUT] [RAW_JSON_BYTES]
#   RESOURCES        number of resources stored, or
#   TENANT_GEN_OUTPUT a file holding tenant_gen's final line (resources=... raw_json_bytes=...),
#                    which gives both numbers.
# Prints the size of DATA_DIR/tenants/TENANT/data.db, its -wal and -shm files and their sum,
# everything else in the tenant's directory, bytes per resource, and the ratio to the raw JSON
# bytes (the resources as sent, compact UTF-8), for the sum and for data.db alone (the WAL file
# keeps its largest size until the server truncates it, which weighs on small tenants, while
# pages not yet checkpointed are only in the WAL). With the sqlite3 command line tool, it also
# splits data.db by table and index (dbstat; read-only, the WAL's pages are not in it).
# Exit code: 0 success, 1 no such database, 2 usage error.
set -euo pipefail

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
if [ $# -lt 2 ] || [ $# -gt 4 ]; then usage; fi
DATA=$1
TENANT=$2
RESOURCES=
RAW=${4:-}
if [ $# -ge 3 ]; then
  if [[ $3 =~ ^[0-9]+$ ]]; then
    RESOURCES=$3
  elif [ -f "$3" ]; then
    line=$(grep -a 'tenant_gen: done' "$3" | tail -n 1 || true)
    [ -n "$line" ] || { echo "size_report: no 'tenant_gen: done' line in $3" >&2; exit 2; }
    RESOURCES=$(sed -n 's/.* resources=\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$RAW" ] || RAW=$(sed -n 's/.* raw_json_bytes=\([0-9]*\).*/\1/p' <<<"$line")
  else
    echo "size_report: '$3' is neither a number nor a file" >&2
    exit 2
  fi
fi
[ -z "$RAW" ] || [[ $RAW =~ ^[0-9]+$ ]] || usage

DIR=$DATA/tenants/$TENANT
DB=$DIR/data.db
[ -f "$DB" ] || { echo "size_report: no database at $DB" >&2; exit 1; }

size_of() { if [ -f "$1" ]; then stat -c %s "$1"; else echo 0; fi; }
human() {
  awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u); i = 1
    while (b >= 1024 && i < 5) { b /= 1024; i++ }
    printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'
}

db=$(size_of "$DB")
wal=$(size_of "$DB-wal")
shm=$(size_of "$DB-shm")
total=$((db + wal + shm))
dir_total=$(du -sb "$DIR" | cut -f1)
other=$((dir_total - total))

echo "tenant $TENANT in $DATA"
printf '  %-22s %14s  %s\n' "data.db" "$db" "$(human "$db")"
printf '  %-22s %14s  %s\n' "data.db-wal" "$wal" "$(human "$wal")"
printf '  %-22s %14s  %s\n' "data.db-shm" "$shm" "$(human "$shm")"
printf '  %-22s %14s  %s\n' "database total" "$total" "$(human "$total")"
printf '  %-22s %14s  %s\n' "other files in tenant" "$other" "$(human "$other")"
if [ -n "$RESOURCES" ] && [ "$RESOURCES" -gt 0 ]; then
  awk -v t="$total" -v d="$db" -v n="$RESOURCES" -v r="${RAW:-0}" 'BEGIN {
    printf "  resources              %14d\n", n
    printf "  disk bytes/resource    %14.1f   (data.db alone: %.1f)\n", t / n, d / n
    if (r > 0) {
      printf "  raw JSON bytes         %14d\n", r
      printf "  raw JSON bytes/resource%14.1f\n", r / n
      printf "  disk / raw JSON        %14.2f   (data.db alone: %.2f)\n", t / r, d / r
    }
  }'
fi

if command -v sqlite3 >/dev/null 2>&1; then
  # umask: a -shm file sqlite3 may create is private, like the server's own files.
  breakdown=$(
    umask 077
    sqlite3 -readonly -separator ' ' "$DB" \
      "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC;" 2>/dev/null
  ) || breakdown=
  if [ -n "$breakdown" ]; then
    echo "  data.db by table and index (dbstat, without the WAL):"
    while read -r name bytes; do
      if [ -n "$RESOURCES" ] && [ "$RESOURCES" -gt 0 ]; then
        printf '    %-40s %14s  %10s  %8.1f B/resource\n' "$name" "$bytes" "$(human "$bytes")" \
          "$(awk -v b="$bytes" -v n="$RESOURCES" 'BEGIN { print b / n }')"
      else
        printf '    %-40s %14s  %10s\n' "$name" "$bytes" "$(human "$bytes")"
      fi
    done <<<"$breakdown"
  fi
fi
