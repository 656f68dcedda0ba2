#!/usr/bin/env bash
# A private Docker engine reached over TCP + TLS with client certificates: a private
# dockerd (scripts/private-engine.sh, at DIR) with --tlsverify in its own network namespace
# (so it never touches the shared engine or docker0), serving the HOST's 127.0.0.1:PORT
# (PRIVATE_ENGINE_LISTEN_PORT: the socket is opened in the host's namespace and handed to
# dockerd as `-H fd://`). Certificates are made with openssl at the first start.
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

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib-engine.sh
. "$here/lib-engine.sh"
engine_command_and_dir "start|stop|pause|resume|status|wipe" "$@"

sock="$dir/docker.sock"
PRIVATE_ENGINE_NETNS="moorage-tls-$(printf %s "$dir" | md5sum | cut -c1-8)"
export PRIVATE_ENGINE_NETNS
engine() { "$here/private-engine.sh" "$1" "$dir" "${@:2}"; }

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
  if [ "$(engine status)" = stopped ]; then
    mkdir -p "$dir"
    certificates
    if [ -n "${TLS_ENGINE_PORT:-}" ]; then echo "$TLS_ENGINE_PORT" >"$dir/port"; fi
    [ -s "$dir/port" ] || free_port >"$dir/port"
  fi
  PRIVATE_ENGINE_LISTEN_PORT=$(cat "$dir/port") engine start --host fd:// \
    --tlsverify --tlscacert "$dir/server/ca.pem" \
    --tlscert "$dir/server/server-cert.pem" --tlskey "$dir/server/server-key.pem" >/dev/null
  describe
}

case "$cmd" in
  start) start ;;
  stop | pause | resume | status | wipe) engine "$cmd" ;;
  *) echo "usage: $0 start|stop|pause|resume|status|wipe DIR" >&2; exit 2 ;;
esac
