#!/usr/bin/env bash
# Builds the two images, each a static release binary (glibc linked statically; the agent
# resolves names with hickory) in an image FROM scratch: the agent's, bosun-agent:latest
# (and bosun-agent:VERSION) with a HEALTHCHECK, and the console's, bosun-ui:latest (and
# bosun-ui:VERSION), whose binary embeds Debian's front-end libraries (installed here if
# missing).
# Nothing is pulled. Prints each image's name and size.
#
#   scripts/build-image.sh [AGENT_TAG [CONSOLE_TAG]]   defaults: bosun-agent:latest bosun-ui:latest
set -euo pipefail
cd "$(dirname "$0")/.."

agent_tag="${1:-bosun-agent:latest}"
console_tag="${2:-bosun-ui:latest}"
triple=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# The console embeds Debian's front-end libraries at build time: the packages named in
# ui/build.rs's VENDOR table.
missing=()
for package in $(sed -n 's/^ *package: "\([^"]*\)",$/\1/p' ui/build.rs | sort -u); do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# An explicit --target keeps the static flag off build scripts and proc macros.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release --locked --quiet --target "$triple" \
  -p bosun-agent --bin bosun-agent -p bosun-ui --bin bosun-ui

# image BINARY DOCKERFILE TAG: the binary, checked static, alone in a context.
image() {
  local name=$1 dockerfile=$2 tag=$3
  local binary="${CARGO_TARGET_DIR:-target}/$triple/release/$name"
  if ! file "$binary" 2>/dev/null | grep -q 'static'; then
    if ldd "$binary" >/dev/null 2>&1; then
      echo "build-image.sh: $binary is dynamically linked" >&2
      exit 1
    fi
  fi
  local ctx out size
  ctx=$(mktemp -d)
  cp "$binary" "$ctx/$name"
  # The classic builder: this engine has no BuildKit, and FROM scratch needs none.
  if ! out=$(DOCKER_BUILDKIT=0 docker build -q \
    --build-arg VERSION="$version" \
    -f "$dockerfile" -t "$tag" -t "$name:$version" "$ctx" 2>&1); then
    rm -rf "$ctx"
    echo "$out" >&2
    exit 1
  fi
  rm -rf "$ctx"
  size=$(docker image inspect --format '{{.Size}}' "$tag")
  echo "$tag $((size / 1000)) kB"
}

image bosun-agent docker/Dockerfile "$agent_tag"
image bosun-ui docker/console.Dockerfile "$console_tag"
