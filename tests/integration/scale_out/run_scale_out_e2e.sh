#!/usr/bin/env bash
# Scale-out end to end (issue 12), real processes on loopback:
#   redis-server (random port, --save '', no AOF), three attestation-server
#   replicas sharing one HMAC key, one token signing key and the `redis:`
#   block, and nginx in front (gRPC over h2c round robin + REST proxy).
# Shows, failing loudly otherwise:
#   a. a challenge issued by A and attested at B gives a token once; the same
#      challenge then at A, B and through nginx is NONCE_REPLAYED;
#   b. the JWKS is the same on every replica (and through nginx), and B's token
#      verifies against A's and C's JWKS;
#   c. 64 concurrent Attests of one challenge over the replicas (and 64 through
#      nginx) issue exactly one token;
#   d. chaos: a 30 s load run (nginx + replicas, --split); Redis SIGKILLed at
#      ~10 s and restarted on the same port at ~20 s: every Attest sent while
#      it was down is NONCE_STORE_UNAVAILABLE (no token), /healthz and /readyz
#      stay 200 on every replica, REST /v1/attest through nginx is 503
#      NONCE_STORE_UNAVAILABLE, tokens flow again after the restart with the
#      same replica processes; a challenge redeemed before the restart is
#      refused after it although Redis (no persistence) forgot it: the
#      store's epoch is newer than the challenge (docs/scale-out.md);
#   e. without Redis (in-memory stores) two replicas with the same HMAC key
#      both accept one challenge: the problem the shared store solves;
#   f. the fleet node registry (issue 13) is shared through Redis: a node
#      attested at A is served by B and C.
# nginx's access log must show calls to all three replicas. With haproxy
# installed (optional), its template gets one token and one replay too.
#
#   run_scale_out_e2e.sh SERVER_BINARY ATTESTCTL ATTEST_LOAD
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  dump_logs >&2
  exit 1
}
[[ $# -eq 3 ]] || { echo "usage: $0 SERVER_BINARY ATTESTCTL ATTEST_LOAD" >&2; exit 2; }
SRV=$1
CTL=$2
LOAD=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
for tool in redis-server redis-cli nginx curl node; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "FAIL: $tool not found (scripts/install_deps.sh installs redis-server, nginx, curl, nodejs)" >&2; exit 1; }
done
# nginx is often in /usr/sbin, outside a normal user's PATH.
NGINX=$(command -v nginx)

WORK=$(mktemp -d /tmp/rp_scale_out.XXXXXX)
declare -A PID GRPC HTTP METRICS
REDIS_PID=""
NGINX_PID=""
LOAD_PID=""
cleanup() {
  set +e
  [[ -n "$LOAD_PID" ]] && kill -TERM "$LOAD_PID" 2>/dev/null && wait "$LOAD_PID" 2>/dev/null
  [[ -n "$NGINX_PID" ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null; done
  [[ -n "$REDIS_PID" ]] && kill -KILL "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
dump_logs() {
  local f
  for f in "$WORK"/*.log "$WORK"/redis/redis.log "$WORK"/lb/logs/error.log; do
    [[ -s "$f" ]] || continue
    echo "--- last lines of ${f#"$WORK"/}"
    tail -n 8 "$f"
  done
}
now_ms() { date +%s%3N; }
sleep_until() {  # UNIX_MS (an arithmetic expression)
  local d=$(($* - $(now_ms)))
  ((d <= 0)) || sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
}
# jget FILE PATH: a value from a JSON file (dotted path), objects as JSON.
jget() {
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = process.argv[2].split(".").reduce((o, k) => (o == null ? undefined : o[k]), j);
    process.stdout.write(v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));' "$1" "$2"
}
# A loopback port nobody listens on right now (the caller retries on a bind race).
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free loopback port"
}

# --- shared material: simulation roots, HMAC key, token signing key ---------
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
(umask 077 && od -An -tx1 -v -N 32 /dev/urandom | tr -d ' \n' >"$WORK/hmac.key")
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/token.key" 2>/dev/null)
mkdir -p "$WORK/redis"

# --- Redis ------------------------------------------------------------------
REDIS_PORT=""
start_redis() {  # on $REDIS_PORT; returns 1 when it does not answer PING
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes --save '' \
    --appendonly no --dir "$WORK/redis" --logfile "$WORK/redis/redis.log" \
    --maxmemory-policy noeviction --daemonize no &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return 0
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
  return 1
}
for _ in 1 2 3 4 5; do
  REDIS_PORT=$(free_port)
  start_redis && break
done
[[ -n "$REDIS_PID" ]] || die "redis-server did not start"
echo "ok: redis-server $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID, --save '', no AOF)"

# --- replicas ---------------------------------------------------------------
# start_replica NAME [redis]: config, start, wait for the port file; fills
# PID/GRPC/HTTP/METRICS[NAME]. Per-peer limits are off: every request comes
# from nginx's (or this script's) loopback address.
start_replica() {
  local name=$1 redis_block=""
  [[ ${2:-} == redis ]] && redis_block="redis: {address: 127.0.0.1:$REDIS_PORT, namespace: e2e}"
  cat >"$WORK/$name.yaml" <<EOF
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
nonce: {hmac_key_file: $WORK/hmac.key, lifetime_seconds: 300}
token:
  algorithm: ES256
  issuer: rp-scale-out
  keys: [{pem_file: $WORK/token.key, status: current}]
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
policy_reload_interval_ms: -1
simulation: {trust_simulation_root: true, dir: $SIM}
audit_log: $WORK/$name.audit.jsonl
limits:
  get_challenge: {rate_per_second: -1}
  attest: {rate_per_second: -1}
  # Room for c.'s 64 racers on one replica: admission control (default 4 running
  # + 16 queued) would answer SERVER_BUSY to some of them on a loaded machine,
  # and c. counts every other answer as NONCE_REPLAYED.
  max_queued: 64
  max_queue_wait_ms: 30000
trusted_proxies: [127.0.0.1]   # nginx: clients come from X-Forwarded-For
fleet: {sync_interval_ms: 200}
$redis_block
EOF
  rm -f "$WORK/$name.ports.json"
  "$SRV" --config "$WORK/$name.yaml" --port-file "$WORK/$name.ports.json" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
}
wait_replica() {
  local name=$1
  for _ in $(seq 1 200); do
    [[ -s "$WORK/$name.ports.json" ]] && break
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.05
  done
  [[ -s "$WORK/$name.ports.json" ]] || die "replica $name did not start"
  port() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/$name.ports.json"; }
  GRPC[$name]=127.0.0.1:$(port grpc)
  HTTP[$name]=http://127.0.0.1:$(port http)
  METRICS[$name]=http://127.0.0.1:$(port metrics)
  for _ in $(seq 1 100); do curl -fs "${HTTP[$name]}/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  die "replica $name never ready"
}
stop_replica() {
  kill -TERM "${PID[$1]}" 2>/dev/null || true
  wait "${PID[$1]}" 2>/dev/null || true
  unset "PID[$1]"
}

# --- attestctl helpers ------------------------------------------------------
# new_node NAME ADDR: a challenge from ADDR and simulated SEV-SNP evidence for it.
new_node() {
  "$CTL" challenge --server "$2" --out "$WORK/$1.challenge.json" >/dev/null ||
    die "$1: GetChallenge at $2 failed"
  "$CTL" simulate --challenge "$WORK/$1.challenge.json" --sim-dir "$SIM" --tee snp --gpus 0 \
    --out "$WORK/$1.bundle.json" >/dev/null || die "$1: simulate failed"
}
# attest NAME ADDR TAG: sets RC; the result JSON in NAME.TAG.json, stderr in NAME.TAG.err.
attest() {
  set +e
  "$CTL" attest --server "$2" --evidence "$WORK/$1.bundle.json" --challenge "$WORK/$1.challenge.json" \
    --accept warning --json --token-out "$WORK/$1.$3.jwt" >"$WORK/$1.$3.json" 2>"$WORK/$1.$3.err"
  RC=$?
  set -e
}
expect_token() {  # NAME ADDR TAG WHAT
  attest "$1" "$2" "$3"
  [[ $RC -eq 0 && -s "$WORK/$1.$3.jwt" ]] ||
    die "$4: no token (exit $RC): $(head -c 400 "$WORK/$1.$3.json" "$WORK/$1.$3.err")"
  echo "ok: $4: token ($(jget "$WORK/$1.$3.json" verdict))"
}
expect_replayed() {  # NAME ADDR TAG WHAT
  attest "$1" "$2" "$3"
  [[ $RC -eq 1 ]] && [[ $(jget "$WORK/$1.$3.json" reasons) == '["NONCE_REPLAYED"]' ]] ||
    die "$4: expected NONCE_REPLAYED, exit $RC: $(head -c 400 "$WORK/$1.$3.json" "$WORK/$1.$3.err")"
  [[ ! -s "$WORK/$1.$3.jwt" ]] || die "$4: a token for a replayed challenge"
  echo "ok: $4: NONCE_REPLAYED (exit 1, no token)"
}
metric() {  # NAME METRIC_LINE_PREFIX: the value, or "" when absent
  local text
  text=$(curl -fs "${METRICS[$1]}/metrics") || die "no /metrics from $1"
  awk -v m="$2" 'index($0, m) == 1 { v = $NF } END { print v }' <<<"$text"
}

# --- e. without Redis: one challenge, two replicas, two tokens ---------------
start_replica m1
start_replica m2
wait_replica m1
wait_replica m2
for r in m1 m2; do
  grep -q "shared state: in-memory" "$WORK/$r.log" ||
    die "replica $r (no redis block) does not log 'shared state: in-memory'"
done
new_node mem "${GRPC[m1]}"
expect_token mem "${GRPC[m1]}" m1 "e. in-memory: challenge from m1 attested at m1"
expect_token mem "${GRPC[m2]}" m2 "e. in-memory: the SAME challenge attested at m2 (separate replay sets)"
expect_replayed mem "${GRPC[m1]}" m1again "e. in-memory: the same challenge again at m1"
echo "shown: without a shared store one challenge gave 2 tokens on 2 replicas with one HMAC key"
stop_replica m1
stop_replica m2

# --- the Redis-backed fleet and nginx ------------------------------------------
for r in A B C; do start_replica "$r" redis; done
for r in A B C; do wait_replica "$r"; done
for r in A B C; do
  grep -q "shared state: redis 127.0.0.1:$REDIS_PORT .*namespace e2e" "$WORK/$r.log" ||
    die "replica $r does not log 'shared state: redis 127.0.0.1:$REDIS_PORT namespace e2e'"
  ! grep -q "WARNING.*maxmemory-policy" "$WORK/$r.log" || die "replica $r warns about maxmemory-policy noeviction"
done
echo "ok: replicas A ${GRPC[A]}, B ${GRPC[B]}, C ${GRPC[C]} on redis 127.0.0.1:$REDIS_PORT"

start_nginx() {
  local conf
  conf=$("$ROOT/deploy/lb/render_lb.sh" nginx "$WORK/lb" "127.0.0.1:$LB_GRPC_PORT" "127.0.0.1:$LB_HTTP_PORT" \
    "${GRPC[A]},${GRPC[B]},${GRPC[C]}" "${HTTP[A]#http://},${HTTP[B]#http://},${HTTP[C]#http://}")
  "$NGINX" -t -q -p "$WORK/lb" -e "$WORK/lb/logs/error.log" -c "$conf" 2>"$WORK/nginx-t.log" ||
    { cat "$WORK/nginx-t.log"; die "nginx -t rejects the rendered configuration"; }
  "$NGINX" -p "$WORK/lb" -e "$WORK/lb/logs/error.log" -c "$conf" -g 'daemon off;' 2>>"$WORK/nginx.log" &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$LB_HTTP_PORT/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.05
  done
  wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
  return 1
}
for _ in 1 2 3 4 5; do
  LB_GRPC_PORT=$(free_port)
  LB_HTTP_PORT=$(free_port)
  [[ $LB_GRPC_PORT != "$LB_HTTP_PORT" ]] && start_nginx && break
done
[[ -n "$NGINX_PID" ]] || die "nginx did not start"
LB=127.0.0.1:$LB_GRPC_PORT
LB_HTTP=http://127.0.0.1:$LB_HTTP_PORT
echo "ok: nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') (nginx -t ok): gRPC $LB, HTTP $LB_HTTP"

# --- a. issued by A, redeemed at B once; replays everywhere -----------------
new_node x "${GRPC[A]}"
expect_token x "${GRPC[B]}" atB "a. challenge from A attested at B"
expect_replayed x "${GRPC[A]}" atA "a. the same challenge at A"
expect_replayed x "${GRPC[B]}" atB2 "a. the same challenge at B again"
expect_replayed x "$LB" atLB "a. the same challenge through nginx"
new_node y "$LB"
expect_token y "$LB" lb "a. challenge through nginx attested through nginx"
expect_replayed y "${GRPC[C]}" atC "a. that challenge at C"

# --- b. one JWKS everywhere ---------------------------------------------------
for r in A B C; do curl -fs "${HTTP[$r]}/.well-known/jwks.json" >"$WORK/jwks.$r.json" || die "b. no JWKS from $r"; done
curl -fs "$LB_HTTP/.well-known/jwks.json" >"$WORK/jwks.lb.json" || die "b. no JWKS through nginx"
[[ $(jget "$WORK/jwks.A.json" keys.length) -ge 1 ]] || die "b. JWKS of A has no keys"
for f in B C lb; do cmp -s "$WORK/jwks.A.json" "$WORK/jwks.$f.json" || die "b. JWKS of $f differs from A's"; done
for r in A C; do
  "$CTL" token verify "@$WORK/x.atB.jwt" --jwks "${HTTP[$r]}/.well-known/jwks.json" --issuer rp-scale-out \
    --accept warning >/dev/null 2>"$WORK/verify.$r.err" || die "b. B's token does not verify with $r's JWKS: $(cat "$WORK/verify.$r.err")"
done
echo "ok: b. JWKS identical on A, B, C and nginx (kid $(jget "$WORK/jwks.A.json" keys.0.kid)); B's token verifies with A's and C's"

# --- c. races: exactly one token ---------------------------------------------
race() {  # TARGETS WHAT
  "$LOAD" --mode race --targets "$1" --sim-dir "$SIM" --racers 64 >"$WORK/race.json" 2>"$WORK/race.err" ||
    die "c. attest_load race failed: $(cat "$WORK/race.err")"
  local tokens replayed
  tokens=$(jget "$WORK/race.json" tokens)
  replayed=$(jget "$WORK/race.json" outcomes.NONCE_REPLAYED)
  [[ $tokens == 1 ]] || die "c. $2: $tokens tokens for one challenge: $(cat "$WORK/race.json")"
  [[ $replayed == 63 ]] || die "c. $2: not 63 NONCE_REPLAYED: $(jget "$WORK/race.json" outcomes)"
  echo "ok: c. $2: 64 concurrent Attests of one challenge -> 1 token (winner $(jget "$WORK/race.json" winners.0.target)), 63 NONCE_REPLAYED; by target $(jget "$WORK/race.json" attest_by_target)"
}
race "${GRPC[A]},${GRPC[B]},${GRPC[C]}" "over A, B, C"
race "$LB" "through nginx"

# --- d. chaos: Redis killed and restarted under load --------------------------
# A token before the outage; its challenge is tried again after Redis came
# back empty (see below).
new_node pre "$LB"
expect_token pre "$LB" before "d. (before the outage) challenge through nginx"
"$LOAD" --mode load --targets "$LB,${GRPC[A]},${GRPC[B]},${GRPC[C]}" --split --duration 30 --concurrency 4 \
  --sim-dir "$SIM" --events "$WORK/events.tsv" >"$WORK/load.json" 2>"$WORK/load.err" &
LOAD_PID=$!
T0=$(now_ms)
sleep_until T0 + 10000
kill -0 "$LOAD_PID" 2>/dev/null || die "d. attest_load exited early: $(cat "$WORK/load.err")"
{
  kill -KILL "$REDIS_PID"
  wait "$REDIS_PID" || true
} 2>/dev/null
REDIS_PID=""
T_DEAD=$(now_ms)
echo "d. redis SIGKILLed at +$(((T_DEAD - T0) / 1000)) s"
# While Redis is down: health, readiness and the store gauge on every replica.
health_checks=0
for _ in 1 2 3; do
  sleep 2
  for r in A B C; do
    for p in healthz readyz; do
      code=$(curl -s -o /dev/null -w '%{http_code}' "${HTTP[$r]}/$p")
      [[ $code == 200 ]] || die "d. /$p of $r is $code while Redis is down"
      health_checks=$((health_checks + 1))
    done
  done
  code=$(curl -s -o /dev/null -w '%{http_code}' "$LB_HTTP/readyz")
  [[ $code == 200 ]] || die "d. /readyz through nginx is $code while Redis is down"
done
for r in A B C; do
  [[ $(metric "$r" rp_nonce_store_up) == 0 ]] || die "d. rp_nonce_store_up of $r is not 0 while Redis is down"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$LB_HTTP/.well-known/jwks.json")
[[ $code == 200 ]] || die "d. JWKS through nginx is $code while Redis is down"
# The REST face through nginx: a challenge is still issued, the Attest is 503.
rest_attest() {  # NAME: POST /v1/challenge + /v1/attest through nginx; sets CODE
  code=$(curl -s -o "$WORK/$1.challenge.json" -w '%{http_code}' -X POST "$LB_HTTP/v1/challenge")
  [[ $code == 200 ]] || die "d. REST $1: /v1/challenge is $code"
  "$CTL" simulate --challenge "$WORK/$1.challenge.json" --sim-dir "$SIM" --tee snp --gpus 0 \
    --out "$WORK/$1.bundle.json" >/dev/null || die "d. REST $1: simulate failed"
  node -e 'const fs = require("fs"); const e = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    delete e.nonce;
    fs.writeFileSync(process.argv[3], JSON.stringify({challenge: JSON.parse(fs.readFileSync(process.argv[1], "utf8")), evidence: e}));' \
    "$WORK/$1.challenge.json" "$WORK/$1.bundle.json" "$WORK/$1.body.json"
  CODE=$(curl -s -o "$WORK/$1.reply.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary "@$WORK/$1.body.json" "$LB_HTTP/v1/attest")
}
rest_attest rest_down
[[ $CODE == 503 && $(jget "$WORK/rest_down.reply.json" reason) == NONCE_STORE_UNAVAILABLE ]] ||
  die "d. REST Attest through nginx while Redis is down: want 503 NONCE_STORE_UNAVAILABLE, got $CODE $(head -c 300 "$WORK/rest_down.reply.json")"
echo "ok: d. REST through nginx while Redis is down: /v1/challenge 200, /v1/attest 503 NONCE_STORE_UNAVAILABLE"
sleep_until T0 + 20000
T_RESTART=$(now_ms)
start_redis || die "d. redis-server did not restart on port $REDIS_PORT"
T_UP=$(now_ms)
echo "d. redis restarted at +$(((T_RESTART - T0) / 1000)) s (answering PING after $((T_UP - T_RESTART)) ms); /healthz+/readyz 200 in $health_checks checks during the outage"
wait "$LOAD_PID" || die "d. attest_load failed: $(cat "$WORK/load.err")"
LOAD_PID=""
for r in A B C; do kill -0 "${PID[$r]}" 2>/dev/null || die "d. replica $r died"; done

# The verdicts, from the per-request events (start/end in unix ms).
read -r out_n out_bad out_tok before_tok before_bad after_tok first_after <<<"$(
  awk -F'\t' -v dead="$T_DEAD" -v restart="$T_RESTART" -v up="$T_UP" '
    /^#/ { next }
    $1 >= dead && $2 <= restart { n++; if ($4 != "NONCE_STORE_UNAVAILABLE") bad++; if ($4 == "TOKEN") tok++ }
    $2 < dead - 100 { if ($4 == "TOKEN") btok++; else bbad++ }
    $1 >= up && $4 == "TOKEN" { atok++; if (first == "" || $1 < first) first = $1 }
    END { printf "%d %d %d %d %d %d %s\n", n, bad, tok, btok, bbad, atok, (first == "" ? -1 : first - up) }' \
    "$WORK/events.tsv")"
echo "d. load: $(jget "$WORK/load.json" attests) Attests, $(jget "$WORK/load.json" tokens) tokens, outcomes $(jget "$WORK/load.json" outcomes), gRPC codes $(jget "$WORK/load.json" grpc_codes), reasons from $(jget "$WORK/load.json" reason_from)"
echo "d. timeline (tokens/attests per second): $(node -e '
  const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.stdout.write(j.timeline.map(b => b.tokens + "/" + b.attests).join(" "));' "$WORK/load.json")"
echo "d. outage window: $out_n Attests sent and answered while Redis was down, $out_tok tokens, $out_bad not NONCE_STORE_UNAVAILABLE"
echo "d. before the kill: $before_tok tokens, $before_bad others; after the restart: $after_tok tokens, the first $first_after ms after Redis answered"
[[ $out_n -gt 0 ]] || die "d. no Attest fell inside the outage window"
[[ -n $(jget "$WORK/load.json" reason_from.trailer) ]] ||
  die "d. no reason came from the rp-reason trailer: $(jget "$WORK/load.json" reason_from)"
[[ $out_tok -eq 0 ]] || die "d. $out_tok tokens issued while Redis was down"
[[ $out_bad -eq 0 ]] || die "d. $out_bad Attests in the outage window were not NONCE_STORE_UNAVAILABLE: $(awk -F'\t' -v d="$T_DEAD" -v r="$T_RESTART" '$1 >= d && $2 <= r && $4 != "NONCE_STORE_UNAVAILABLE"' "$WORK/events.tsv" | head -3)"
[[ $before_tok -gt 0 && $before_bad -eq 0 ]] || die "d. before the kill: $before_tok tokens, $before_bad failures"
[[ $after_tok -gt 0 ]] || die "d. no token after Redis came back (replicas did not recover)"
[[ $(jget "$WORK/load.json" outcomes.NONCE_REPLAYED) == "" ]] || die "d. a fresh challenge was NONCE_REPLAYED under load"
[[ $(jget "$WORK/load.json" challenge_errors) == 0 ]] ||
  die "d. GetChallenge failed $(jget "$WORK/load.json" challenge_errors) times (must not depend on Redis)"
for r in A B C; do
  up=$(metric "$r" rp_nonce_store_up)
  errors=$(metric "$r" 'rp_nonce_store_requests_total{kind="nonce",result="error"}')
  first=$(metric "$r" 'rp_nonce_store_requests_total{kind="nonce",result="first"}')
  [[ $up == 1 ]] || die "d. rp_nonce_store_up of $r is '$up' after the restart"
  [[ -n $errors && ${errors%.*} -gt 0 ]] || die "d. rp_nonce_store_requests_total{result=\"error\"} of $r is '$errors'"
  echo "d. $r: rp_nonce_store_requests_total first=$first error=$errors, audit lines $(wc -l <"$WORK/$r.audit.jsonl")"
done
echo "ok: d. Redis down ~10 s under load: no token, every Attest NONCE_STORE_UNAVAILABLE, health 200, recovered without restarting replicas"

# After recovery: issued at C, redeemed at A, replayed through nginx.
new_node z "${GRPC[C]}"
expect_token z "${GRPC[A]}" atA "d. after recovery: challenge from C attested at A"
expect_replayed z "$LB" atLB "d. after recovery: that challenge through nginx"
rest_attest rest_up
[[ $CODE == 200 && -n $(jget "$WORK/rest_up.reply.json" token) ]] ||
  die "d. REST Attest through nginx after recovery: $CODE $(head -c 300 "$WORK/rest_up.reply.json")"
echo "ok: d. after recovery: REST Attest through nginx 200 with a token"
# A challenge redeemed before the outage, tried again after Redis came back
# empty (no persistence): Redis forgot the nonce, but the store's epoch is
# newer than the challenge, so it is refused rather than accepted again.
attest pre "${GRPC[B]}" after
[[ ! -s "$WORK/pre.after.jwt" ]] ||
  die "d. a challenge redeemed before the Redis restart was accepted AGAIN after it (replay)"
grep -q NONCE_STORE_UNAVAILABLE "$WORK/pre.after.err" ||
  die "d. pre-restart challenge after the restart: want NONCE_STORE_UNAVAILABLE, exit $RC: $(head -c 300 "$WORK/pre.after.err" "$WORK/pre.after.json")"
grep -q "lost its data" "$WORK/pre.after.err" ||
  die "d. pre-restart challenge refused for another reason: $(head -c 300 "$WORK/pre.after.err")"
echo "ok: d. a challenge redeemed before Redis restarted empty is refused after it (NONCE_STORE_UNAVAILABLE: issued before the store's epoch)"

# --- f. the fleet node registry is shared through Redis (issue 13) ----------
# An attest-v2 node naming node=gpu-node-1 attests at A; B and C serve the
# same record (GET /v1/nodes/{name}) from their views, fed from Redis.
"$CTL" challenge --server "${GRPC[A]}" --out "$WORK/f.challenge.json" >/dev/null || die "f. GetChallenge"
"$CTL" simulate --challenge "$WORK/f.challenge.json" --sim-dir "$SIM" --tee snp --gpus 0 \
  --runtime-claims '{"node":"gpu-node-1"}' --out "$WORK/f.bundle.json" >/dev/null || die "f. simulate"
expect_token f "${GRPC[A]}" atA "f. attest-v2 node gpu-node-1 at A"
f_jti=$(node -e 'const t = require("fs").readFileSync(process.argv[1], "utf8").trim().split(".")[1];
  process.stdout.write(JSON.parse(Buffer.from(t, "base64url").toString()).jti);' "$WORK/f.atA.jwt")
for r in B C; do
  got=""
  for _ in $(seq 1 50); do
    code=$(curl -s -o "$WORK/f.$r.json" -w '%{http_code}' "${HTTP[$r]}/v1/nodes/gpu-node-1")
    if [[ $code == 200 ]]; then
      got=$(jget "$WORK/f.$r.json" token.jti)
      [[ $got == "$f_jti" ]] && break
    fi
    sleep 0.1
  done
  [[ $got == "$f_jti" ]] ||
    die "f. replica $r does not serve gpu-node-1's record from A (last $code: $(head -c 300 "$WORK/f.$r.json"))"
done
echo "ok: f. fleet registry shared: gpu-node-1 attested at A (jti $f_jti) is served by B and C from Redis"

# Round robin: nginx spread the calls over the three replicas.
kill -QUIT "$NGINX_PID"
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=""
for r in A B C; do
  n=$(grep -c "upstream=${GRPC[$r]} " "$WORK/lb/logs/access.log" || true)
  [[ $n -gt 0 ]] || die "nginx sent no gRPC call to $r"
  echo "ok: nginx sent $n gRPC calls to $r"
done
! grep -q '\[emerg\]\|\[alert\]' "$WORK/lb/logs/error.log" || die "nginx logged emerg/alert lines"
# The haproxy template (optional: scripts/install_deps.sh does not install
# haproxy): config check, one token and its replay through it.
if command -v haproxy >/dev/null 2>&1; then
  HP_GRPC=$(free_port)
  HP_HTTP=$(free_port)
  conf=$("$ROOT/deploy/lb/render_lb.sh" haproxy "$WORK/hp" "127.0.0.1:$HP_GRPC" "127.0.0.1:$HP_HTTP" \
    "${GRPC[A]},${GRPC[B]},${GRPC[C]}" "${HTTP[A]#http://},${HTTP[B]#http://},${HTTP[C]#http://}")
  haproxy -c -q -f "$conf" || die "haproxy -c rejects the rendered configuration"
  haproxy -f "$conf" -p "$WORK/hp/haproxy.pid" -db >"$WORK/haproxy.log" 2>&1 &
  NGINX_PID=$!  # (the cleanup stops it the same way)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$HP_HTTP/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  new_node h "127.0.0.1:$HP_GRPC"
  expect_token h "127.0.0.1:$HP_GRPC" hp "haproxy: challenge and Attest through haproxy"
  expect_replayed h "127.0.0.1:$HP_GRPC" hp2 "haproxy: the same challenge through haproxy"
  kill -TERM "$NGINX_PID" && wait "$NGINX_PID" 2>/dev/null || true
  NGINX_PID=""
else
  echo "note: haproxy not installed: deploy/lb/haproxy.cfg.template not exercised (optional; nginx is the tested balancer)"
fi
echo "PASS: scale-out end to end (3 replicas, Redis, nginx)"
