#!/usr/bin/env bash
# Builds the agent's image, bosun-agent:latest (and bosun-agent:VERSION): a static release
# binary (glibc linked statically; names are resolved by hickory, not NSS) in an image
# FROM scratch with a HEALTHCHECK. Nothing is pulled. Prints the image's name and size.
#
#   scripts/build-image.sh [TAG]      TAG defaults to bosun-agent:latest
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-bosun-agent:latest}"
triple=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# An explicit --target keeps the static flag off build scripts and proc macros.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --quiet --target "$triple" -p bosun-agent --bin bosun-agent
binary="${CARGO_TARGET_DIR:-target}/$triple/release/bosun-agent"
if ! file "$binary" 2>/dev/null | grep -q 'static'; then
  if ldd "$binary" >/dev/null 2>&1; then
    echo "build-image.sh: $binary is dynamically linked" >&2
    exit 1
  fi
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/bosun-agent"
# The classic builder: this engine has no BuildKit, and FROM scratch needs none.
if ! out=$(DOCKER_BUILDKIT=0 docker build -q \
  --build-arg VERSION="$version" \
  -f docker/Dockerfile -t "$tag" -t "bosun-agent:$version" "$ctx" 2>&1); then
  echo "$out" >&2
  exit 1
fi
size=$(docker image inspect --format '{{.Size}}' "$tag")
echo "$tag $((size / 1000)) kB"
