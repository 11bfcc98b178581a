#!/bin/sh
# Runs one fuzz target: run.sh FUZZER SEED_CORPUS WORK_DIR SECONDS [-dict=FILE] [libFuzzer flags]
# $FUZZ_SECONDS, when set, replaces SECONDS (`make fuzz FUZZ_SECONDS=600`).
# The seeds are read and never written; what the run finds goes to WORK_DIR/corpus, a crashing
# input to WORK_DIR/crash-* (keep it as a seed in tests/fuzz/corpus/<target>/ once fixed).
# Exits non-zero on any crash, leak, timeout, out-of-memory or UBSan report.
set -eu
fuzzer=$1 seeds=$2 work=$3 seconds=${FUZZ_SECONDS:-$4}
shift 4
mkdir -p "$work/corpus"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}"
# Stack traces with function names and lines (the clang that built the target has one).
for s in llvm-symbolizer-16 llvm-symbolizer-14 llvm-symbolizer; do
  if command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"; break; fi
done
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
