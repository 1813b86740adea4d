#!/usr/bin/env bash
# Scale-out throughput (issue 12): SEV-SNP Attests (simulated evidence, one
# VCEK per client worker) with attest_load, for
#   1 replica, in-memory stores, attest_load -> replica
#   1 replica, in-memory stores, attest_load -> nginx -> replica
#   N = 1, 2, 3 replicas on one Redis, attest_load -> nginx -> replicas
# and, per Redis run, what the shared store costs per Attest: Redis commands
# per Attest and their server-side time (INFO commandstats), the round trip
# the replicas measured (rp_nonce_store_seconds), and redis-cli --latency.
# `openssl speed` gives the signature floor of the same machine: each Attest
# verifies one ECDSA P-384 report signature and RSA-4096 chain/CRL
# signatures, and signs one ES256 token.
#
# On a 2-core machine client, balancer, replicas and Redis share the cores:
# the point is the per-request cost of the shared store, not linear scaling.
# Not part of scripts/test.sh.
#   BUILD_DIR=build DURATION=20 CONCURRENCY=8 scripts/bench_scale_out.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
DURATION="${DURATION:-20}"
CONCURRENCY="${CONCURRENCY:-8}"
SRV="$BUILD_DIR/server/attestation-server"
CTL="$BUILD_DIR/cli/attestctl"
LOAD="$BUILD_DIR/bench/attest_load"
die() { echo "bench_scale_out: $*" >&2; exit 1; }
for b in "$SRV" "$CTL" "$LOAD"; do [[ -x $b ]] || die "$b not built (cmake --build $BUILD_DIR)"; done
for tool in redis-server redis-cli nginx curl node openssl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/install_deps.sh)"
done
NGINX=$(command -v nginx)

WORK=$(mktemp -d /tmp/rp_bench_scale_out.XXXXXX)
declare -A PID GRPC HTTP METRICS
REDIS_PID=""
NGINX_PID=""
cleanup() {
  set +e
  [[ -n "$NGINX_PID" ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null; wait "${PID[$n]}" 2>/dev/null; done
  [[ -n "$REDIS_PID" ]] && kill -TERM "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free loopback port"
}
jget() {
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = process.argv[2].split(".").reduce((o, k) => (o == null ? undefined : o[k]), j);
    process.stdout.write(v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));' "$1" "$2"
}

SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
(umask 077 && od -An -tx1 -v -N 32 /dev/urandom | tr -d ' \n' >"$WORK/hmac.key")
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/token.key" 2>/dev/null)
mkdir -p "$WORK/redis"
REDIS_PORT=""
for _ in 1 2 3 4 5; do
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
    --logfile "$WORK/redis/redis.log" --maxmemory-policy noeviction --daemonize no &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break 2
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
done
[[ -n "$REDIS_PID" ]] || die "redis-server did not start"

start_replicas() {  # N redis|memory
  local i name redis_block=""
  [[ $2 == redis ]] && redis_block="redis: {address: 127.0.0.1:$REDIS_PORT, namespace: bench}"
  for i in $(seq 1 "$1"); do
    name=r$i
    cat >"$WORK/$name.yaml" <<EOF
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
nonce: {hmac_key_file: $WORK/hmac.key}
token: {algorithm: ES256, issuer: rp-bench, keys: [{pem_file: $WORK/token.key, status: current}]}
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
policy_reload_interval_ms: -1
simulation: {trust_simulation_root: true, dir: $SIM}
audit_log: ""
limits: {get_challenge: {rate_per_second: -1}, attest: {rate_per_second: -1}}
$redis_block
EOF
    rm -f "$WORK/$name.ports.json"
    "$SRV" --config "$WORK/$name.yaml" --port-file "$WORK/$name.ports.json" >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
  done
  for i in $(seq 1 "$1"); do
    name=r$i
    for _ in $(seq 1 200); do [[ -s "$WORK/$name.ports.json" ]] && break; sleep 0.05; done
    [[ -s "$WORK/$name.ports.json" ]] || { cat "$WORK/$name.log"; die "replica $name did not start"; }
    port() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/$name.ports.json"; }
    GRPC[$name]=127.0.0.1:$(port grpc)
    HTTP[$name]=127.0.0.1:$(port http)
    METRICS[$name]=http://127.0.0.1:$(port metrics)
    for _ in $(seq 1 100); do curl -fs "http://${HTTP[$name]}/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  done
}
stop_replicas() {
  local n
  for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null || true; wait "${PID[$n]}" 2>/dev/null || true; done
  PID=()
  GRPC=()
  HTTP=()
  METRICS=()
}
start_nginx() {  # fronts every running replica; sets LB
  local g h conf
  g=$(printf '%s,' "${GRPC[@]}")
  h=$(printf '%s,' "${HTTP[@]}")
  for _ in 1 2 3 4 5; do
    local gp hp
    gp=$(free_port)
    hp=$(free_port)
    rm -rf "$WORK/lb"
    conf=$("$ROOT/deploy/lb/render_lb.sh" nginx "$WORK/lb" "127.0.0.1:$gp" "127.0.0.1:$hp" "${g%,}" "${h%,}")
    # The access log is per request; off here (it is on in the template).
    sed -i 's|^\(\s*access_log\).*|\1 off;|' "$conf"
    "$NGINX" -p "$WORK/lb" -e "$WORK/lb/logs/error.log" -c "$conf" -g 'daemon off;' 2>>"$WORK/nginx.log" &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
      if curl -fs "http://127.0.0.1:$hp/healthz" >/dev/null 2>&1; then LB=127.0.0.1:$gp; return 0; fi
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.05
    done
    kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true
  done
  die "nginx did not start"
}
stop_nginx() {
  kill -QUIT "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
}
# Sum of a metric over the running replicas.
metric_sum() {
  local n total=0 v
  for n in "${!METRICS[@]}"; do
    v=$(curl -fs "${METRICS[$n]}/metrics" | awk -v m="$1" 'index($0, m) == 1 { v = $NF } END { print v }')
    total=$(awk -v a="$total" -v b="${v:-0}" 'BEGIN { print a + b }')
  done
  echo "$total"
}

ROWS=()
REDIS_ROWS=()
BASE=""
run() {  # LABEL REPLICAS STORE VIA
  local label=$1 n=$2 store=$3 via=$4 targets out
  start_replicas "$n" "$store"
  if [[ $via == nginx ]]; then start_nginx; targets=$LB; else targets=${GRPC[r1]}; fi
  out="$WORK/$label.json"
  # A short warm-up (connections, first collateral reads), then the run.
  "$LOAD" --mode load --targets "$targets" --duration 2 --concurrency "$CONCURRENCY" --sim-dir "$SIM" >/dev/null
  [[ $store == redis ]] && redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
  local s0 c0
  s0=$(metric_sum 'rp_nonce_store_seconds_sum{kind="nonce"}')
  c0=$(metric_sum 'rp_nonce_store_seconds_count{kind="nonce"}')
  "$LOAD" --mode load --targets "$targets" --duration "$DURATION" --concurrency "$CONCURRENCY" \
    --sim-dir "$SIM" >"$out"
  local rate p50 p99 tokens attests
  rate=$(jget "$out" attests_per_s)
  p50=$(jget "$out" attest_latency_ms.p50)
  p99=$(jget "$out" attest_latency_ms.p99)
  tokens=$(jget "$out" tokens)
  attests=$(jget "$out" attests)
  [[ $tokens == "$attests" ]] || echo "warning: $label: $tokens tokens of $attests Attests: $(jget "$out" outcomes)" >&2
  [[ -n $BASE ]] || BASE=$rate
  ROWS+=("$(printf '%-28s %8s %10s %8s %8s %7s %9s' "$label" "$n" "$rate" "$p50" "$p99" \
    "$(awk -v a="$rate" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }')" \
    "$(jget "$out" client_simulate_ms_per_attest)")")
  if [[ $store == redis ]]; then
    local stats calls usec per_call s1 c1 rtt
    stats=$(redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r')
    # The commands the replicas sent: one EVAL per Attest (the record script:
    # epoch GET + SET NX PXAT inside, which commandstats also counts), plus
    # the startup PING / CONFIG GET / epoch SET. Round trips = EVAL calls.
    calls=$(awk -F'[:=,]' '/^cmdstat_eval:/ { c += $3 } END { print c + 0 }' <<<"$stats")
    usec=$(awk -F'[:=,]' '/^cmdstat_eval:/ { u += $5 } END { print u + 0 }' <<<"$stats")
    per_call=$(awk -F'[:=,]' '/^cmdstat_eval:/ { print $7 }' <<<"$stats")
    s1=$(metric_sum 'rp_nonce_store_seconds_sum{kind="nonce"}')
    c1=$(metric_sum 'rp_nonce_store_seconds_count{kind="nonce"}')
    rtt=$(awk -v s="$(awk -v a="$s1" -v b="$s0" 'BEGIN { print a - b }')" \
      -v c="$(awk -v a="$c1" -v b="$c0" 'BEGIN { print a - b }')" \
      'BEGIN { if (c > 0) printf "%.3f", s / c * 1000; else print "n/a" }')
    REDIS_ROWS+=("$(printf '%-28s round trips/Attest %5s  server usec/Attest %6s  EVAL usec/call %5s  store round trip (replica) %s ms  cmds: %s' \
      "$label" "$(awk -v c="$calls" -v a="$attests" 'BEGIN { printf "%.2f", c / a }')" \
      "$(awk -v u="$usec" -v a="$attests" 'BEGIN { printf "%.1f", u / a }')" "${per_call:-n/a}" "$rtt" \
      "$(grep -o '^cmdstat_[a-z]*:calls=[0-9]*' <<<"$stats" | sed 's/cmdstat_//; s/:calls=/=/' | tr '\n' ' ')")")
  fi
  [[ $via == nginx ]] && stop_nginx
  stop_replicas
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "each run: ${DURATION} s, concurrency ${CONCURRENCY}, SEV-SNP 0 GPUs (simulated, one VCEK per worker), ES256 tokens"
run "1 replica in-memory direct" 1 memory direct
run "1 replica in-memory nginx" 1 memory nginx
run "redis nginx N=1" 1 redis nginx
run "redis nginx N=2" 2 redis nginx
run "redis nginx N=3" 3 redis nginx
printf '%-28s %8s %10s %8s %8s %7s %9s\n' config replicas Attests/s p50_ms p99_ms ratio client_sim_ms
printf '%s\n' "${ROWS[@]}"
echo "ratio: to the single in-memory replica without nginx; client_sim_ms: client CPU per Attest for the evidence"
printf '%s\n' "${REDIS_ROWS[@]}"
LAT=$(timeout -s INT 3 redis-cli -p "$REDIS_PORT" --latency --raw 2>/dev/null || true)
echo "redis-cli --latency (idle, 3 s): min/max/avg ms, samples: $LAT"
for alg in ecdsap384 ecdsap256 rsa4096; do
  openssl speed -seconds 3 "$alg" 2>/dev/null | tail -1
done
