#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the integration tests against this machine's real
# Docker Engine, the console's API and browser tests (Debian's chromium, installed here if
# missing), and the Swarm end-to-end tests (the agent's image on a single-node and a
# three-node Swarm, every Swarm made of engines in containers). Builds what the
# tests need first (the test image FROM scratch with Debian's busybox-static, the agent's
# and the console's images, the node image made with debootstrap) and fails loudly when
# the engine is not reachable.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "test.sh: the Docker Engine is not reachable at ${DOCKER_HOST:-unix:///var/run/docker.sock}; the integration tests need it" >&2
  exit 1
fi
command -v flock >/dev/null || { echo "test.sh: flock (util-linux) is needed" >&2; exit 1; }
# The console's browser test drives Debian's chromium through chromedriver; the usage
# tests have Debian's prometheus scrape an agent; the console embeds Debian's Chart.js
# and xterm.js when it is built (ui/build.rs).
missing=()
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v chromium >/dev/null || missing+=(chromium)
command -v prometheus >/dev/null || missing+=(prometheus)
dpkg -s node-chart.js >/dev/null 2>&1 || missing+=(node-chart.js)
# The console's image pull test pushes to, and pulls from, a registry on loopback.
command -v docker-registry >/dev/null || missing+=(docker-registry)
# The agent's update-check tests run one behind htpasswd basic auth (bcrypt, apache2-utils).
command -v htpasswd >/dev/null || missing+=(apache2-utils)
dpkg -s node-xterm >/dev/null 2>&1 || missing+=(node-xterm)
dpkg -s libjs-xterm >/dev/null 2>&1 || missing+=(libjs-xterm)
# The console's MQTT notification test runs Debian's mosquitto broker on loopback.
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || missing+=(mosquitto)
# The edge test puts its agent behind a one-way network: a network namespace and a veth
# pair (iproute2), with a firewall that drops what comes in (nftables).
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
# The Swarm tests' node image is made with debootstrap (installed here, before that image is
# built beside the other two, so that only one apt-get runs at a time).
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The console's sign-in tests run a real OpenID provider: oidc-provider-mock from PyPI, in
# a venv under the target directory (Debian's python3-venv makes it).
oidc_venv="${CARGO_TARGET_DIR:-target}/oidc-venv"
if [ ! -x "$oidc_venv/bin/oidc-provider-mock" ]; then
  if ! python3 -m venv "$oidc_venv" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$oidc_venv"
    python3 -m venv "$oidc_venv"
  fi
  "$oidc_venv/bin/pip" install -q oidc-provider-mock
fi
# The console's email notification test delivers to a real SMTP sink: aiosmtpd from PyPI,
# in its own venv under the target directory.
smtp_venv="${CARGO_TARGET_DIR:-target}/smtp-venv"
if ! "$smtp_venv/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  rm -rf "$smtp_venv"
  python3 -m venv "$smtp_venv"
  "$smtp_venv/bin/pip" install -q aiosmtpd
fi
scripts/build-test-image.sh
# The node image's debootstrap mostly waits on Debian's mirror: it runs while the release
# binaries compile, and its output is shown only if it fails.
node_log=$(mktemp)
scripts/build-node-image.sh >"$node_log" 2>&1 &
node_build=$!
scripts/build-image.sh
if ! wait "$node_build"; then
  echo "test.sh: building the node image failed:" >&2
  cat "$node_log" >&2
  rm -f "$node_log"
  exit 1
fi
rm -f "$node_log"

cleanup() {
  ids=$(docker ps -aq --filter 'name=bosun-it-' --filter 'name=bosun-e2e-' 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
  # Script checks' sandboxes of test agents that ended without a stop.
  ids=$(docker ps -aq --filter 'label=bosun.check.agent' 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  nets=$(docker network ls -q --filter 'name=bosun-e2e-' 2>/dev/null || true)
  [ -z "$nets" ] || docker network rm $nets >/dev/null 2>&1 || true
  # The edge test's and the browsers' network namespaces, of a run that was killed.
  for ns in $(ip netns list 2>/dev/null | awk '/^bosun-(edge|browser)-/ {print $1}'); do
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
