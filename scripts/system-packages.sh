#!/usr/bin/env bash
# Install every Debian package listed in scripts/system-packages.txt that is missing.
# Idempotent; quick when everything is there (no apt-get call at all).
#
#   scripts/system-packages.sh            # install what is missing
#   scripts/system-packages.sh --list     # print the package names
#   scripts/system-packages.sh --check    # exit 1 (naming them) when some are missing
#   scripts/system-packages.sh PKG...     # only these (each must be on the list)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
list="$here/system-packages.txt"

say() { printf 'system-packages: %s\n' "$*" >&2; }

mode=install
case "${1:-}" in --list|--check) mode=$1; shift ;; esac
wanted=" $* "

mapfile -t rows < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list")
missing=()
names=()
for row in "${rows[@]}"; do
  read -r pkg path _ <<<"$row"
  [ $# -eq 0 ] || [[ "$wanted" == *" $pkg "* ]] || continue
  names+=("$pkg")
  compgen -G "$path" >/dev/null || missing+=("$pkg")  # a path may be a glob
done
for want in "$@"; do
  [[ " ${names[*]} " == *" $want "* ]] || { say "$want is not in $list: add it there"; exit 2; }
done

case "$mode" in
  --list) printf '%s\n' "${names[@]}"; exit 0 ;;
  --check)
    [ ${#missing[@]} -eq 0 ] && exit 0
    say "missing: ${missing[*]}"; exit 1 ;;
esac

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]}) and run again"
  exit 1
fi
say "installing ${missing[*]} (apt-get)…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# postgresql's package starts a cluster of its own; the tests start theirs.
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters -h 2>/dev/null | while read -r ver name _; do
    pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
  done
fi
say "installed ${missing[*]}"
