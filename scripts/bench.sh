#!/usr/bin/env bash
# Verification throughput with warm (offline / bundle) collateral, next to the
# unavoidable signature checks timed by `openssl speed` in the same run. The
# floor is what no cache can avoid for fresh evidence (bench/floor_ratios.mjs):
#   TDX quote: 2 ECDSA P-256 verifies (quote, QE report).
#   SEV-SNP:   1 ECDSA P-384 verify (report).
#   GPU:       1 ECDSA P-384 verify per GPU (report); TDX + N GPUs: 2 P-256 + N P-384.
# Everything else (PCK / VCEK / device chains, CRLs, TCB info, QE identity, RIM
# signatures, OCSP answers) is verified on a platform's first request and then
# served by the verified-object memo (docs/verified-memo.md); engine_bench's
# /memo:0 cases time that cold path.
# engine_bench's ratios come from bench/floor_ratios.mjs; the other *_bench
# print items/s for single verifiers.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# Whole appraisals (bench/engine_bench.cc: every verifier, collateral, RIM
# appraisal and OCSP), with the verified-object memo and without, between two
# timings of their signature floor by openssl speed, and interleaved with an
# in-process timing of the same floor (the host's speed drifts: see
# bench/floor_ratios.mjs).
speed() { openssl speed -seconds 3 "$1" 2>/dev/null | tail -1 | tee "$BUILD_DIR/speed_$1$2.txt"; }
speed ecdsap256 _before
speed ecdsap384 _before
if [ -x "$BUILD_DIR/bench/engine_bench" ]; then
  # Five repetitions of every case, randomly interleaved with those of the
  # in-process floor (BM_floor_ecdsa): bench/floor_ratios.mjs uses medians.
  "$BUILD_DIR/bench/engine_bench" --benchmark_min_time=1 --benchmark_repetitions=5 \
    --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=false \
    --benchmark_out="$BUILD_DIR/engine_bench.json" --benchmark_out_format=json \
    | tee "$BUILD_DIR/engine_bench.txt"
fi
speed ecdsap256 ""
speed ecdsap384 ""
for b in snp_verify_bench tdx_verify_bench gpu_verify_bench release_bench; do
  if [ -x "$BUILD_DIR/bench/$b" ]; then
    "$BUILD_DIR/bench/$b" --benchmark_min_time=2 --benchmark_counters_tabular=true \
      | tee "$BUILD_DIR/$b.txt"
  fi
done
# The same TDX quote and collateral through an independent verifier.
DQ="$ROOT/tests/integration/dcap_qvl"
if command -v node >/dev/null && [ -d "$DQ/node_modules/@phala/dcap-qvl" ]; then
  node "$DQ/bench.mjs" "$ROOT/tests/data/tdx" 3 | tee "$BUILD_DIR/dcap_qvl_bench.txt"
fi
# Key release (release_bench): 1 ES256 verify + 1 ECDH P-256 (and an
# ephemeral P-256 key) per release.
for alg in rsa4096 ecdhp256; do speed "$alg" ""; done
# Ratios to the signature floor (docs/performance.md): appraisals/s with the
# memo over the unavoidable fresh-evidence signature checks per appraisal,
# timed above by `openssl speed` (single core, like the benchmarks).
if [ -f "$BUILD_DIR/engine_bench.json" ] && command -v node >/dev/null; then
  node "$ROOT/bench/floor_ratios.mjs" "$BUILD_DIR/engine_bench.json" \
    "$BUILD_DIR/speed_ecdsap256_before.txt" "$BUILD_DIR/speed_ecdsap384_before.txt" \
    "$BUILD_DIR/speed_ecdsap256.txt" "$BUILD_DIR/speed_ecdsap384.txt" | tee "$BUILD_DIR/floor_ratios.md"
fi
# End to end through gRPC (issue 16): the real server on loopback and
# bench/attest_load --mode e2e for SEV-SNP, TDX and TDX + 8 GPUs at
# concurrency 1, 4, 16, 64 (table in $BUILD_DIR/bench_e2e.md).
# BENCH_E2E=0 skips it.
if [ "${BENCH_E2E:-1}" = 1 ] && [ -x "$BUILD_DIR/bench/attest_load" ] &&
  [ -x "$BUILD_DIR/server/attestation-server" ]; then
  "$ROOT/scripts/bench_e2e.sh" "$BUILD_DIR"
fi
