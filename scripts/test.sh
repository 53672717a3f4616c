#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration tests against this machine's
# real Docker Engine. Installs what the tests need (Debian's busybox-static, for the test
# image built FROM scratch) and fails loudly when the engine is not reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "test.sh: the Docker Engine is not reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock}; the integration tests need it" >&2
  exit 1
fi
command -v flock >/dev/null || { echo "test.sh: flock (util-linux) is needed" >&2; exit 1; }
scripts/build-test-image.sh

cleanup() {
  ids=$(docker ps -aq --filter 'name=bosun-it-' 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
}
trap cleanup EXIT

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
