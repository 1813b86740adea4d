#!/usr/bin/env bash
# CI hardening stage (called from scripts/test.sh): the ASan/UBSan unit tests,
# then a time-boxed run of every fuzz target. docs/testing.md.
#
#   RP_SKIP_HARDENING=1        skip the whole stage
#   RP_SKIP_FUZZ=1             sanitizer tests only
#   RP_FUZZ_SECONDS=N          seconds per fuzz target (default 30)
#   HARDENING_BUILD_DIR=DIR    the shared build (default build-hardening)
#
# One instrumented build serves both: every target compiled once with
# -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
# (the fuzzer-no-link coverage hooks are inert outside libFuzzer), unit tests
# and fuzz targets linked from the same objects. Fuzz crashes fail the stage
# and are saved under tests/fuzz/crashes/ (CI keeps them as artifacts; fixed
# ones move to tests/fuzz/regressions/<target>/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "${RP_SKIP_HARDENING:-0}" = 1 ]; then echo "hardening: skipped (RP_SKIP_HARDENING=1)"; exit 0; fi
RP_DEPS=hardening "$ROOT/scripts/install_deps.sh"  # clang, sanitizer + libFuzzer runtimes
BUILD="${HARDENING_BUILD_DIR:-$ROOT/build-hardening}"
t0=$SECONDS
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  gen=() launcher=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  command -v ccache >/dev/null &&
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
  # -gline-tables-only: file:line in sanitizer and fuzzer stack traces is all
  # CI reads; full -g (scripts/sanitizers.sh, scripts/fuzz.sh, for gdb) makes
  # the compile and above all the links of ~40 binaries markedly slower.
  flags+=" -fno-omit-frame-pointer -gline-tables-only -O1"
  cmake -S "$ROOT" -B "$BUILD" "${gen[@]}" "${launcher[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE= \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DBUILD_TESTING=ON -DRP_BUILD_FUZZERS=ON -DRP_BUILD_BENCHMARKS=OFF >/dev/null
fi
rc=0
SAN_BUILD_DIR="$BUILD" "$ROOT/scripts/sanitizers.sh" || rc=1
t1=$SECONDS
if [ "${RP_SKIP_FUZZ:-0}" != 1 ]; then
  FUZZ_BUILD_DIR="$BUILD" "$ROOT/scripts/fuzz.sh" all "${RP_FUZZ_SECONDS:-30}" || rc=1
fi
echo "hardening: sanitizers $((t1 - t0))s, fuzz $((SECONDS - t1))s, total $((SECONDS - t0))s, exit $rc"
exit $rc
