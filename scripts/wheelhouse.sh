#!/usr/bin/env bash
# Fill wheelhouse/ with a wheel of moorage and of everything it depends on, built on
# this host (`pip wheel`), for the image to install from without a package index.
#
#   scripts/wheelhouse.sh                 # with the package index pip is configured for
#   PIP_NO_INDEX=1 scripts/wheelhouse.sh  # air-gapped: only the wheels already there
#
# The image's Python is 3.11 on x86_64/arm64 Linux with glibc: the wheels must be for
# that, so this runs a Python 3.11 (PYTHON, else .venv/bin/python, else python3.11).
set -euo pipefail
cd "$(dirname "$0")/.."
out=wheelhouse
say() { printf 'wheelhouse: %s\n' "$*" >&2; }
py=${PYTHON:-}
if [ -z "$py" ]; then
  for candidate in .venv/bin/python python3.11 python3; do
    command -v "$candidate" >/dev/null 2>&1 && { py=$candidate; break; }
  done
fi
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = 3.11 ] || { say "$py is Python $version; the image runs 3.11 (set PYTHON)"; exit 1; }
mkdir -p "$out"
# A stale moorage wheel of the same version would be taken for the new one.
rm -f "$out"/moorage-*.whl
# --find-links: wheels already here are reused, so an air-gapped rebuild works. The
# build backend (pyproject's [build-system]) goes in too: without an index, building
# moorage's own wheel needs it from here.
backend=$(sed -n 's/^requires = \[\(.*\)\]/\1/p' pyproject.toml | head -1 | tr -d '"' | tr ',' ' ')
pip=("$py" -m pip wheel -q --disable-pip-version-check --find-links "$out" --wheel-dir "$out")
# shellcheck disable=SC2086  # one requirement a word
"${pip[@]}" $backend >&2
# pip builds in the tree: setuptools' build/lib would keep a module deleted since.
rm -rf build/lib build/bdist.*
"${pip[@]}" . >&2
# What the image carries is what the wheels hold: without their debug symbols, 27 MB less.
"$py" scripts/strip-wheels.py "$out"
say "$(ls "$out"/*.whl | wc -l) wheels in $out/ ($(du -sh "$out" | cut -f1))"
