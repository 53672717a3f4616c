#!/usr/bin/env bash
# Builds the image the Swarm tests run their Docker engines in: a Debian root
# filesystem made by debootstrap from Debian's packages, with docker.io, imported as an
# image, plus docker/node-entrypoint.sh. Nothing is pulled from a registry. Prints the tag.
#
# Slow work is done once: the root filesystem image is tagged with a digest of its recipe
# and its tarball is kept in ${BOSUN_CACHE:-~/.cache/bosun}, so a wiped engine re-imports
# it in seconds; the entrypoint is a thin layer on top.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

suite=bookworm
packages=docker.io,iptables,iproute2,procps,ca-certificates,kmod
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rootfs_digest=$(printf '%s\n' "$suite" "$packages" | sha256sum | cut -c1-12)
rootfs_image="bosun-node-rootfs:$rootfs_digest"
digest=$( (echo "$rootfs_digest"; cat "$root/docker/node-entrypoint.sh") | sha256sum | cut -c1-12)
image="bosun-node:$digest"
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  cache="${BOSUN_CACHE:-$HOME/.cache/bosun}"
  tarball="$cache/node-rootfs-$rootfs_digest.tar"
  if [ ! -s "$tarball" ]; then
    if ! command -v debootstrap >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq debootstrap >/dev/null
    fi
    mkdir -p "$cache"
    rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    echo "building the node root filesystem with debootstrap (a minute or two, once)" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
      >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs/var/cache/apt/archives"/*.deb "$rootfs/var/lib/apt/lists"/*
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    trap - EXIT
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tarball" "$rootfs_image" >/dev/null
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$root/docker/node-entrypoint.sh" "$ctx/node-entrypoint"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $rootfs_image
COPY node-entrypoint /usr/local/bin/node-entrypoint
VOLUME /var/lib/docker
LABEL org.opencontainers.image.title="bosun-node"
ENTRYPOINT ["/usr/local/bin/node-entrypoint"]
DOCKERFILE
if ! out=$(DOCKER_BUILDKIT=0 docker build -q -t "$image" "$ctx" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$image"
