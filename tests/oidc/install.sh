#!/usr/bin/env bash
# Installs the pinned oidc-provider (package-lock.json) with `npm ci` when node_modules is
# missing or does not match the lock file; otherwise does nothing (scripts/npm-ci.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec bash "$here/../../scripts/npm-ci.sh" "$here"
