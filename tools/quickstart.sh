#!/usr/bin/env bash
# `make run`: the example config (conf/udpx.toml) in the foreground, with an upstream to serve.
# Usage: quickstart.sh UDPX_BINARY CONFIG
#
# The example forwards NTP from 127.0.0.1:1123 to 127.0.0.1:123. When nothing answers NTP there,
# this starts a local chronyd (the one the tests use: installed, or extracted by
# tools/install-deps.sh into build/peers/) on 127.0.0.1:123 as the upstream: it serves its own
# clock (`local stratum 8`), never sets the clock (-x), has no server to ask and listens on loopback
# only, so nothing leaves the machine. It stops with udpx. chronyd needs root: as another user it
# runs under sudo.
set -euo pipefail

udpx=${1:?usage: quickstart.sh UDPX_BINARY CONFIG}
config=${2:?usage: quickstart.sh UDPX_BINARY CONFIG}
repo=$(cd "$(dirname "$0")/.." && pwd)
work="$repo/build/quickstart"

# True when something answers an NTP client request (mode 3) on 127.0.0.1:PORT within 2 seconds.
ntp_answers() {
  local fmt='\x23' reply
  for _ in $(seq 47); do fmt+='\x00'; done
  exec 3<>"/dev/udp/127.0.0.1/$1" || return 1
  printf "$fmt" >&3   # one write: one 48-byte datagram
  local rc=0
  IFS= read -r -t 2 -N 1 reply <&3 2>/dev/null || rc=1
  exec 3>&-
  return $rc
}

find_chronyd() {
  local p
  for p in "$(command -v chronyd || true)" /usr/sbin/chronyd "${UDPX_PEERS_DIR:-$repo/build/peers}/root/usr/sbin/chronyd"; do
    [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

chronyd_pid=""
stop_chronyd() {
  [ -n "$chronyd_pid" ] || return 0
  kill "$chronyd_pid" 2>/dev/null || ${sudo:-} kill "$chronyd_pid" 2>/dev/null || true
  [ -f "$work/chronyd.pid" ] && { ${sudo:-} kill "$(cat "$work/chronyd.pid")" 2>/dev/null || true; }
}

if ntp_answers 123; then
  echo "make run: an NTP server answers on 127.0.0.1:123; udpx forwards to it."
elif chronyd=$(find_chronyd); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "make run: chronyd needs root to listen on port 123, and sudo is missing" >&2; exit 1; }
    sudo=sudo
  fi
  mkdir -p "$work"
  cat > "$work/chronyd.conf" <<CONF
# make run's upstream: chronyd on loopback only, serving its own clock; no server, no clock control.
port 123
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
cmdport 0
bindcmdaddress /
pidfile $work/chronyd.pid
CONF
  echo "make run: nothing answers NTP on 127.0.0.1:123, so a local chronyd is started there as udpx's"
  echo "          upstream (loopback only, it serves this machine's clock and never sets it):"
  echo "          ${sudo:+sudo }$chronyd -x -d -u root -f $work/chronyd.conf  (log: $work/chronyd.log)"
  $sudo "$chronyd" -x -d -u root -f "$work/chronyd.conf" > "$work/chronyd.log" 2>&1 &
  chronyd_pid=$!
  trap stop_chronyd EXIT
  for _ in $(seq 50); do
    ntp_answers 123 && break
    kill -0 "$chronyd_pid" 2>/dev/null || { echo "make run: chronyd exited:" >&2; cat "$work/chronyd.log" >&2; exit 1; }
    sleep 0.2
  done
else
  echo "make run: nothing answers NTP on 127.0.0.1:123 and no chronyd was found (\`make deps-test\` gets"
  echo "          one): udpx will report its server down. Start an NTP server on 127.0.0.1:123 to see it serve."
fi

echo "make run: udpx -c $config (Ctrl-C stops it). In another terminal:"
echo "          chronyd -Q -t 5 'server 127.0.0.1 port 1123 iburst'    # time through udpx (needs root)"
echo "          $udpx status -c $config"
# Not exec: the trap stops chronyd when udpx ends.
"$udpx" -c "$config" || rc=$?
exit "${rc:-0}"
