#!/usr/bin/env bash
# Installs the Debian packages udpx needs, only those missing. Usage: install-deps.sh build|test|deb|bench
#
# It never removes a package (apt-get --no-remove, and a dry run checked first), and it installs no
# daemon the machine did not have: the tests' chronyd and rsyslogd come from `apt-get download` +
# `dpkg-deb -x` into build/peers/ (UDPX_PEERS_DIR) when chrony or rsyslog is not installed, with
# only their libraries installed normally. Installing the chrony package would remove
# systemd-timesyncd (they conflict) and leave the machine without time synchronisation; rsyslog
# would replace another syslog daemon, and enable a service either way.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
peers=${UDPX_PEERS_DIR:-$repo/build/peers}

build_pkgs=(g++ cmake make pkg-config libevent-dev libtomlplusplus-dev libgtest-dev libgmock-dev
            libseccomp-dev libcap-dev prometheus-cpp-dev)
# Real peers for the end-to-end tests: NTP (chronyd: see above, ntpdig), DNS (dnsmasq, dig), syslog
# (rsyslogd: see above, logger), dnsperf (DNS load over UDP and TCP). Privilege separation: systemd-socket-activate (systemd), capsh
# (libcap2-bin). Metrics: promtool and a real Prometheus server (prometheus). The man pages: mandoc.
# The fuzz targets (tests/fuzz/): clang 16 with its libFuzzer and sanitizer runtimes, and
# llvm-symbolizer (llvm-14) for readable stack traces.
# The package's e2e test: the deb packages below.
test_pkgs=(python3 ntpsec-ntpdig dnsmasq-base bind9-dnsutils dnsperf bsdutils iproute2 procps util-linux valgrind
           systemd libcap2-bin prometheus mandoc man-db clang-16 libclang-rt-16-dev llvm-14)
# Daemons the tests run as their own processes, never as the machine's services.
extracted_pkgs=(chrony rsyslog)
# `make deb`: dpkg-buildpackage with debhelper; lintian and hardening-check (devscripts) check it.
deb_pkgs=(build-essential debhelper dpkg-dev lintian devscripts)
# The benchmark's peers (bench/run.sh): socat, nginx's stream module, dnsdist; and the profilers.
bench_pkgs=(socat nginx libnginx-mod-stream dnsdist strace linux-perf valgrind)

pkgs=("${build_pkgs[@]}")
extract=()
case "${1:-build}" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}" "${deb_pkgs[@]}"); extract=("${extracted_pkgs[@]}") ;;
  deb) pkgs+=("${deb_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${deb_pkgs[@]}" "${bench_pkgs[@]}"); extract=("${extracted_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|deb|bench" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# The daemons: installed already (use the system's binary), or extracted before (nothing to do),
# or to be extracted now (their libraries join the packages to install).
to_extract=()
# UDPX_EXTRACT_PEERS=always extracts them even when installed (to try this path on a machine that has them).
for p in ${extract[@]+"${extract[@]}"}; do
  [ "${UDPX_EXTRACT_PEERS:-}" != always ] && installed "$p" && continue
  [ -e "$peers/$p.extracted" ] && continue
  to_extract+=("$p")
done

missing=()
for p in "${pkgs[@]}"; do
  installed "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#to_extract[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]} ${to_extract[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq

# The libraries the extracted daemons need (their Depends: that are shared libraries).
for p in ${to_extract[@]+"${to_extract[@]}"}; do
  while read -r dep; do
    installed "$dep" || missing+=("$dep")
  done < <(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
             --no-enhances "$p" | sed -n 's/^ *|\{0,1\}Depends: \(lib[^ <>]*\)$/\1/p' | sort -u)
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # Refuse before anything changes if apt would remove a package to install these.
  removals=$(apt-get install -s -y --no-install-recommends "${missing[@]}" | sed -n 's/^Remv \([^ ]*\).*/\1/p')
  if [ -n "$removals" ]; then
    echo "install-deps.sh: installing ${missing[*]} would remove: $removals — refusing;" \
         "install what you need by hand" >&2
    exit 1
  fi
  # Keep apt from starting services of packages it installs (none of the above is a daemon the tests
  # need running; the tests start their own instances on loopback).
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ -n "$created_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
  $sudo apt-get install -y -qq --no-remove --no-install-recommends "${missing[@]}"
  # The bench runs nginx as its own processes; the package enables a service that would take
  # port 80 at the next boot (or now, without the policy above). Only a just-installed nginx is
  # stopped and disabled: one the machine had before is left as it was.
  if [ "${1:-build}" = bench ] && [[ " ${missing[*]} " == *" nginx "* ]]; then
    echo "nginx was just installed for the bench: stopping and disabling its service (port 80)"
    if [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now nginx.service >/dev/null 2>&1 || true
    else
      $sudo update-rc.d nginx disable >/dev/null 2>&1 || true
      $sudo invoke-rc.d nginx stop >/dev/null 2>&1 || true
    fi
  fi
fi

for p in ${to_extract[@]+"${to_extract[@]}"}; do
  echo "extracting $p into $peers/root (not installed: the machine's own services stay as they are)"
  mkdir -p "$peers/root" "$peers/download"
  rm -f "$peers/download/${p}_"*.deb
  (cd "$peers/download" && apt-get download "$p")
  dpkg-deb -x "$peers/download/${p}_"*.deb "$peers/root"
  touch "$peers/$p.extracted"
done
