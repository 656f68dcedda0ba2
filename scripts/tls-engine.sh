#!/usr/bin/env bash
# A private Docker engine reached over TCP + TLS with client certificates: a dockerd
# with --tlsverify in its own network namespace (so it never touches the shared engine
# or docker0), serving the HOST's 127.0.0.1:PORT. The listening socket is opened in the
# host's namespace and handed to dockerd as fd 3 (`-H fd://`, systemd's socket
# activation protocol), since a dockerd inside a namespace listens on that namespace's
# loopback only. Certificates are made with openssl at the first start.
#
#   scripts/tls-engine.sh start  DIR   # start (idempotent); prints url= ca= cert= key= lines
#   scripts/tls-engine.sh stop   DIR   # stop and wait until it has exited (idempotent)
#   scripts/tls-engine.sh pause  DIR   # SIGSTOP the dockerd (a stalled engine)
#   scripts/tls-engine.sh resume DIR   # SIGCONT it
#   scripts/tls-engine.sh status DIR   # prints running | paused | stopped
#   scripts/tls-engine.sh wipe   DIR   # stop, unmount and delete DIR
#
# DIR/certs holds the client's files under the names DOCKER_CERT_PATH expects (ca.pem,
# cert.pem, key.pem); DIR/rogue the same from another CA (for "wrong CA" and "bad
# client certificate" tests); DIR/server the engine's. DIR/docker.sock is a plain unix
# socket of the same engine, for set-up (loading the test image). PORT: $TLS_ENGINE_PORT,
# else a free port chosen at the first start and kept in DIR/port.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|pause|resume|status|wipe DIR" >&2; exit 2; }
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac
dir=${dir%/}
[ "$dir" != /var/run ] && [ "$dir" != /var/lib/docker ] && [ "$dir" != / ] || { echo "refusing DIR=$dir" >&2; exit 2; }

sock="$dir/docker.sock"
pidfile="$dir/docker.pid"
logfile="$dir/dockerd.log"
image=${MOORAGE_TEST_IMAGE:-moorage-test/busybox:latest}
netns="moorage-tls-$(printf %s "$dir" | md5sum | cut -c1-8)"

say() { printf 'tls-engine: %s\n' "$*" >&2; }

# The pid of OUR dockerd (its command line carries our unix socket), or nothing.
find_pid() {
  local pid=""
  [ -f "$pidfile" ] && pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
    && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "unix://$sock "; then
    echo "$pid"
    return
  fi
  pgrep -f -- "dockerd --host unix://$sock " | head -1 || true
}

proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }

answers() { timeout 3 docker -H "unix://$sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

status() {
  local pid
  pid=$(find_pid)
  if [ -z "$pid" ]; then echo stopped; return; fi
  case "$(proc_state "$pid")" in T|t) echo paused ;; *) echo running ;; esac
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A key and a certificate signed by the CA in CA_DIR: sign CA_DIR OUT_DIR CN EXT BASE
sign() {
  local ca=$1 out=$2 cn=$3 ext=$4 base=$5
  openssl ecparam -genkey -name prime256v1 -noout -out "$out/$base-key.pem" 2>/dev/null
  openssl req -new -key "$out/$base-key.pem" -subj "/CN=$cn" -out "$out/$base.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$out/$base.ext"
  openssl x509 -req -in "$out/$base.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca-key.pem" \
    -CAcreateserial -days 7 -sha256 -extfile "$out/$base.ext" -out "$out/$base-cert.pem" 2>/dev/null
  rm -f "$out/$base.csr" "$out/$base.ext"
}

make_ca() {
  local out=$1 cn=$2
  mkdir -p "$out"
  openssl ecparam -genkey -name prime256v1 -noout -out "$out/ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$out/ca-key.pem" -sha256 -days 7 -subj "/CN=$cn" \
    -out "$out/ca.pem" 2>/dev/null
}

certificates() {
  [ -f "$dir/certs/key.pem" ] && [ -f "$dir/rogue/key.pem" ] && return 0
  umask 077
  rm -rf "$dir/certs" "$dir/server" "$dir/rogue"
  mkdir -p "$dir/certs" "$dir/server" "$dir/rogue"
  make_ca "$dir/certs" "moorage test CA"
  sign "$dir/certs" "$dir/server" 127.0.0.1 \
    "$(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth')" server
  sign "$dir/certs" "$dir/certs" moorage-client "extendedKeyUsage=clientAuth" client
  mv "$dir/certs/client-cert.pem" "$dir/certs/cert.pem"
  mv "$dir/certs/client-key.pem" "$dir/certs/key.pem"
  cp "$dir/certs/ca.pem" "$dir/server/ca.pem"
  # Another CA, and a client certificate it signed: what the engine must refuse, and
  # (as `ca`) what must refuse the engine's server certificate.
  make_ca "$dir/rogue" "moorage rogue CA"
  sign "$dir/rogue" "$dir/rogue" moorage-client "extendedKeyUsage=clientAuth" client
  mv "$dir/rogue/client-cert.pem" "$dir/rogue/cert.pem"
  mv "$dir/rogue/client-key.pem" "$dir/rogue/key.pem"
  rm -f "$dir/certs/ca-key.pem" "$dir/rogue/ca-key.pem" "$dir"/*/ca.srl
}

describe() {
  echo "url=tcp://127.0.0.1:$(cat "$dir/port")"
  echo "ca=$dir/certs/ca.pem"
  echo "cert=$dir/certs/cert.pem"
  echo "key=$dir/certs/key.pem"
  echo "sock=unix://$sock"
}

start() {
  local pid port
  pid=$(find_pid)
  if [ -n "$pid" ]; then
    [ "$(proc_state "$pid")" = T ] && kill -CONT "$pid"
  else
    mkdir -p "$dir/data" "$dir/exec"
    certificates
    if [ -n "${TLS_ENGINE_PORT:-}" ]; then echo "$TLS_ENGINE_PORT" >"$dir/port"; fi
    [ -s "$dir/port" ] || free_port >"$dir/port"
    port=$(cat "$dir/port")
    rm -f "$pidfile" "$sock"
    ip netns add "$netns" 2>/dev/null || true
    ip netns exec "$netns" ip link set lo up 2>/dev/null || true
    # Bind 127.0.0.1:PORT here (the host's namespace), then become nsenter → dockerd in
    # the same process (nsenter without --pid does not fork), so LISTEN_PID holds.
    # shellcheck disable=SC2016
    nohup python3 -c '
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
' "$port" nsenter --net="/var/run/netns/$netns" \
      dockerd --host "unix://$sock" --host fd:// \
      --tlsverify --tlscacert "$dir/server/ca.pem" \
      --tlscert "$dir/server/server-cert.pem" --tlskey "$dir/server/server-key.pem" \
      --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
      --bridge none --iptables=false --ip-masq=false --ip-forward=false \
      --shutdown-timeout 2 --log-level warn \
      >>"$logfile" 2>&1 </dev/null &
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
  describe
}

stop() {
  local pid cpid
  pid=$(find_pid)
  if [ -n "$pid" ]; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      say "dockerd $pid did not exit in 30 s: killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while [ -d "/proc/$pid" ]; do sleep 0.1; done
    fi
  fi
  cpid=$(pgrep -f -- "containerd --config $dir/exec/containerd/containerd.toml" || true)
  for p in $cpid; do kill -TERM "$p" 2>/dev/null || true; done
  rm -f "$pidfile"
}

wipe() {
  stop
  local spids
  spids=$(pgrep -f -- "-address $dir/exec/containerd/containerd.sock" || true)
  for p in $spids; do kill -KILL "$p" 2>/dev/null || true; done
  awk -v d="$dir/" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir"
  ip netns del "$netns" 2>/dev/null || true
}

signal() {
  local pid
  pid=$(find_pid)
  [ -n "$pid" ] || { say "not running"; exit 1; }
  kill "-$1" "$pid"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  pause) signal STOP ;;
  resume) signal CONT ;;
  status) status ;;
  wipe) wipe ;;
  *) echo "usage: $0 start|stop|pause|resume|status|wipe DIR" >&2; exit 2 ;;
esac
