#!/usr/bin/env bash
# End-to-end load benchmark (issue 16): the real attestation-server on
# loopback and bench/attest_load --mode e2e as the client, for SEV-SNP, TDX
# and TDX + 8 GPUs at concurrency 1, 4, 16 and 64. Every run gets a fresh
# server (so RSS, threads and per-request CPU belong to that run), the demo
# policy, the simulator's collateral, the audit log on (to a file), the
# per-client rate limits off (one client sends everything) and admission
# control at its defaults (limits.max_in_flight = 2 x cores, max_queued = 4 x
# that, 1 s wait). One more run per scenario at c = 64 with admission control
# out of the way (max_in_flight 64, no queue) shows what it changes.
#
#   scripts/bench_e2e.sh [BUILD_DIR]
# Environment: E2E_N_SNP, E2E_N_TDX, E2E_N_GPU (requests per run; 2000, 1000,
# 120), E2E_CONCURRENCY ("1 4 16 64"), E2E_SCENARIOS ("snp tdx tdx8gpu"),
# E2E_NO_ADMISSION (1: the extra c = 64 runs; 0: skip), E2E_CLIENT_FLAGS (more
# attest_load flags, e.g. --retry-busy: resend a SERVER_BUSY request after its
# retry-after hint, as a well-behaved client does; default: count it as an
# error and move on), E2E_ROUNDS (1: how many times each run's N requests are
# sent to the same server, one table row per round: does the cost per request
# change over the server's life?), E2E_FUTEX (1: record every futex wait of the
# server with perf during each round and print where its threads blocked, by
# bench/futex_waits.mjs; lock contention in docs/performance.md), E2E_FLOOR
# (1: after each scenario, the same requests at the same concurrencies against
# bench/grpc_floor, a server on the same gRPC set-up that does no attestation
# work and sends back a real answer of this scenario: rows "(gRPC floor)", the
# most this transport and client allow on this machine; 0: skip),
# E2E_FLOOR_WORK_US ("0": one floor row per value, each Attest of grpc_floor
# burning that many microseconds of CPU first; the in-process appraisal time
# shows what a server doing nothing but the appraisal would reach),
# E2E_FLOOR_MODELS ("sync": the floor's gRPC API per row set, sync and/or
# callback; grpc_floor --model), E2E_LIMITS
# (more lines under the server config's limits:, e.g. "max_in_flight: 2", for
# sizing experiments; default none).
# Prints one Markdown table (also in $BUILD_DIR/bench_e2e.md) and keeps each
# run's JSON in $BUILD_DIR/bench_e2e.jsonl.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${1:-${BUILD_DIR:-$ROOT/build}}"
SRV="$BUILD_DIR/server/attestation-server"
CTL="$BUILD_DIR/cli/attestctl"
LOAD="$BUILD_DIR/bench/attest_load"
FLOOR_SRV="$BUILD_DIR/bench/grpc_floor"
FLOOR=${E2E_FLOOR:-1}
for b in "$SRV" "$CTL" "$LOAD" $([[ "$FLOOR" == 1 ]] && echo "$FLOOR_SRV"); do
  [[ -x "$b" ]] || { echo "bench_e2e: $b not built" >&2; exit 2; }
done
# shellcheck source=../tests/integration/lib/e2e.sh
source "$ROOT/tests/integration/lib/e2e.sh"
e2e_init bench_e2e "$SRV" "$CTL"

N_SNP=${E2E_N_SNP:-2000}
N_TDX=${E2E_N_TDX:-1000}
N_GPU=${E2E_N_GPU:-120}
CONCURRENCY=${E2E_CONCURRENCY:-"1 4 16 64"}
SCENARIOS=${E2E_SCENARIOS:-"snp tdx tdx8gpu"}
NO_ADMISSION=${E2E_NO_ADMISSION:-1}
read -r -a CLIENT_FLAGS <<<"${E2E_CLIENT_FLAGS:-}"

SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null

# config EXTRA_LIMITS: a server config for this run (EXTRA_LIMITS: more
# lines under limits:, already indented).
config() {
  cat >"$WORK/server.yaml" <<CFG
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
nonce: {lifetime_seconds: 3600}
token: {algorithm: ES256, issuer: rp-bench-e2e}
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
simulation: {trust_simulation_root: true, dir: $SIM}
audit_log: $WORK/audit.log
limits:
  get_challenge: {rate_per_second: -1}
  attest: {rate_per_second: -1}
$1
$(sed "s/^/  /" <<<"${E2E_LIMITS:-}")
CFG
}

OUT_MD="$BUILD_DIR/bench_e2e.md"
OUT_JSON="$BUILD_DIR/bench_e2e.jsonl"
: >"$OUT_JSON"
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| scenario | c | answers/s | tokens/s | p50 ms | p90 ms | p99 ms | token p99 ms | errors | server CPU ms/token | server RSS MB (peak) | server threads (peak) | client CPU ms/req |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} | tee "$OUT_MD"

WARMUP=10  # challenges attest_load sends before the timed ones
ROUNDS=${E2E_ROUNDS:-1}
FUTEX=${E2E_FUTEX:-0}
OUT_FUTEX="$BUILD_DIR/bench_e2e_futex.md"
if [[ "$FUTEX" == 1 ]]; then
  command -v perf >/dev/null || die "E2E_FUTEX=1 needs perf (linux-perf)"
  : >"$OUT_FUTEX"
fi
# Futex operations that block: FUTEX_WAIT and FUTEX_WAIT_BITSET, private or
# not, with or without FUTEX_CLOCK_REALTIME (0, 9, 128, 137, 265, 393).
FUTEX_WAIT_OPS='op == 0 || op == 9 || op == 128 || op == 137 || op == 265 || op == 393'

# run LABEL C N LOAD_FLAGS...: one fresh server, ROUNDS e2e runs against it.
run() {
  local label=$1 c=$2 n=$3
  shift 3
  e2e_start_server "$WORK/server.yaml"
  local out round tag perf_pid=""
  for round in $(seq 1 "$ROUNDS"); do
    tag=$label
    [[ "$ROUNDS" -gt 1 ]] && tag="$label, round $round"
    if [[ "$FUTEX" == 1 ]]; then
      perf record -q -o "$WORK/futex.data" -e syscalls:sys_enter_futex --filter "$FUTEX_WAIT_OPS" \
        --call-graph dwarf,16384 -e 'syscalls:sys_exit_futex/call-graph=no/' -p "$SRV_PID" \
        2>"$WORK/perf.err" &
      perf_pid=$!
      sleep 1 # perf attaches to every thread before the load starts
    fi
    out=$("$LOAD" --mode e2e --targets "$GRPC" --sim-dir "$SIM" --requests "$n" --concurrency "$c" \
      --warmup "$WARMUP" --server-pid "$SRV_PID" --label "$tag" --table-row "$@" ${CLIENT_FLAGS[@]+"${CLIENT_FLAGS[@]}"})
    if [[ -n "$perf_pid" ]]; then
      kill -INT "$perf_pid"
      local prc=0
      wait "$perf_pid" || prc=$?
      # perf record ends with SIGINT's status (130) when it was interrupted.
      [[ $prc == 0 || $prc == 130 ]] || die "perf record exit status $prc: $(cat "$WORK/perf.err")"
      perf_pid=""
      {
        echo
        echo "### $tag, c = $c"
        echo
        perf script -i "$WORK/futex.data" 2>/dev/null | node "$ROOT/bench/futex_waits.mjs" --requests "$((n + WARMUP))"
      } >>"$OUT_FUTEX"
    fi
    sed -n 1p <<<"$out" >>"$OUT_JSON"
    sed -n 2p <<<"$out" | tee -a "$OUT_MD"
  done
  e2e_stop_server || die "server exit status $? after $label c=$c"
}

# floor LABEL C N ANSWER WORK_US MODEL LOAD_FLAGS...: one run against a fresh
# grpc_floor (gRPC API MODEL) that answers ANSWER (a saved AttestResponse) to
# every Attest after WORK_US microseconds of CPU.
floor() {
  local label=$1 c=$2 n=$3 answer=$4 work=$5 model=$6 out pid
  shift 6
  rm -f "$WORK/floor_ports.json"
  "$FLOOR_SRV" --response "$answer" --work-us "$work" --model "$model" \
    --port-file "$WORK/floor_ports.json" 2>"$WORK/floor.log" &
  pid=$!
  E2E_PIDS+=("$pid")
  for _ in $(seq 1 100); do [[ -s "$WORK/floor_ports.json" ]] && break; sleep 0.1; done
  [[ -s "$WORK/floor_ports.json" ]] || { cat "$WORK/floor.log"; die "grpc_floor did not start"; }
  local port
  port=$(sed -n "s/.*\"grpc\":\([0-9]*\).*/\1/p" "$WORK/floor_ports.json")
  out=$("$LOAD" --mode e2e --targets "127.0.0.1:$port" --sim-dir "$SIM" --requests "$n" \
    --concurrency "$c" --warmup "$WARMUP" --server-pid "$pid" --label "$label" --table-row "$@")
  kill -TERM "$pid"
  wait "$pid" || die "grpc_floor exit status $? after $label c=$c"
  sed -n 1p <<<"$out" >>"$OUT_JSON"
  sed -n 2p <<<"$out" | tee -a "$OUT_MD"
}

for s in $SCENARIOS; do
  case $s in
    snp) n=$N_SNP flags=(--tee snp) ;;
    tdx) n=$N_TDX flags=(--tee tdx) ;;
    tdx8gpu) n=$N_GPU flags=(--tee tdx --gpus 8) ;;
    *) die "unknown scenario $s" ;;
  esac
  config ""
  answer="$WORK/answer_$s.bin"
  save=(--save-response "$answer")
  for c in $CONCURRENCY; do
    run "$s" "$c" "$n" "${flags[@]}" ${save[@]+"${save[@]}"}
    save=()
  done
  if [[ "$NO_ADMISSION" == 1 ]]; then
    # Admission control out of the way: 64 may run at once (threads to match).
    config "  max_in_flight: 64
  max_queued: -1
  grpc_max_threads: 96"
    run "$s (no admission control)" 64 "$n" "${flags[@]}"
  fi
  if [[ "$FLOOR" == 1 ]]; then
    for m in ${E2E_FLOOR_MODELS:-sync}; do
      for w in ${E2E_FLOOR_WORK_US:-0}; do
        label="gRPC floor"
        [[ "$m" != sync ]] && label+=", $m API"
        [[ "$w" != 0 ]] && label+=", $w µs work"
        for c in $CONCURRENCY; do floor "$s ($label)" "$c" "$n" "$answer" "$w" "$m" "${flags[@]}"; done
      done
    done
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT_MD"
[[ "$FUTEX" == 1 ]] && echo "futex waits per run: $OUT_FUTEX"
exit 0
