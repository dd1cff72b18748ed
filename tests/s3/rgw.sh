#!/usr/bin/env bash
# A real single-node Ceph RGW (S3 with Object Lock) on 127.0.0.1 for tests: one mon, one OSD
# (bluestore on a sparse file), one radosgw; no systemd, no cephx, no mgr. Everything lives
# under DIR, so several instances run side by side (each picks its own free mon port).
#
#   tests/s3/rgw.sh start DIR PORT   # S3 endpoint http://127.0.0.1:PORT
#   tests/s3/rgw.sh stop DIR
#
# start is safe to repeat: on a running instance it only rewrites the credentials file; on a
# stopped one it starts the daemons again on the same data (no mkfs). It waits for readiness by
# polling and creates three users with fixed test keys:
#   owner   owns the test buckets and sets their policies (an administrator's credential)
#   server  caps user-policy=* (the credential a Hygie server holds)
#   prune   the credential that deletes expired versions
# Their keys go to DIR/credentials (mode 0600), one NAME=VALUE per line:
#   endpoint=http://127.0.0.1:PORT
#   region=us-east-1
#   owner_access_key=...    owner_secret_key=...
#   server_access_key=...   server_secret_key=...
#   prune_access_key=...    prune_secret_key=...
# No key is ever on the command line of a long-lived process (only of radosgw-admin, which
# exits at once).
#
# stop ends radosgw, then the OSD, then the mon, by their recorded PIDs, and waits for each to
# exit. Installs nothing: see scripts/install-deps.sh (radosgw ceph-mon ceph-osd ceph-common).
set -euo pipefail

die() {
  echo "rgw.sh: $*" >&2
  exit 1
}

usage() { die "usage: rgw.sh start DIR PORT | rgw.sh stop DIR"; }

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
conf=$dir/ceph.conf

# Fixed test keys (20-character access key ids, 40-character secrets, as AWS's).
declare -A ACCESS=([owner]=HYGIEOWNERTESTKEY001 [server]=HYGIESERVERTESTKEY01 [prune]=HYGIEPRUNETESTKEY001)
declare -A SECRET=(
  [owner]=owner0test0secret0aaaaaaaaaaaaaaaaaaaaaa
  [server]=server0test0secret0bbbbbbbbbbbbbbbbbbbbb
  [prune]=prune0test0secret0cccccccccccccccccccccc
)

now_ms() { date +%s%3N; }

# Records how long each step of start took (DIR/log/phases), to see where the seconds go.
phase() { echo "$(($(now_ms) - t0)) ms: $*" >>"$dir/log/phases"; }

# True while the process exists and is not a zombie.
alive() {
  local pid=$1 state
  [ -n "$pid" ] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

pid_of() { cat "$dir/run/$1.pid.hygie" 2>/dev/null || true; }

# wait_for DESCRIPTION TIMEOUT_S DAEMON COMMAND...: polls COMMAND every 50 ms until it succeeds;
# fails at once if DAEMON (mon, osd, rgw) has exited (e.g. its port was taken).
wait_for() {
  local what=$1 timeout=$2 daemon=$3
  shift 3
  local deadline=$(($(now_ms) + timeout * 1000))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$(pid_of "$daemon")"; then
      echo "rgw.sh: $what exited; last lines of $dir/log/$daemon.out:" >&2
      tail -5 "$dir/log/$daemon.out" >&2 || true
      return 1
    fi
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "rgw.sh: $what not ready after ${timeout}s; logs in $dir/log" >&2
      return 1
    fi
    sleep 0.05
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ceph_cli() { ceph -c "$conf" --connect-timeout 10 "$@"; }

mon_ready() { ceph_cli mon stat; }
crush_add() { ceph_cli osd crush add osd.0 1.0 root=default >"$dir/log/osd-crush.out" 2>&1; }
osd_ready() {
  local pid
  pid=$(pid_of osd)
  alive "$pid" || return 1
  ceph --admin-daemon "$dir/run/osd.0.asok" status 2>/dev/null | grep -q '"state": "active"'
}
rgw_ready() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/"; }

# spawn NAME COMMAND...: starts a daemon in the foreground (-f) in the background, output to
# DIR/log/NAME.out, and records its PID.
spawn() {
  local name=$1
  shift
  "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
  echo $! >"$dir/run/$name.pid.hygie"
}

write_conf() {
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
ms bind msgr2 = false
ms bind ipv6 = false
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon data avail crit = 1
mon data avail warn = 2
mon pg warn min per osd = 0
osd objectstore = bluestore
ms async op threads = 1

[mon]
mon data = $dir/mon/\$id
paxos propose interval = 0.05
mon osd prime pg temp = false

[osd]
osd data = $dir/osd/\$id
osd crush update on start = false
osd class update on start = false
osd op num shards = 1
osd op num threads per shard = 2
bluestore block path = $dir/osd.0.block
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mount = false
bluestore cache size = 67108864
osd memory target = 536870912

[client.admin]
admin socket =

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw
rgw thread pool size = 16
rgw enable usage log = false
EOF
}

write_credentials() {
  local tmp=$dir/credentials.tmp
  (
    umask 077
    {
      echo "endpoint=http://127.0.0.1:$rgw_port"
      echo "region=us-east-1"
      for u in owner server prune; do
        echo "${u}_access_key=${ACCESS[$u]}"
        echo "${u}_secret_key=${SECRET[$u]}"
      done
    } >"$tmp"
  )
  chmod 600 "$tmp"
  mv -f "$tmp" "$dir/credentials"
}

ensure_user() {
  local u=$1 caps=()
  [ "$u" = server ] && caps=(--caps=user-policy=*)
  if radosgw-admin -c "$conf" user info --uid="$u" >/dev/null 2>&1; then return 0; fi
  radosgw-admin -c "$conf" user create --uid="$u" --display-name="$u" "${caps[@]}" \
    --access-key="${ACCESS[$u]}" --secret-key="${SECRET[$u]}" >"$dir/log/user-$u.out" 2>&1 ||
    die "cannot create user $u (see $dir/log/user-$u.out)"
}

start() {
  [ $# -ge 3 ] || usage
  rgw_port=$3
  [[ $rgw_port =~ ^[0-9]+$ ]] || die "PORT must be a number"
  for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool curl python3; do
    command -v "$tool" >/dev/null || die "$tool missing: run scripts/install-deps.sh as root"
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  conf=$dir/ceph.conf
  t0=$(now_ms)

  if alive "$(pid_of rgw)" && alive "$(pid_of osd)" && alive "$(pid_of mon)"; then
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    [ "$rgw_port" = "$RGW_PORT" ] || die "already running on port $RGW_PORT"
    write_credentials
    echo "rgw.sh: already running on 127.0.0.1:$rgw_port"
    return 0
  fi
  # A partial instance (some daemon died): stop what is left, then start again on its data.
  stop_daemons

  mkdir -p "$dir/run" "$dir/log" "$dir/mon" "$dir/osd/0" "$dir/rgw"
  local fresh=0
  if [ -f "$dir/cluster.env" ]; then
    # shellcheck disable=SC1091
    . "$dir/cluster.env"
    fsid=$FSID
    mon_port=$MON_PORT
  else
    fresh=1
    fsid=$(cat /proc/sys/kernel/random/uuid)
    mon_port=$(free_port)
  fi
  write_conf

  if [ "$fresh" = 1 ]; then
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" \
      >"$dir/log/monmaptool.out" 2>&1 || die "monmaptool failed (see $dir/log)"
    ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" >"$dir/log/mon-mkfs.out" 2>&1 ||
      die "ceph-mon --mkfs failed (see $dir/log/mon-mkfs.out)"
  fi
  spawn mon ceph-mon -c "$conf" -f -i a

  if [ "$fresh" = 1 ]; then
    local osd_uuid crush_pid
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    # The first command the mon answers is the readiness probe ("osd new" with the same uuid and
    # id is idempotent).
    wait_for "the mon" 30 mon ceph_cli osd new "$osd_uuid" 0
    phase "mon ready, osd.0 registered"
    # The crush entry and the OSD's mkfs do not depend on each other. The mon may refuse the
    # crush entry for a moment after answering "osd new" (seen once in CI): the entry is polled
    # until it holds ("crush add" of an item already at its place succeeds).
    wait_for "the crush entry of osd.0" 30 mon crush_add &
    crush_pid=$!
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/log/osd-mkfs.out" 2>&1 ||
      die "ceph-osd --mkfs failed (see $dir/log/osd-mkfs.out)"
    wait "$crush_pid" ||
      die "ceph osd crush add failed: $(tail -3 "$dir/log/osd-crush.out" 2>/dev/null | tr '\n' ' ')"
  else
    wait_for "the mon" 30 mon mon_ready
    phase "mon ready"
  fi
  phase "osd created"
  spawn osd ceph-osd -c "$conf" -f -i 0
  wait_for "the OSD" 60 osd osd_ready
  phase "osd active"

  spawn rgw radosgw -c "$conf" -f -n client.rgw.a
  wait_for "radosgw" 60 rgw rgw_ready
  phase "radosgw answers"

  local pids=() u
  for u in owner server prune; do
    ensure_user "$u" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "cannot create the test users"; done
  phase "users created"
  printf 'FSID=%s\nMON_PORT=%s\nRGW_PORT=%s\n' "$fsid" "$mon_port" "$rgw_port" >"$dir/cluster.env"
  write_credentials
  echo "rgw.sh: ready on http://127.0.0.1:$rgw_port in $(($(now_ms) - t0)) ms (mon port $mon_port)"
}

# stop_one NAME TIMEOUT_S: SIGTERM by PID, wait for the exit, SIGKILL after the timeout.
stop_one() {
  local name=$1 timeout=$2 pid
  pid=$(pid_of "$name")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(($(now_ms) + timeout * 1000))
    while alive "$pid"; do
      if [ "$(now_ms)" -gt "$deadline" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$(($(now_ms) + 5000))
      fi
      sleep 0.05
    done
  fi
  rm -f "$dir/run/$name.pid.hygie"
}

stop_daemons() {
  # radosgw before the OSD (or radosgw hangs for minutes), the mon last.
  stop_one rgw 15
  stop_one osd 15
  stop_one mon 15
}

case $cmd in
  start) start "$@" ;;
  stop)
    [ -d "$dir" ] || exit 0
    dir=$(cd "$dir" && pwd)
    stop_daemons
    ;;
  *) usage ;;
esac
