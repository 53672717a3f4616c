#!/usr/bin/env bash
# Builds the image the tests and benchmarks run: FROM scratch, with a static busybox.
# No registry is reachable, so nothing is pulled: Debian's busybox-static gives the shell.
set -euo pipefail

image="${BOSUN_TEST_IMAGE:-bosun-test:latest}"
if [ "${1:-}" != "--force" ] && docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

busybox=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq busybox-static >/dev/null 2>&1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/tmp" "$ctx/etc"
cp "$busybox" "$ctx/bin/busybox"
for applet in sh cat echo sleep ls head yes seq tr true false wc env hostname id mkdir rm printf date dd sed grep; do
  ln -s busybox "$ctx/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$ctx/etc/passwd"
cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY . /
ENV PATH=/bin
LABEL org.opencontainers.image.title="bosun-test"
CMD ["sh"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" >/dev/null
echo "built $image"
