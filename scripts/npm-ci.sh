#!/usr/bin/env bash
# npm-ci.sh DIR: installs the packages pinned by DIR/package-lock.json with `npm ci` when
# DIR/node_modules is missing or does not match the lock file; otherwise does nothing. Safe to
# run concurrently: runs for one DIR are serialized by a lock file under TMPDIR.
set -euo pipefail

dir="$(cd "${1:?usage: scripts/npm-ci.sh DIR}" && pwd)"
cd "$dir"

# True when node_modules holds exactly the versions of package-lock.json.
installed() {
  [[ -f node_modules/.package-lock.json ]] || return 1
  [[ ! package-lock.json -nt node_modules/.package-lock.json ]] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    for (const [path, p] of Object.entries(want)) {
      if (path === "" || p.optional) continue;
      if (!have[path] || have[path].version !== p.version) process.exit(1);
    }' 2>/dev/null
}

if installed; then exit 0; fi
lock="${TMPDIR:-/tmp}/hygie-npm-ci.$(printf '%s' "$dir" | cksum | cut -d' ' -f1).lock"
exec 9>"$lock"
flock 9
if installed; then exit 0; fi
npm ci --no-audit --no-fund --loglevel=error >&2
