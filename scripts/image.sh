#!/usr/bin/env bash
# `make image`: build the moorage image with no registry and, when need be, no index.
#
#   scripts/image.sh                     # tag moorage:latest and moorage:<version>
#   MOORAGE_IMAGE=me/moorage:dev scripts/image.sh
#   MOORAGE_IMAGE_LABELS="k=v k2=v2" …   # extra image labels (the tests mark theirs)
#   MOORAGE_WHEELHOUSE=0 …               # no wheelhouse: the image's pip asks an index
#
# The base: scripts/base-image.sh (python:3.11-slim, else a Debian base made here
# once). The install: the wheels scripts/wheelhouse.sh builds on this host.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'image: %s\n' "$*" >&2; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
tag=${MOORAGE_IMAGE:-moorage:latest}
base=$(scripts/base-image.sh)
if [ "${MOORAGE_WHEELHOUSE:-1}" = 0 ]; then
  rm -f wheelhouse/moorage-*.whl
else
  scripts/wheelhouse.sh
fi
args=(--build-arg "PYTHON_IMAGE=$base" -t "$tag"
  --label "org.opencontainers.image.title=moorage"
  --label "org.opencontainers.image.description=An async REST + Server-Sent Events API for the Docker Engine"
  --label "org.opencontainers.image.version=$version"
  --label "moorage.base=$base")
[ -n "${MOORAGE_IMAGE:-}" ] || args+=(-t "moorage:$version")
for label in ${MOORAGE_IMAGE_LABELS:-}; do args+=(--label "$label"); done
# The classic builder: BuildKit here has no buildx plugin and could not fetch one.
DOCKER_BUILDKIT=0 docker build -q "${args[@]}" . >/dev/null
base_size=$(docker image inspect -f '{{.Size}}' "$base")
size=$(docker image inspect -f '{{.Size}}' "$tag")
say "built $tag on $base: $(( (size - base_size) / 1000000 )) MB of its own ($(( size / 1000000 )) MB in all)"
