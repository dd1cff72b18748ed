#!/usr/bin/env bash
# Installs every package Hygie needs to build, run and test, from Debian 12's archive.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libssl-dev openssl libsqlite3-dev sqlite3
  rapidjson-dev libsimdjson-dev libcli11-dev libspdlog-dev libfmt-dev libzstd-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy
  clang libclang-rt-14-dev
  procps curl ca-certificates
  rsyslog rsyslog-gnutls
  python3-boto3
  libexpat1-dev
  radosgw ceph-mon ceph-osd ceph-common
  testssl.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node.js and npm run the real-client tests (tests/clients) and the definitions generator
# (tools/r4gen). The machine's own Node.js (20 or later) is used when present; otherwise
# Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
