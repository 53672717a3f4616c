# Sourced by the start scripts: the port to serve on is checked before anything is built
# or printed, so a taken port fails at once with what to do about it.
#
#   port_free VARIABLE ADDRESS    exits 2 when ADDRESS's port already has a listener

port_free() {
  local var=$1 addr=$2
  local port=${addr##*:} host=${addr%:*}
  local taken=
  if command -v ss >/dev/null 2>&1; then
    # Any listener on the port, whatever its address: binding would fail on most of them.
    [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && taken=1
  else
    local probe=$host
    case "$probe" in 0.0.0.0|'['*|'') probe=127.0.0.1 ;; esac
    (exec 3<>"/dev/tcp/$probe/$port") 2>/dev/null && taken=1
  fi
  if [ -n "$taken" ]; then
    cat >&2 <<MSG
$(basename "$0"): port $port is already in use, so nothing can serve on $addr.
Another program listens there, or this script is already running (another terminal?).
Stop that, or pick another port by setting $var, for example:

  $var=$host:$((port + 1)) $0

MSG
    exit 2
  fi
}
