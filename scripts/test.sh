#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. ctest on the normal build (unit, golden, property, integration, chaos);
#   2. the container test (scripts/container-test.sh: builds the image from
#      the Dockerfile with podman and checks it; needs root);
#   3. the hardening stage (scripts/ci_hardening.sh: one clang build with
#      ASan/UBSan + libFuzzer coverage, the unit tests under the sanitizers,
#      then every fuzz target for RP_FUZZ_SECONDS seconds, 15 by default here).
# RP_SKIP_CONTAINER_TEST=1 / RP_SKIP_HARDENING=1 / RP_SKIP_FUZZ=1 skip stages
# (for developers; CI runs all of them). Prints the time of each stage.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
export RP_FUZZ_SECONDS="${RP_FUZZ_SECONDS:-15}"
t0=$SECONDS
"$ROOT/scripts/build.sh"
t_build=$((SECONDS - t0))
(cd "$BUILD_DIR" && ctest --output-on-failure -j"$(nproc)" --timeout 600)
t_ctest=$((SECONDS - t0 - t_build))
t1=$SECONDS
if [ "${RP_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  echo "container test skipped (RP_SKIP_CONTAINER_TEST=1)"
else
  "$ROOT/scripts/container-test.sh"
fi
t_container=$((SECONDS - t1))
t2=$SECONDS
"$ROOT/scripts/ci_hardening.sh"
t_hardening=$((SECONDS - t2))
echo "test.sh: build ${t_build}s, ctest ${t_ctest}s, container ${t_container}s," \
  "hardening ${t_hardening}s, total $((SECONDS - t0))s"
