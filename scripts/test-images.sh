#!/usr/bin/env bash
# Build the test images from scratch (no registry is reachable): a static busybox
# with its applets installed gives sh, wget, nc, httpd, nslookup in ~1 MB.
set -euo pipefail
tag=${MOORAGE_TEST_IMAGE:-moorage-test/busybox:latest}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "test-images: $tag present" >&2
  exit 0
fi
[ -x /bin/busybox ] || { echo "test-images: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp /bin/busybox "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/mkdir", "-p", "/tmp", "/var/www", "/root", "/etc"]
RUN ["/bin/sh", "-c", "echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd && echo 'root:x:0:' > /etc/group && echo 'nogroup:x:65534:' >> /etc/group && chmod 1777 /tmp"]
CMD ["/bin/sh"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
echo "test-images: built $tag ($(docker image inspect -f '{{.Size}}' "$tag") bytes)" >&2
