#!/usr/bin/env bash
# udpx benchmark: builds the tools (unless UDPX_BIN and the bench tool paths are given, as ctest
# does), then runs bench/run.py: the same load directly (the ceiling) and through udpx, nginx and
# socat, proxy on one CPU, load generator and responder on the other; prints one table.
#   bench/run.sh            full run (about 10 minutes; needs `tools/install-deps.sh bench`)
#   bench/run.sh --smoke    a few seconds, direct + udpx only, fails unless every request is answered
# Any other arguments go to run.py (see bench/run.py --help).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${UDPX_BUILD:-build}"
if [ -z "${UDPX_BIN:-}" ] || [ -z "${UDPX_BENCH_LOADGEN:-}" ] || [ -z "${UDPX_BENCH_RESPONDER:-}" ]; then
  [ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target udpx udpx_bench_loadgen udpx_bench_responder >/dev/null
  export UDPX_BUILD="$BUILD"
fi
# One socket per simulated client and per udpx session: 10,000 sessions need the open files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 bench/run.py "$@"
