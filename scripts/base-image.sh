#!/usr/bin/env bash
# The Python base image the Dockerfile builds on (its PYTHON_IMAGE build argument).
# Prints the image reference to pass, after making sure the engine has it:
#
#   1. python:3.11-slim (MOORAGE_PYTHON_IMAGE) when the engine has it or can pull it;
#   2. else a Debian bookworm made here: `debootstrap --variant=minbase` with python3
#      (3.11 in bookworm) and python3-venv, imported with `docker import` as
#      MOORAGE_LOCAL_BASE (default moorage-base/python:3.11-bookworm). Made once:
#      when that tag exists it is reused (remove it to make it again).
#
# debootstrap downloads from the mirror apt uses (/etc/apt/sources.list*), or from
# MOORAGE_DEBIAN_MIRROR. It needs root (it runs chroot).
set -euo pipefail
want=${MOORAGE_PYTHON_IMAGE:-python:3.11-slim}
local_tag=${MOORAGE_LOCAL_BASE:-moorage-base/python:3.11-bookworm}
suite=bookworm
say() { printf 'base-image: %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

if have "$want"; then say "$want present"; echo "$want"; exit 0; fi
if have "$local_tag"; then say "$local_tag present (made here earlier)"; echo "$local_tag"; exit 0; fi
if timeout 120 docker pull -q "$want" >/dev/null 2>&1; then say "pulled $want"; echo "$want"; exit 0; fi
say "$want cannot be pulled: making $local_tag with debootstrap"

# The Debian mirror apt is configured with (deb822 .sources or one-line lists).
mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # The stanza whose Suites name the suite itself (not -security / -updates).
    uri=$(awk -v s="$suite" '
      /^[[:space:]]*$/ { u = ""; ok = 0; next }
      /^URIs:/ { u = $2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
      u != "" && ok { print u; exit }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    uri=$(awk -v s="$suite" '$1 == "deb" && $3 == s { print $2; exit }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}

command -v debootstrap >/dev/null 2>&1 || "$(dirname "$0")/system-packages.sh" debootstrap
[ "$(id -u)" = 0 ] || { say "debootstrap needs root"; exit 1; }
url=${MOORAGE_DEBIAN_MIRROR:-$(mirror)}
root=$(mktemp -d /var/tmp/moorage-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
say "debootstrap $suite from $url (a few minutes, once)"
debootstrap --variant=minbase --include=python3,python3-venv "$suite" "$root" "$url" >&2
# What an image does not need: downloaded packages, package lists, docs, man pages.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase + python3 (made by moorage's scripts/base-image.sh)\"" \
  --change 'LABEL moorage.base=debootstrap' \
  - "$local_tag" >/dev/null
say "made $local_tag ($(docker image inspect -f '{{.Size}}' "$local_tag") bytes)"
echo "$local_tag"
