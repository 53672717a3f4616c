#!/usr/bin/env bash
# Starts bosun-agent in front of this machine's Docker Engine. On first use it makes a
# cluster CA, a cluster secret and a client bundle under .bosun/, then prints how to point
# the docker CLI at the agent (client certificate or bearer token).
#
#   scripts/start-local.sh                 # listens on 127.0.0.1:9001
#   AGENT_LISTEN=0.0.0.0:9001 scripts/start-local.sh
#
# A taken port stops it at once, before the build, naming the variable to set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="${BOSUN_STATE_DIR:-$root/.bosun}"
listen="${AGENT_LISTEN:-127.0.0.1:9001}"
port="${listen##*:}"
. "$root/scripts/port-check.sh"
port_free AGENT_LISTEN "$listen"

# Cargo's own progress shows: a first build takes minutes.
echo "Building bosun-agent (release)…"
cargo build --release -p bosun-agent --manifest-path "$root/Cargo.toml"
agent="${CARGO_TARGET_DIR:-$root/target}/release/bosun-agent"

mkdir -p "$state"
[ -f "$state/ca/ca.pem" ] || "$agent" certs init --dir "$state/ca" >/dev/null
[ -f "$state/secret" ] || "$agent" secret --out "$state/secret" >/dev/null
[ -f "$state/client/cert.pem" ] || "$agent" certs client --dir "$state/ca" --name "$(id -un)" --out "$state/client" >/dev/null
mkdir -p "$state/token-client"
cp "$state/ca/ca.pem" "$state/token-client/ca.pem"
token=$("$agent" token --secret-file "$state/secret" --subject "$(id -un)" --ttl 24h)
printf '{"HttpHeaders":{"Authorization":"Bearer %s"}}\n' "$token" > "$state/token-client/config.json"
chmod 600 "$state/token-client/config.json"

cat <<MSG

Bosun agent for $(docker info --format '{{.Name}}' 2>/dev/null || echo 'this engine'), on https://localhost:$port

With the client certificate:
  export DOCKER_HOST=tcp://localhost:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$state/client
  docker ps

With a bearer token (valid 24 hours, the longest the agent accepts by default; make more with: $agent token --secret-file $state/secret --subject NAME):
  DOCKER_HOST=tcp://localhost:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$state/token-client DOCKER_CONFIG=$state/token-client docker ps

Ctrl-C stops the agent.

MSG
exec "$agent" run --listen "$listen" --tls-dir "$state/ca" --secret-file "$state/secret" --data-dir "$state/data"
