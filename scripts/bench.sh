#!/usr/bin/env bash
# SEV-SNP verification throughput with warm (offline) collateral, next to
# the unavoidable signature checks timed by `openssl speed` in the same run.
# One full verification = 1 ECDSA P-384 verify (report) + 2 RSA-4096
# RSASSA-PSS verifies (VCEK<-ASK, ASK<-ARK) + 1 RSA-4096 verify (ARK CRL).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$BUILD_DIR/bench/snp_verify_bench" --benchmark_min_time=2 --benchmark_counters_tabular=true \
  | tee "$BUILD_DIR/bench.txt"
openssl speed -seconds 3 ecdsap384 2>/dev/null | tail -1 | tee "$BUILD_DIR/speed_ecdsa.txt"
openssl speed -seconds 3 rsa4096 2>/dev/null | tail -1 | tee "$BUILD_DIR/speed_rsa.txt"
