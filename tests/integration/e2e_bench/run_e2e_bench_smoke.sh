#!/usr/bin/env bash
# Smoke test of the end-to-end benchmark client (issue 16), so that it does
# not rot: the real server on loopback (the config scripts/bench_e2e.sh
# uses) and `attest_load --mode e2e` with 5 requests each for SEV-SNP, TDX
# and TDX + 8 GPUs: every request gets a token, the JSON names the server's
# CPU, RSS and threads, and the Markdown row is printed. Then the transport
# floor (bench/grpc_floor, answering the saved real answer to every Attest,
# with and without --work-us) gets the same 5 requests. Not a benchmark: no
# figure is judged.
#
#   run_e2e_bench_smoke.sh SERVER_BINARY ATTESTCTL ATTEST_LOAD GRPC_FLOOR
set -euo pipefail
[[ $# -eq 4 ]] || { echo "usage: $0 SERVER_BINARY ATTESTCTL ATTEST_LOAD GRPC_FLOOR" >&2; exit 2; }
LOAD=$3
FLOOR=$4
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
    --concurrency 2 --server-pid "$SRV_PID" --table-row --save-response "$WORK/answer.bin" $flags) ||
    die "attest_load $flags exited $?"
  json=$(sed -n 1p <<<"$out")
  row=$(sed -n 2p <<<"$out")
  echo "$flags: $json"
  [[ "$json" == *'"tokens":5,'* ]] || die "$flags: not 5 tokens: $json"
  [[ "$json" == *'"outcomes":{"TOKEN":5}'* ]] || die "$flags: outcomes: $json"
  [[ "$json" == *'"server":{"pid":'"$SRV_PID"* ]] || die "$flags: no server figures: $json"
  [[ "$json" == *'"threads_peak_sampled":'* ]] || die "$flags: no thread count: $json"
  [[ "$row" == "| "*" | 2 | "*" |" ]] || die "$flags: table row: $row"
  [[ -s "$WORK/answer.bin" ]] || die "$flags: --save-response wrote nothing"
done
# --save-response saves a warm-up answer, so it needs one.
rc=0
"$LOAD" --mode e2e --targets "$GRPC" --sim-dir "$SIM" --warmup 0 --save-response "$WORK/x" \
  >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "--save-response with --warmup 0: exit $rc, want 2"

# The transport floor with the last saved answer (TDX + 8 GPUs).
for run in "0 sync" "100 sync" "100 callback"; do
  read -r work model <<<"$run"
  rm -f "$WORK/floor_ports.json"
  "$FLOOR" --response "$WORK/answer.bin" --work-us "$work" --model "$model" \
    --port-file "$WORK/floor_ports.json" 2>"$WORK/floor.log" &
  fpid=$!
  E2E_PIDS+=("$fpid")
  for _ in $(seq 1 100); do [[ -s "$WORK/floor_ports.json" ]] && break; sleep 0.1; done
  fport=$(sed -n "s/.*\"grpc\":\([0-9]*\).*/\1/p" "$WORK/floor_ports.json")
  [[ -n "$fport" ]] || { cat "$WORK/floor.log"; die "grpc_floor did not start"; }
  json=$("$LOAD" --mode e2e --targets "127.0.0.1:$fport" --sim-dir "$SIM" --requests 5 --warmup 1 \
    --concurrency 2 --server-pid "$fpid" | sed -n 1p) || die "attest_load against grpc_floor exited $?"
  echo "floor, --work-us $work --model $model: $json"
  [[ "$json" == *'"outcomes":{"TOKEN":5}'* ]] || die "floor: outcomes: $json"
  kill -TERM "$fpid"
  wait "$fpid" || die "grpc_floor exit status $?"
done
rc=0
"$FLOOR" --response /nonexistent >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "grpc_floor without a readable answer: exit $rc, want 2"
rc=0
"$FLOOR" --response "$WORK/answer.bin" --listen 0.0.0.0:0 >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "grpc_floor on a non-loopback address: exit $rc, want 2"
rc=0
"$FLOOR" --response "$WORK/answer.bin" --model bogus >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "grpc_floor --model bogus: exit $rc, want 2"
# A usage error is exit 2, not a run.
rc=0
"$LOAD" --mode e2e --targets "$GRPC,$GRPC" --sim-dir "$SIM" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || die "two targets for e2e: exit $rc, want 2"
e2e_stop_server || die "server exit status $?"
echo "ok: e2e benchmark client smoke (3 scenarios x 5 requests, all tokens; the gRPC floor)"
