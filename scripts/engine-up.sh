#!/usr/bin/env bash
# Make sure a Docker engine answers, starting one where we can; idempotent.
#
#   scripts/engine-up.sh            # ensure the engine and the test images
#   scripts/engine-up.sh --no-images
#
# Honours DOCKER_HOST. Installs docker.io / busybox-static / docker-registry when
# run as root on Debian and they are missing. Exits non-zero with a clear message
# when no engine can be had.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build_images=1
[ "${1:-}" = "--no-images" ] && build_images=0

say() { printf 'engine-up: %s\n' "$*" >&2; }

engine_answers() {
  if command -v docker >/dev/null 2>&1; then
    timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
  else
    [ -S /var/run/docker.sock ] && timeout 5 curl -sf --unix-socket /var/run/docker.sock http://x/_ping >/dev/null 2>&1
  fi
}

install_packages() {
  # The one list of system packages: scripts/system-packages.txt.
  "$here/system-packages.sh" docker.io busybox-static curl || {
    say "Install Docker yourself, or point DOCKER_HOST at an engine, and run again."
    exit 1
  }
  if ! file_is_static /bin/busybox; then
    say "/bin/busybox is not static: apt-get install --reinstall busybox-static"
    exit 1
  fi
}

file_is_static() {
  # busybox-static replaces the dynamic busybox; a scratch image needs the static one.
  ! ldd "$1" >/dev/null 2>&1
}

start_dockerd() {
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd runs but does not answer yet; waiting…"
  else
    # A dockerd that is stopping keeps its pid file until it has exited: wait for it,
    # and remove a stale pid file only when no dockerd runs.
    if [ -f /var/run/docker.pid ] && ! pgrep -x dockerd >/dev/null 2>&1; then
      rm -f /var/run/docker.pid
    fi
    pgrep -x containerd >/dev/null 2>&1 || true
    say "starting dockerd (unix socket + loopback TCP 127.0.0.1:2375 for benchmarks)…"
    # In a session of its own, as a service manager starts it: not in the caller's
    # (a Ctrl-C there does not reach it; the scheduler does not count it with the
    # caller's processes: Linux's autogroups share the CPU between sessions).
    nohup setsid dockerd -H unix:///var/run/docker.sock -H tcp://127.0.0.1:2375 \
      >/tmp/dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    engine_answers && return 0
    sleep 1
  done
  say "dockerd did not answer within 60 s; see /tmp/dockerd.log:"
  tail -20 /tmp/dockerd.log >&2 || true
  exit 1
}

if [ -n "${DOCKER_HOST:-}" ] && [[ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]]; then
  # Someone else's engine: we only check it.
  engine_answers || { say "DOCKER_HOST=$DOCKER_HOST does not answer."; exit 1; }
else
  if ! engine_answers; then
    install_packages
    start_dockerd
  fi
fi
say "engine answers: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo ok)"

if [ "$build_images" = 1 ]; then
  "$here/test-images.sh"
fi
