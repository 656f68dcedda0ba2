#!/usr/bin/env bash
# A private Docker engine for reliability tests: a second dockerd with its own socket,
# data root, exec root (hence its own managed containerd), pid file, network namespace,
# and no bridge or iptables, so that it can be stopped, restarted and SIGSTOPped without
# touching the shared engine at /var/run/docker.sock (nor its docker0 bridge).
#
#   scripts/private-engine.sh start  DIR [ARG...]  # start (idempotent); loads the test image;
#                                           # ARGs go to dockerd (at the first start)
#   scripts/private-engine.sh stop   DIR   # stop and wait until it has exited (idempotent)
#   scripts/private-engine.sh pause  DIR   # SIGSTOP the private dockerd (stall)
#   scripts/private-engine.sh resume DIR   # SIGCONT it
#   scripts/private-engine.sh status DIR   # prints running | paused | stopped
#   scripts/private-engine.sh wipe   DIR   # stop, unmount and delete DIR
#
# The socket is DIR/docker.sock. Only a process whose command line names DIR is ever
# signalled: the shared engine is never touched.
#
# For scripts/swarm-up.sh (a node of a two-node swarm), two settings:
#   PRIVATE_ENGINE_NETNS=name   run in that network namespace (made by the caller; its
#                               own `moorage-pe-…` otherwise); wipe deletes it either way
#   PRIVATE_ENGINE_HOSTNAME=h   also its own mount, UTS and PID namespaces: hostname h,
#                               a /sys of its network namespace (libnetwork writes there
#                               by interface name), private /run/docker and /run/containerd,
#                               its own engine key (not /etc/docker/key.json: its own node
#                               ID), tini as PID 1. Its mounts never show on the host and
#                               it all ends with the dockerd.
#   PRIVATE_ENGINE_STOP_WAIT=s  how long stop waits before SIGKILL (default 30)
#
# For scripts/tls-engine.sh (an engine served on the host's loopback):
#   PRIVATE_ENGINE_LISTEN_PORT=p  bind the HOST's 127.0.0.1:p and hand it to dockerd as
#                               fd 3 (systemd's socket activation protocol; pass
#                               `--host fd://` as an ARG), since a dockerd inside its
#                               namespace listens on that namespace's loopback only.
#                               Not with PRIVATE_ENGINE_HOSTNAME (its PID namespace forks).
set -euo pipefail

# shellcheck source=scripts/lib-engine.sh
. "$(dirname "$0")/lib-engine.sh"
engine_command_and_dir "start|stop|pause|resume|status|wipe" "$@"
shift 2

sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
logfile="$dir/dockerd.log"
image=${MOORAGE_TEST_IMAGE:-moorage-test/busybox:latest}

# Its own network namespace (see start).
netns=${PRIVATE_ENGINE_NETNS:-"moorage-pe-$(printf %s "$dir" | md5sum | cut -c1-8)"}
hostname=${PRIVATE_ENGINE_HOSTNAME:-}
listen_port=${PRIVATE_ENGINE_LISTEN_PORT:-}

say() { printf 'private-engine: %s\n' "$*" >&2; }

# The pid of OUR dockerd, or nothing: the pid file must name a live dockerd whose
# command line carries our socket.
our_pid() {
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "unix://$sock"; then
    echo "$pid"
  fi
}

# Our dockerd when the pid file is gone (e.g. removed while it ran).
find_pid() {
  local pid
  pid=$(our_pid)
  if [ -z "$pid" ]; then
    pid=$(pgrep -f -- "dockerd --host unix://$sock " | head -1 || true)
  fi
  echo "$pid"
}

proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }

answers() { timeout 3 docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

status() {
  local pid
  pid=$(find_pid)
  if [ -z "$pid" ]; then echo stopped; return; fi
  case "$(proc_state "$pid")" in
    T|t) echo paused ;;
    *) echo running ;;
  esac
}

# The script PID 1 of an isolated engine runs (in its new namespaces) before dockerd.
isolated_init() {
  mkdir -p "$dir/cgroup"
  {
    echo '#!/bin/sh'
    echo 'set -e'
    echo "hostname '$hostname'"
    # A /sys of this network namespace, with the host's cgroup mounts moved over.
    echo "mount --rbind /sys/fs/cgroup '$dir/cgroup'"
    echo 'mount -t sysfs sysfs /sys'
    echo "mount --move '$dir/cgroup' /sys/fs/cgroup"
    echo 'mount -t tmpfs tmpfs /run/containerd 2>/dev/null || { mkdir -p /run/containerd; mount -t tmpfs tmpfs /run/containerd; }'
    echo 'mkdir -p /run/docker && mount -t tmpfs tmpfs /run/docker'
    printf 'exec tini --'
    printf " '%s'" "$@"
    echo
  } >"$dir/init.sh"
  chmod +x "$dir/init.sh"
}

# Bind 127.0.0.1:PORT here (the host's namespace), then become the command given (nsenter
# → dockerd) in the same process (nsenter without --pid does not fork): LISTEN_PID holds.
# shellcheck disable=SC2016
socket_activation='
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(128)
fd = s.detach()
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execvp(sys.argv[2], sys.argv[2:])
'

start() {
  local pid
  pid=$(find_pid)
  if [ -n "$pid" ]; then
    [ "$(proc_state "$pid")" = T ] && kill -CONT "$pid"
  else
    mkdir -p "$dir/data" "$dir/exec"
    # A stale pid file (no dockerd of ours runs) would make dockerd refuse to start.
    rm -f "$pidfile" "$sock"
    # Its own network namespace: a dockerd started with `--bridge none` deletes the
    # host's default bridge interface (docker0) at start, which breaks the shared engine.
    ip netns add "$netns" 2>/dev/null || true
    ip netns exec "$netns" ip link set lo up 2>/dev/null || true
    local args=(dockerd --host "unix://$sock" "$@"
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile"
      --bridge none --iptables=false --ip-masq=false --ip-forward=false
      --shutdown-timeout 2 --log-level warn)
    if [ -n "$listen_port" ]; then
      [ -z "$hostname" ] || { say "PRIVATE_ENGINE_LISTEN_PORT goes without PRIVATE_ENGINE_HOSTNAME"; exit 2; }
      nohup python3 -c "$socket_activation" "$listen_port" \
        nsenter --net="/var/run/netns/$netns" "${args[@]}" \
        >>"$logfile" 2>&1 </dev/null &
    elif [ -z "$hostname" ]; then
      nohup nsenter --net="/var/run/netns/$netns" "${args[@]}" \
        >>"$logfile" 2>&1 </dev/null &
    else
      printf '{"deprecated-key-path": "%s"}\n' "$dir/key.json" >"$dir/daemon.json"
      isolated_init "${args[@]}" --config-file "$dir/daemon.json"
      nohup nsenter --net="/var/run/netns/$netns" unshare --mount --uts --pid --fork \
        --kill-child --propagation slave --mount-proc "$dir/init.sh" \
        >>"$logfile" 2>&1 </dev/null &
    fi
  fi
  for _ in $(seq 1 150); do
    answers && break
    sleep 0.2
  done
  answers || { say "dockerd did not answer on $sock; see $logfile:"; tail -20 "$logfile" >&2; exit 1; }
  if [ "${PRIVATE_ENGINE_NO_IMAGE:-}" != 1 ] \
    && ! docker -H "unix://$sock" image inspect "$image" >/dev/null 2>&1; then
    docker save "$image" | docker -H "unix://$sock" load -q >/dev/null
  fi
  echo "unix://$sock"
}

stop() {
  local pid
  pid=$(find_pid)
  if [ -n "$pid" ]; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    # It keeps its pid file until it has fully exited: wait for the process itself.
    local wait=${PRIVATE_ENGINE_STOP_WAIT:-30}
    for _ in $(seq 1 $((wait * 10))); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      say "dockerd $pid did not exit in $wait s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while [ -d "/proc/$pid" ]; do sleep 0.1; done
    fi
  fi
  # Its managed containerd normally goes with it.
  local cpid
  cpid=$(pgrep -f -- "containerd --config $dir/exec/containerd/containerd.toml" || true)
  for p in $cpid; do kill -TERM "$p" 2>/dev/null || true; done
  rm -f "$pidfile"
}

wipe() {
  stop
  # Kill leftover shims of our containerd, then unmount anything under DIR.
  local spids
  spids=$(pgrep -f -- "-address $dir/exec/containerd/containerd.sock" || true)
  for p in $spids; do kill -KILL "$p" 2>/dev/null || true; done
  awk -v d="$dir/" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir"
  ip netns del "$netns" 2>/dev/null || true
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  pause)
    pid=$(find_pid)
    [ -n "$pid" ] || { say "not running"; exit 1; }
    kill -STOP "$pid"
    ;;
  resume)
    pid=$(find_pid)
    [ -n "$pid" ] || { say "not running"; exit 1; }
    kill -CONT "$pid"
    ;;
  status) status ;;
  wipe) wipe ;;
  *) echo "usage: $0 start|stop|pause|resume|status|wipe DIR" >&2; exit 2 ;;
esac
