#!/usr/bin/env bash
# Installs the Debian packages udpx needs, only those missing. Usage: install-deps.sh build|test|bench
set -euo pipefail

build_pkgs=(g++ cmake make pkg-config libevent-dev libtomlplusplus-dev libgtest-dev libgmock-dev
            libseccomp-dev libcap-dev prometheus-cpp-dev)
# Real peers for the end-to-end tests: NTP (chronyd, ntpdig), DNS (dnsmasq, dig), syslog (rsyslogd, logger).
# Privilege separation: systemd-socket-activate (systemd), capsh (libcap2-bin). Metrics: promtool and a real
# Prometheus server (prometheus).
test_pkgs=(python3 chrony ntpsec-ntpdig dnsmasq-base bind9-dnsutils rsyslog bsdutils iproute2 procps util-linux valgrind
           systemd libcap2-bin prometheus)
# The benchmark's peers (bench/run.sh): socat, nginx's stream module, dnsdist; and the profilers.
bench_pkgs=(socat nginx libnginx-mod-stream dnsdist strace linux-perf valgrind)

pkgs=("${build_pkgs[@]}")
case "${1:-build}" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
# NOTE: chrony and rsyslog are services; the tests start their own instances on loopback.
# Keep apt from starting the system ones (chronyd would try to reach the public NTP pool).
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ -n "$created_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
