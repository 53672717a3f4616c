#!/usr/bin/env bash
# Runs the benchmark described in docs/benchmarks.md: engine socket vs HAProxy vs bosun-agent, one table.
# Arguments go to bosun-bench (--quick, --keep, --markdown, --skip-agent, --agent-bin PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v haproxy >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq haproxy >/dev/null
  # Only the binary is wanted; the benchmark starts its own instance on a private config.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet haproxy 2>/dev/null; then
    systemctl stop haproxy
  fi
fi

scripts/build-test-image.sh

packages=(-p bosun-bench)
skip_agent=false
for arg in "$@"; do
  [ "$arg" = "--skip-agent" ] && skip_agent=true
done
if [ "$skip_agent" = false ]; then
  packages+=(-p bosun-agent)
fi
cargo build --release "${packages[@]}"

exec target/release/bosun-bench "$@"
