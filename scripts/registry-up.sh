#!/usr/bin/env bash
# A local registry for the push/pull tests; idempotent.
#
# Debian's docker-registry (distribution 2.x) on 127.0.0.1:5000 only, with htpasswd
# auth (user / password from MOORAGE_TEST_REGISTRY_USER / _PASS, defaults
# moorage / moorage-test-pw), storage in a temp directory. The engine treats
# loopback registries as insecure by default, so no daemon change is needed.
# Exits 0 without a registry (and says so) when it cannot install one: the
# registry tests then skip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

user=${MOORAGE_TEST_REGISTRY_USER:-moorage}
pass=${MOORAGE_TEST_REGISTRY_PASS:-moorage-test-pw}
addr=${MOORAGE_TEST_REGISTRY_ADDR:-127.0.0.1:5000}
dir=${MOORAGE_TEST_REGISTRY_DIR:-/tmp/moorage-registry}

say() { printf 'registry-up: %s\n' "$*" >&2; }

answers_401() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/v2/" 2>/dev/null)" = 401 ]
}

ours() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -u "$user:$pass" "http://$addr/v2/" 2>/dev/null)" = 200 ]
}

if answers_401; then
  if ours; then
    say "registry answers on $addr"
    exit 0
  fi
  say "something else answers on $addr and refuses user $user: stop it, or set"
  say "MOORAGE_TEST_REGISTRY_USER/_PASS to its credentials; registry tests will skip"
  exit 0
fi

"$here/system-packages.sh" docker-registry apache2-utils curl || {
  say "registry tests will skip"
  exit 0
}

mkdir -p "$dir/storage"
chmod 700 "$dir"
htpasswd -Bbc "$dir/htpasswd" "$user" "$pass" >/dev/null 2>&1
cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr
auth:
  htpasswd:
    realm: moorage-test
    path: $dir/htpasswd
YAML

alive() {
  # running, and not a zombie waiting for its parent
  [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null &&
    [ "$(ps -o stat= -p "$(cat "$dir/pid")" 2>/dev/null | cut -c1)" != Z ]
}

start() {
  # Debian's package may run its own service on :5000 (all addresses) — ours is
  # loopback-only with its own config; a port clash shows in the log.
  nohup docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/pid"
}

if alive; then
  say "registry process $(cat "$dir/pid") runs but does not answer yet; waiting…"
else
  start
fi
restarts=0
for _ in $(seq 1 100); do
  answers_401 && ours && { say "registry up on $addr (user $user)"; exit 0; }
  if ! alive && [ $restarts -lt 3 ]; then
    restarts=$((restarts + 1))
    start
  fi
  sleep 0.1
done
say "the registry did not answer 401 on http://$addr/v2/ ; see $dir/registry.log:"
tail -5 "$dir/registry.log" >&2 || true
exit 1
