#!/usr/bin/env bash
# Installs what is missing, builds, runs every test (ctest), then the
# container test (scripts/container-test.sh: builds the image from the
# Dockerfile with podman and checks it; needs root). RP_SKIP_CONTAINER_TEST=1
# skips the container test.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh"
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)" --timeout 600
if [ "${RP_SKIP_CONTAINER_TEST:-0}" = 1 ]; then
  echo "container test skipped (RP_SKIP_CONTAINER_TEST=1)"
else
  "$ROOT/scripts/container-test.sh"
fi
