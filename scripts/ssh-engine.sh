#!/usr/bin/env bash
# A private Docker engine reached over SSH: a private dockerd (scripts/private-engine.sh,
# at DIR/engine) and Debian's sshd started by hand on the host's 127.0.0.1:PORT, key
# auth only, `UsePAM no`, `SetEnv DOCKER_HOST=unix://DIR/engine/docker.sock` so that the
# remote `docker system dial-stdio` reaches that engine. Keys are made at the first start.
#
#   scripts/ssh-engine.sh start      DIR  # start both (idempotent); prints url= key= known_hosts= lines
#   scripts/ssh-engine.sh stop       DIR  # stop sshd (and its sessions) and the engine
#   scripts/ssh-engine.sh pause      DIR  # SIGSTOP the engine's dockerd (sshd keeps answering)
#   scripts/ssh-engine.sh resume     DIR  # SIGCONT it
#   scripts/ssh-engine.sh sshd-down  DIR  # stop sshd only (and its sessions): the engine stays
#   scripts/ssh-engine.sh sshd-up    DIR  # start sshd again on the same port
#   scripts/ssh-engine.sh dial-stdio DIR  # how many remote `docker system dial-stdio` run
#   scripts/ssh-engine.sh status     DIR  # prints "sshd: up|down engine: running|paused|stopped"
#   scripts/ssh-engine.sh wipe       DIR  # stop, and delete DIR
#
# DIR/client holds id_ed25519 (authorised), other_ed25519 (not authorised), known_hosts
# (the server's key) and known_hosts.other (another key under the same name). sshd
# accepts every environment variable a client sends (`AcceptEnv *`) and each session
# writes what it got to DIR/sessions/<pid>.env: a test reads there what travelled.
# PORT: $SSH_ENGINE_PORT, else a free port chosen at the first start (DIR/port).
# $SSH_ENGINE_MAX_SESSIONS: sshd's MaxSessions (default OpenSSH's 10), read at sshd-up.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib-engine.sh
. "$here/lib-engine.sh"
engine_command_and_dir "start|stop|pause|resume|sshd-down|sshd-up|dial-stdio|status|wipe" "$@"

engine="$dir/engine"
sock="$engine/docker.sock"
config="$dir/sshd_config"
pidfile="$dir/sshd.pid"

say() { printf 'ssh-engine: %s\n' "$*" >&2; }

# The pid of OUR listening sshd, or nothing.
sshd_pid() {
  local pid=""
  [ -f "$pidfile" ] && pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-f $config"; then
    echo "$pid"
    return
  fi
  pgrep -f -- "^/usr/sbin/sshd -f $config" | head -1 || true
}

descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

keys() {
  [ -f "$dir/client/known_hosts.other" ] && return 0
  umask 077
  mkdir -p "$dir/client" "$dir/sessions"
  rm -f "$dir"/ssh_host_* "$dir"/client/*
  ssh-keygen -q -t ed25519 -N '' -C moorage-test-host -f "$dir/ssh_host_ed25519_key"
  ssh-keygen -q -t ed25519 -N '' -C moorage-test-client -f "$dir/client/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C moorage-test-refused -f "$dir/client/other_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C moorage-test-impostor -f "$dir/client/impostor_host_key"
  cp "$dir/client/id_ed25519.pub" "$dir/authorized_keys"
}

configure() {
  local port=$1
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" \
    >"$dir/client/known_hosts"
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/client/impostor_host_key.pub")" \
    >"$dir/client/known_hosts.other"
  # Each session records the environment sshd gave it, then runs what was asked.
  cat >"$dir/session.sh" <<EOF
#!/bin/sh
env >"$dir/sessions/\$\$.env"
exec /bin/sh -c "\$SSH_ORIGINAL_COMMAND"
EOF
  chmod 700 "$dir/session.sh"
  cat >"$config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/ssh_host_ed25519_key
PidFile $pidfile
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AcceptEnv *
SetEnv DOCKER_HOST=unix://$sock
ForceCommand $dir/session.sh
PrintMotd no
LogLevel VERBOSE
MaxSessions ${SSH_ENGINE_MAX_SESSIONS:-10}
EOF
}

sshd_up() {
  local port
  [ -n "$(sshd_pid)" ] && return 0
  if [ -n "${SSH_ENGINE_PORT:-}" ]; then echo "$SSH_ENGINE_PORT" >"$dir/port"; fi
  [ -s "$dir/port" ] || free_port >"$dir/port"
  port=$(cat "$dir/port")
  configure "$port"
  mkdir -p /run/sshd  # its privilege separation directory
  rm -f "$pidfile"
  /usr/sbin/sshd -f "$config" -E "$dir/sshd.log"
  for _ in $(seq 1 50); do
    [ -n "$(sshd_pid)" ] && return 0
    sleep 0.1
  done
  say "sshd did not start; see $dir/sshd.log:"
  tail -20 "$dir/sshd.log" >&2
  exit 1
}

sshd_down() {
  local pid procs
  pid=$(sshd_pid)
  [ -n "$pid" ] || return 0
  # Its sessions outlive the listener: end them too (they are its descendants).
  procs="$(descendants "$pid") $pid"
  # shellcheck disable=SC2086
  kill -TERM $procs 2>/dev/null || true
  for _ in $(seq 1 50); do
    local alive=0
    for p in $procs; do [ -d "/proc/$p" ] && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $procs 2>/dev/null || true
  rm -f "$pidfile"
}

describe() {
  echo "url=ssh://root@127.0.0.1:$(cat "$dir/port")"
  echo "key=$dir/client/id_ed25519"
  echo "known_hosts=$dir/client/known_hosts"
  echo "sock=unix://$sock"
}

# Remote `docker system dial-stdio` processes of this engine's sessions.
dial_stdio() {
  local n=0 pid
  for pid in $(pgrep -f -- "^docker system dial-stdio" || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx -- "DOCKER_HOST=unix://$sock"; then
      n=$((n + 1))
    fi
  done
  echo "$n"
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    keys
    "$here/private-engine.sh" start "$engine" >/dev/null
    sshd_up
    describe
    ;;
  stop)
    sshd_down
    "$here/private-engine.sh" stop "$engine"
    ;;
  pause) "$here/private-engine.sh" pause "$engine" ;;
  resume) "$here/private-engine.sh" resume "$engine" ;;
  sshd-down) sshd_down ;;
  sshd-up) sshd_up ;;
  dial-stdio) dial_stdio ;;
  status)
    if [ -n "$(sshd_pid)" ]; then s=up; else s=down; fi
    echo "sshd: $s engine: $("$here/private-engine.sh" status "$engine")"
    ;;
  wipe)
    sshd_down
    "$here/private-engine.sh" wipe "$engine"
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop|pause|resume|sshd-down|sshd-up|dial-stdio|status|wipe DIR" >&2; exit 2 ;;
esac
