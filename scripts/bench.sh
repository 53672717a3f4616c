#!/usr/bin/env bash
# Runs the benchmark described in docs/benchmarks.md: engine socket vs HAProxy vs bosun-agent, one table.
# Arguments go to bosun-bench (--quick, --keep, --markdown, --skip-agent, --agent-bin PATH; or a
# section first: ping, cluster, console, policy, fanout, usage, history, checks, edge).
set -euo pipefail
cd "$(dirname "$0")/.."

# HAProxy is the proxies' peer; Debian's node exporter is the reference for usage sampling.
missing=()
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
# Debian's blackbox exporter is the reference for http checks.
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || missing+=(prometheus-blackbox-exporter)
# bosun-bench links the console (the history benchmark), which embeds Debian's Chart.js
# and xterm.js.
dpkg -s node-chart.js >/dev/null 2>&1 || missing+=(node-chart.js)
dpkg -s node-xterm >/dev/null 2>&1 || missing+=(node-xterm)
dpkg -s libjs-xterm >/dev/null 2>&1 || missing+=(libjs-xterm)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
  # Only the binaries are wanted; the benchmarks start their own instances.
  for service in haproxy prometheus-node-exporter prometheus-blackbox-exporter; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl stop "$service"
    fi
  done
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
