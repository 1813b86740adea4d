#!/usr/bin/env bash
# Smoke test of the end-to-end benchmark client (issue 16), so that it does
# not rot: the real server on loopback (the config scripts/bench_e2e.sh
# uses) and `attest_load --mode e2e` with 5 requests each for SEV-SNP, TDX
# and TDX + 8 GPUs: every request gets a token, the JSON names the server's
# CPU, RSS and threads, and the Markdown row is printed. Not a benchmark:
# no figure is judged.
#
#   run_e2e_bench_smoke.sh SERVER_BINARY ATTESTCTL ATTEST_LOAD
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 SERVER_BINARY ATTESTCTL ATTEST_LOAD" >&2; exit 2; }
LOAD=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib/e2e.sh
source "$HERE/../lib/e2e.sh"
e2e_init e2e_bench_smoke "$1" "$2"

SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
cat >"$WORK/server.yaml" <<CFG
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
nonce: {lifetime_seconds: 3600}
token: {algorithm: ES256, issuer: rp-e2e-bench-smoke}
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
simulation: {trust_simulation_root: true, dir: $SIM}
limits:
  get_challenge: {rate_per_second: -1}
  attest: {rate_per_second: -1}
CFG
e2e_start_server "$WORK/server.yaml"

for flags in "--tee snp" "--tee tdx" "--tee tdx --gpus 8"; do
  # shellcheck disable=SC2086
  out=$("$LOAD" --mode e2e --targets "$GRPC" --sim-dir "$SIM" --requests 5 --warmup 1 \
    --concurrency 2 --server-pid "$SRV_PID" --table-row $flags) ||
    die "attest_load $flags exited $?"
  json=$(sed -n 1p <<<"$out")
  row=$(sed -n 2p <<<"$out")
  echo "$flags: $json"
  [[ "$json" == *'"tokens":5,'* ]] || die "$flags: not 5 tokens: $json"
  [[ "$json" == *'"outcomes":{"TOKEN":5}'* ]] || die "$flags: outcomes: $json"
  [[ "$json" == *'"server":{"pid":'"$SRV_PID"* ]] || die "$flags: no server figures: $json"
  [[ "$json" == *'"threads_peak_sampled":'* ]] || die "$flags: no thread count: $json"
  [[ "$row" == "| "*" | 2 | "*" |" ]] || die "$flags: table row: $row"
done
# A usage error is exit 2, not a run.
rc=0
"$LOAD" --mode e2e --targets "$GRPC,$GRPC" --sim-dir "$SIM" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "two targets for e2e: exit $rc, want 2"
e2e_stop_server || die "server exit status $?"
echo "ok: e2e benchmark client smoke (3 scenarios x 5 requests, all tokens)"
