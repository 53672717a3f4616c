#!/usr/bin/env bash
# Starts the Bosun console (bosun-ui) next to the local agent that scripts/start-local.sh
# runs, with an endpoint already pointing at it. Run start-local.sh first (in another
# terminal): this uses the CA and secret it made under .bosun/. On first use it makes an
# admin password and prints it.
#
#   scripts/start-console.sh               # https://localhost:9443, endpoint https://localhost:9001
#   BOSUN_UI_LISTEN=0.0.0.0:9443 AGENT_URL=https://localhost:9001 scripts/start-console.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="${BOSUN_STATE_DIR:-$root/.bosun}"
listen="${BOSUN_UI_LISTEN:-127.0.0.1:9443}"
agent_url="${AGENT_URL:-https://localhost:9001}"

if [ ! -f "$state/ca/ca.pem" ] || [ ! -f "$state/secret" ]; then
  echo "start-console.sh: no agent credentials in $state; run scripts/start-local.sh first" >&2
  exit 1
fi
# The console embeds Debian's Chart.js and xterm.js at build time (ui/build.rs); the fit
# addon of node-xterm is a link into libjs-xterm.
missing=()
for package in node-chart.js node-xterm libjs-xterm; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cargo build --release --quiet -p bosun-ui --manifest-path "$root/Cargo.toml"

mkdir -p "$state/console"
password_file="$state/console/admin-password"
if [ ! -f "$password_file" ]; then
  (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$password_file")
fi

cat <<MSG

Bosun console on https://localhost:${listen##*:} (a self-signed certificate: accept it once)
  user:     admin
  password: $(cat "$password_file")     (kept in $password_file)
  endpoint: "local", the agent at $agent_url

Ctrl-C stops the console.

MSG
exec "$root/target/release/bosun-ui" --listen "$listen" --data-dir "$state/console" \
  --admin-password-file "$password_file" \
  --endpoint-url "$agent_url" --endpoint-name local \
  --endpoint-ca "$state/ca/ca.pem" --endpoint-secret-file "$state/secret"
