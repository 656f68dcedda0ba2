#!/usr/bin/env bash
# Install Debian's PostgreSQL server binaries for the audit-log tests (tests start
# their own throwaway cluster; nothing is started here). Idempotent; best effort.
set -uo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "postgres-install: installing postgresql from Debian" >&2
  apt-get update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
    || echo "postgres-install: could not install postgresql; its tests will skip" >&2
  # The package starts a cluster of its own; the tests do not need it.
  command -v pg_ctlcluster >/dev/null 2>&1 && pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
else
  echo "postgres-install: not root or no apt-get; PostgreSQL tests will skip" >&2
fi
exit 0
