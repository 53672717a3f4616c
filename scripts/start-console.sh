#!/usr/bin/env bash
# Starts the Bosun console (bosun-ui) next to the local agent that scripts/start-local.sh
# runs, with an endpoint already pointing at it. Run start-local.sh first (in another
# terminal): this uses the CA and secret it made under .bosun/. On first use it makes an
# admin password and prints it.
#
#   scripts/start-console.sh               # https://localhost:9443, endpoint https://localhost:9001
#   BOSUN_UI_LISTEN=0.0.0.0:9443 AGENT_URL=https://localhost:9001 scripts/start-console.sh
#
# A taken port stops it at once, before the build, naming the variable to set.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
state="${BOSUN_STATE_DIR:-$root/.bosun}"
listen="${BOSUN_UI_LISTEN:-127.0.0.1:9443}"
agent_url="${AGENT_URL:-https://localhost:9001}"
. "$root/scripts/port-check.sh"
port_free BOSUN_UI_LISTEN "$listen"

if [ ! -f "$state/ca/ca.pem" ] || [ ! -f "$state/secret" ]; then
  echo "start-console.sh: no agent credentials in $state; run scripts/start-local.sh first" >&2
  exit 1
fi
# The console embeds Debian's front-end libraries at build time: the packages named in
# ui/build.rs's VENDOR table.
missing=()
for package in $(sed -n 's/^ *package: "\([^"]*\)",$/\1/p' "$root/ui/build.rs" | sort -u); do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian's ${missing[*]} (embedded in the console)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Cargo's own progress shows: a first build takes minutes.
echo "Building bosun-ui (release)…"
cargo build --release -p bosun-ui --manifest-path "$root/Cargo.toml"

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
exec "${CARGO_TARGET_DIR:-$root/target}/release/bosun-ui" --listen "$listen" --data-dir "$state/console" \
  --admin-password-file "$password_file" \
  --endpoint-url "$agent_url" --endpoint-name local \
  --endpoint-ca "$state/ca/ca.pem" --endpoint-secret-file "$state/secret"
