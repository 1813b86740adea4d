#!/usr/bin/env bash
# Chaos / soak test (issue 15), real processes on loopback:
#   redis-server, two attestation-server replicas (A, B) sharing one HMAC key,
#   one token key and Redis, nginx in front (deploy/lb template), a KDS
#   stand-in whose health is set on command (kds_chaos.mjs: alive / slow /
#   dead), an OCSP responder stand-in (ocsp_chaos.mjs, the replicas'
#   nvidia_ocsp_url: signs live answers about the GPU device certificates
#   with the simulation CAs, nonce echoed; alive / slow / dead), and each
#   replica's disk collateral cache (collateral.cache_dir).
#   The replicas' offline directory ($WORK/offline) is the simulator's
#   collateral without the GPU device chain's OCSP answers (links to the rest),
#   so the OCSP responder is on the request path of every GPU Attest. Their
#   policy is deploy/policies/demo.yaml with nvidia.ocsp.soft_fail false: a
#   GPU whose revocation status cannot be had fails closed.
# chaos_client sends a mix of N requests through nginx whose correct outcome
# is known in advance (see chaos_client.cc), paced over D seconds, while this
# script injects, at fixed fractions of D:
#   kds_slow    0.12-0.22  the KDS answers after 3 s (collateral timeout 1 s)
#   kds_dead    0.25-0.37  the KDS resets every connection (breaker opens)
#   redis_down  0.42-0.52  redis SIGKILLed, restarted empty on the same port
#   cache_ro    0.57-0.67  both cache_dirs replaced by a read-only file (writes fail)
#   stop_B      ~0.73      replica B SIGTERMed with 4 slow (8-GPU) Attests in
#                          flight sent straight to it (they must all get their
#                          token; B must exit 0 within the grace); the mix goes
#                          on through nginx, which sends everything to A
#   ocsp_dead   0.85-0.92  the OCSP responder resets every connection; its
#                          breaker opens (5 failures, cooldown 60 s: not
#                          configurable, so it stays open to the end of the
#                          mix); GPU Attests fail closed (OCSP_UNAVAILABLE)
# judge.mjs then checks every request against the outcomes acceptable for its
# kind in the fault windows it overlapped (docs/testing.md "Chaos and soak"):
# wrong = 0, tokens for rejected evidence = 0, at most one token per
# challenge; crashes = 0 (A alive, B exited 0 within the grace); RSS of the
# replicas sampled every second, growth bounded.
# Slow clients (slow_clients.mjs) hold 32 connections open, trickling a
# never-finished HTTP/2 request, during the whole mix.
# Then graceful shutdown, focused: a fresh replica C gets 8 Attests of 4-GPU
# TDX nodes at once, SIGTERM 100 ms later: every one must get its token, a
# new call after the SIGTERM must be refused, C must exit 0 within the grace.
#
#   run_chaos.sh [--long] [--requests N (>= 1000 for the breaker check)] [--duration S] --server BIN --attestctl BIN --client BIN
# Short form (CI): 2000 requests over 75 s. --long: 10000 over 300 s.
set -euo pipefail

REQUESTS=2000
DURATION=75
CONC=6
RSS_GROWTH_MB=${RSS_GROWTH_MB:-64}   # end RSS <= warm-up RSS + this, per replica
SRV="" CTL="" CLIENT=""
while [[ $# -gt 0 ]]; do
  case $1 in
  --long) REQUESTS=10000 DURATION=300 ;;
  --requests) REQUESTS=$2; shift ;;
  --duration) DURATION=$2; shift ;;
  --server) SRV=$2; shift ;;
  --attestctl) CTL=$2; shift ;;
  --client) CLIENT=$2; shift ;;
  *) echo "usage: $0 [--long] [--requests N] [--duration S] --server BIN --attestctl BIN --client BIN" >&2; exit 2 ;;
  esac
  shift
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [[ -z $SRV || -z $CTL || -z $CLIENT ]]; then
  B=${BUILD_DIR:-$ROOT/build}
  SRV=${SRV:-$B/server/attestation-server} CTL=${CTL:-$B/cli/attestctl} CLIENT=${CLIENT:-$B/tests/chaos/chaos_client}
fi
for f in "$SRV" "$CTL" "$CLIENT"; do [[ -x $f ]] || { echo "FAIL: $f not built" >&2; exit 1; }; done
for tool in redis-server redis-cli nginx curl node openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool not found (scripts/install_deps.sh)" >&2; exit 1; }
done
NGINX=$(command -v nginx)
START_S=$(date +%s)

WORK=$(mktemp -d /tmp/rp_chaos.XXXXXX)
declare -A PID GRPC HTTP METRICS
REDIS_PID="" NGINX_PID="" KDS_PID="" OCSP_PID="" SAMPLER_PID="" CLIENT_PID="" SLOW_PID=""
cleanup() {
  set +e
  chmod -R u+rwx "$WORK" 2>/dev/null
  for p in "$CLIENT_PID" "$SAMPLER_PID" "$SLOW_PID"; do [[ -n $p ]] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [[ -n "$NGINX_PID" ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null; done
  for name in "${!PID[@]}"; do wait "${PID[$name]}" 2>/dev/null; done
  [[ -n "$REDIS_PID" ]] && kill -KILL "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  [[ -n "$KDS_PID" ]] && kill -TERM "$KDS_PID" 2>/dev/null && wait "$KDS_PID" 2>/dev/null
  [[ -n "$OCSP_PID" ]] && kill -TERM "$OCSP_PID" 2>/dev/null && wait "$OCSP_PID" 2>/dev/null
  if [[ -n ${KEEP_WORK:-} ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
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
die() {
  echo "FAIL: $*" >&2
  dump_logs >&2
  exit 1
}
now_ms() { date +%s%3N; }
sleep_until() {  # UNIX_MS (an arithmetic expression)
  local d=$(($* - $(now_ms)))
  ((d <= 0)) || sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
}
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free loopback port"
}
FAULTS="$WORK/faults.tsv"
echo -e "# fault\tstart_ms\tend_ms\tnote" >"$FAULTS"
fault() { echo -e "$1\t$2\t$3\t$4" >>"$FAULTS"; }

# --- shared material ------------------------------------------------------------
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
(umask 077 && od -An -tx1 -v -N 32 /dev/urandom | tr -d ' \n' >"$WORK/hmac.key")
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/token.key" 2>/dev/null)
mkdir -p "$WORK/redis"

# --- KDS / OCSP stand-in -----------------------------------------------------------
mkdir -p "$WORK/kds-vcek"
node "$HERE/kds_chaos.mjs" "$SIM/collateral" "$WORK/kds-vcek" >"$WORK/kds.port" 2>"$WORK/kds.log" &
KDS_PID=$!
for _ in $(seq 1 50); do [[ -s "$WORK/kds.port" ]] && break; sleep 0.1; done
KDS=$(cat "$WORK/kds.port")
[[ -n "$KDS" ]] || die "KDS stand-in did not start"
kds() { curl -fs -X POST "http://127.0.0.1:$KDS/_chaos/$1" >/dev/null || die "KDS control $1"; }

# --- the replicas' offline directory and the OCSP responder ---------------------------
# $WORK/offline links to the simulator's collateral (the client keeps writing
# there: RIMs, TDX collateral, ...) except nvidia/ocsp, which holds links to
# the RIM chain's stored answers only (made by ocsp_chaos.mjs). The GPU
# device chain's answers, which the simulator also stores, are not visible:
# the replicas must ask the responder.
OFFLINE="$WORK/offline"
mkdir -p "$OFFLINE/nvidia"
for d in amd intel; do ln -s "$SIM/collateral/$d" "$OFFLINE/$d"; done
for e in "$SIM/collateral"/*; do
  [[ -e $e ]] || continue
  b=$(basename "$e")
  [[ -e "$OFFLINE/$b" || -L "$OFFLINE/$b" ]] || ln -s "$e" "$OFFLINE/$b"
done
ln -s "$SIM/collateral/nvidia/rims" "$OFFLINE/nvidia/rims"
node "$HERE/ocsp_chaos.mjs" "$SIM" "$OFFLINE" >"$WORK/ocsp.port" 2>"$WORK/ocsp.log" &
OCSP_PID=$!
for _ in $(seq 1 50); do [[ -s "$WORK/ocsp.port" ]] && break; sleep 0.1; done
OCSP=$(cat "$WORK/ocsp.port")
[[ -n "$OCSP" ]] || die "OCSP responder stand-in did not start: $(cat "$WORK/ocsp.log")"
ocsp() { curl -fs -X POST "http://127.0.0.1:$OCSP/_chaos/$1" >/dev/null || die "OCSP control $1"; }
sed 's/^\(    soft_fail:\) true/\1 false/' "$ROOT/deploy/policies/demo.yaml" >"$WORK/policy.yaml"
grep -q '^    soft_fail: false' "$WORK/policy.yaml" || die "could not make the strict-OCSP policy from demo.yaml"

# --- Redis ---------------------------------------------------------------------
REDIS_PORT=""
start_redis() {
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

# --- replicas --------------------------------------------------------------------
start_replica() {
  local name=$1
  mkdir -p "$WORK/cache-$name"
  cat >"$WORK/$name.yaml" <<EOF
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
nonce: {hmac_key_file: $WORK/hmac.key, lifetime_seconds: 600}
token:
  algorithm: ES256
  issuer: rp-chaos
  keys: [{pem_file: $WORK/token.key, status: current}]
max_request_bytes: 1048576
collateral_dir: $OFFLINE
collateral:
  kds_base_url: http://127.0.0.1:$KDS
  nvidia_ocsp_url: http://127.0.0.1:$OCSP/ocsp
  source_order: [kds, offline]
  max_ttl_seconds: 1          # the CRL is refetched every second: the KDS is on the hot path
  connect_timeout_ms: 500
  timeout_ms: 1000            # a slow KDS (3 s) must cost at most ~1 s
  cache_dir: $WORK/cache-$name
  kds: {rate_per_second: 100, burst: 100, breaker_threshold: 3, breaker_cooldown_seconds: 5}
policy_file: $WORK/policy.yaml
policy_reload_interval_ms: -1
simulation: {trust_simulation_root: true, dir: $SIM}
audit_log: $WORK/$name.audit.jsonl
limits:
  get_challenge: {rate_per_second: -1}
  attest: {rate_per_second: -1}
trusted_proxies: [127.0.0.1]
redis: {address: 127.0.0.1:$REDIS_PORT, namespace: chaos}
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
metric() {  # NAME METRIC_LINE_PREFIX
  curl -fs "${METRICS[$1]}/metrics" | awk -v m="$2" 'index($0, m) == 1 { v = $NF } END { print v }'
}
start_replica A
start_replica B
wait_replica A
wait_replica B

# --- nginx -------------------------------------------------------------------------
start_nginx() {
  local conf
  conf=$("$ROOT/deploy/lb/render_lb.sh" nginx "$WORK/lb" "127.0.0.1:$LB_GRPC_PORT" "127.0.0.1:$LB_HTTP_PORT" \
    "${GRPC[A]},${GRPC[B]}" "${HTTP[A]#http://},${HTTP[B]#http://}")
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
echo "ok: redis :$REDIS_PORT, replicas A ${GRPC[A]} (pid ${PID[A]}), B ${GRPC[B]} (pid ${PID[B]}), nginx $LB, KDS stand-in :$KDS, OCSP responder :$OCSP"
echo "mix: $REQUESTS requests over $DURATION s, concurrency $CONC, through nginx"

# check_drain JSON EXIT_UNIX_MS RC WHAT: every in-flight Attest got its token,
# at least one was answered after the SIGTERM, a new call after the SIGTERM
# was refused, exit 0 within the grace (5 s) + 2 s.
check_drain() {
  node -e '
  const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const exitMs = Number(process.argv[2]) - j.sigterm_unix_ms, rc = Number(process.argv[3]);
  const bad = [];
  if (j.tokens !== j.inflight) bad.push(`${j.tokens}/${j.inflight} in-flight Attests got a token`);
  if (j.answered_after_sigterm < 1) bad.push("no Attest was still in flight at the SIGTERM (the test proved nothing)");
  if (!j.new_call_after_sigterm_refused) bad.push("a new call after the SIGTERM was served");
  if (rc !== 0) bad.push(`exit code ${rc}`);
  if (exitMs > 7000) bad.push(`exited ${exitMs} ms after SIGTERM (grace 5 s)`);
  console.log(`graceful shutdown ${process.argv[4]}: ${j.inflight} in-flight ${j.gpus}-GPU Attests, SIGTERM ${j.sigterm_after_send_ms} ms after sending: ` +
    `${j.tokens} tokens, ${j.answered_after_sigterm} answered after the SIGTERM (last +${j.last_answer_after_sigterm_ms} ms), ` +
    `new call at +${j.new_call_at_ms_after_sigterm} ms -> ${j.new_call_code}, exit ${rc} at +${exitMs} ms`);
  if (bad.length) { console.log("FAIL: " + bad.join("; ")); process.exit(1); }
' "$@"
}

# --- RSS sampler -------------------------------------------------------------------
echo -e "# unix_ms\treplica\tvmrss_kb" >"$WORK/rss.tsv"
(
  while true; do
    t=$(date +%s%3N)
    for r in A B; do
      kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[$r]}/status" 2>/dev/null) && [[ -n $kb ]] &&
        echo -e "$t\t$r\t$kb" >>"$WORK/rss.tsv"
    done
    sleep 1
  done
) &
SAMPLER_PID=$!

# --- slow clients: 8 connections each to nginx and both replicas' gRPC ports
# and nginx's HTTP port, trickling a never-finished HTTP/2 request, 1 byte
# every 500 ms, for the whole run.
node "$HERE/slow_clients.mjs" 8 500 "$LB" "${GRPC[A]}" "${GRPC[B]}" "127.0.0.1:$LB_HTTP_PORT" \
  >"$WORK/slow.json" 2>"$WORK/slow.log" &
SLOW_PID=$!

# --- the mix, with faults ---------------------------------------------------------
"$CLIENT" --mode mix --target "$LB" --sim-dir "$SIM" --vcek-dir "$WORK/kds-vcek" --requests "$REQUESTS" --duration "$DURATION" \
  --concurrency "$CONC" --events "$WORK/events.tsv" >"$WORK/client.json" 2>"$WORK/client.log" &
CLIENT_PID=$!
T0=$(now_ms)
at() { sleep_until "T0 + $DURATION * 10 * $1"; kill -0 "$CLIENT_PID" 2>/dev/null || die "chaos_client exited early: $(tail -3 "$WORK/client.log")"; }
rel() { echo "+$(( ($1 - T0) / 1000 )).$(( ($1 - T0) % 1000 / 100 ))s"; }

at 10; T_WARM=$(now_ms)
at 12; kds slow; t1=$(now_ms)
at 22; kds alive; t2=$(now_ms); fault kds_slow "$t1" "$t2" "KDS answers after 3 s; collateral timeout_ms 1000"
echo "fault: kds_slow $(rel "$t1") .. $(rel "$t2")"
at 25; kds dead; t1=$(now_ms)
at 33
BREAKER_A=$(metric A 'rp_collateral_breaker_state{upstream="amd-kds"}')
BREAKER_B=$(metric B 'rp_collateral_breaker_state{upstream="amd-kds"}')
at 37; kds alive; t2=$(now_ms); fault kds_dead "$t1" "$t2" "KDS resets connections; breaker A=$BREAKER_A B=$BREAKER_B at 0.33"
echo "fault: kds_dead $(rel "$t1") .. $(rel "$t2") (breaker state at 0.33: A=${BREAKER_A:-?} B=${BREAKER_B:-?}, 2 = open)"
at 42
# t1 before the kill: an Attest answered between the SIGKILL and the end of
# the wait already met the dead store (seen once: judged wrong otherwise).
t1=$(now_ms)
{ kill -KILL "$REDIS_PID"; wait "$REDIS_PID" || true; } 2>/dev/null
REDIS_PID=""
at 47
for r in A B; do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "${HTTP[$r]}/healthz") == 200 ]] || die "/healthz of $r not 200 while Redis is down"
done
at 52
start_redis || die "redis-server did not restart on port $REDIS_PORT"
t2=$(now_ms); fault redis_down "$t1" "$t2" "SIGKILL, restarted empty (no persistence)"
echo "fault: redis_down $(rel "$t1") .. $(rel "$t2")"
at 57
DISK_ERR0_A=$(metric A 'rp_collateral_cache_total{result="disk_error"}')
# The cache directories become unwritable even for root: each is moved
# aside and a regular file takes its place (every write fails: ENOTDIR).
# A replica writes to its cache all the time (each GPU's new OCSP answer) and
# re-creates the directory if it is missing, so the file replaces it with
# mv -T, retried until no re-created directory is in the way.
for r in A B; do
  : >"$WORK/cache-$r.ro"; chmod 0400 "$WORK/cache-$r.ro"
  mv -T "$WORK/cache-$r" "$WORK/cache-$r.aside"
  for _ in $(seq 1 20); do
    mv -T "$WORK/cache-$r.ro" "$WORK/cache-$r" 2>/dev/null && break
    rm -rf "$WORK/cache-$r"  # re-created meanwhile: holds only new entries
  done
  [[ -f "$WORK/cache-$r" ]] || die "could not replace the cache_dir of $r by a file"
done
t1=$(now_ms)
at 67
for r in A B; do
  rm -f "$WORK/cache-$r"
  for _ in $(seq 1 20); do
    mv -T "$WORK/cache-$r.aside" "$WORK/cache-$r" 2>/dev/null && break
    rm -rf "$WORK/cache-$r"
  done
  [[ -d "$WORK/cache-$r" && ! -e "$WORK/cache-$r.aside" ]] || die "could not put the cache_dir of $r back"
done
t2=$(now_ms)
DISK_ERR1_A=$(metric A 'rp_collateral_cache_total{result="disk_error"}')
fault cache_ro "$t1" "$t2" "cache_dir replaced by a read-only file on A and B; disk_error A ${DISK_ERR0_A:-0} -> ${DISK_ERR1_A:-0}"
echo "fault: cache_ro $(rel "$t1") .. $(rel "$t2") (A's rp_collateral_cache_total{result=\"disk_error\"} ${DISK_ERR0_A:-0} -> ${DISK_ERR1_A:-0})"
# B is SIGTERMed while it has slow Attests in flight: chaos_client --mode
# drain sends 4 Attests of 8-GPU nodes straight to B and the SIGTERM 100 ms
# later (the mix goes on through nginx meanwhile).
at 71
"$CLIENT" --mode drain --target "${GRPC[B]}" --sim-dir "$SIM" --kill-pid "${PID[B]}" --inflight 4 --gpus 8 \
  --kill-after-ms 100 >"$WORK/B.drain.json" 2>"$WORK/B.drain.log" &
DRAIN_PID=$!
set +e
wait "$DRAIN_PID"; DRC=$?
[[ $DRC -eq 0 ]] || kill -TERM "${PID[B]}"
wait "${PID[B]}"; B_RC=$?
set -e
t2=$(now_ms)
B_EXIT=$t2
unset "PID[B]"
[[ $DRC -eq 0 ]] || die "drain client for B failed: $(tail -3 "$WORK/B.drain.log")"
t1=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).sigterm_unix_ms))' "$WORK/B.drain.json")
fault stop_B "$t1" "$t2" "SIGTERM with 4 slow Attests in flight; exit $B_RC after $((t2 - t1)) ms"
echo "fault: stop_B SIGTERM at $(rel "$t1"), exited $B_RC after $((t2 - t1)) ms"
# The OCSP responder dies, with only A left. One fault only: the OCSP
# breaker's cooldown (60 s, not configurable) keeps it open to the end of the
# mix, so a second fault would find it open already.
at 85; ocsp dead; t1=$(now_ms)
at 90
BREAKER_OCSP_A=$(metric A 'rp_collateral_breaker_state{upstream="ocsp"}')
# t2 before the switch back: an Attest answered by then never saw a healthy responder.
at 92; t2=$(now_ms); ocsp alive
fault ocsp_dead "$t1" "$t2" "OCSP responder resets connections; breaker A=$BREAKER_OCSP_A at 0.90"
echo "fault: ocsp_dead $(rel "$t1") .. $(rel "$t2") (OCSP breaker state on A at 0.90: ${BREAKER_OCSP_A:-?}, 2 = open)"
set +e
wait "$CLIENT_PID"; CRC=$?
set -e
CLIENT_PID=""
T_END=$(now_ms)
[[ $CRC -eq 0 ]] || die "chaos_client failed ($CRC): $(tail -5 "$WORK/client.log")"
kill -TERM "$SLOW_PID" 2>/dev/null; wait "$SLOW_PID" 2>/dev/null || true; SLOW_PID=""
echo "slow clients (32 connections trickling 1 byte / 500 ms): $(cat "$WORK/slow.json")"
echo "OCSP responder: $(curl -fs "http://127.0.0.1:$OCSP/_chaos/stats")"
sleep 1
kill -TERM "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""

# Crashes: A alive and ready; B exited 0 within the grace (5 s) + 2 s.
CRASHES=0
kill -0 "${PID[A]}" 2>/dev/null || { echo "CRASH: replica A is not running"; CRASHES=$((CRASHES + 1)); }
[[ $(curl -s -o /dev/null -w '%{http_code}' "${HTTP[A]}/readyz") == 200 ]] || echo "note: A /readyz not 200 at the end"
[[ $B_RC -eq 0 ]] || { echo "CRASH: replica B exited $B_RC after SIGTERM"; CRASHES=$((CRASHES + 1)); }
grep -q "stopped" "$WORK/B.log" || { echo "CRASH: replica B did not log 'stopped'"; CRASHES=$((CRASHES + 1)); }
if grep -qi "sanitizer\|segmentation\|terminate called\|Check failed\|abort" "$WORK/A.log" "$WORK/B.log"; then
  echo "CRASH: crash signature in a replica log"; CRASHES=$((CRASHES + 1))
fi
B_STOP_MS=$(awk -F'\t' '$1 == "stop_B" { print $3 - $2 }' "$FAULTS")
((B_STOP_MS <= 7000)) || { echo "FAIL: B took $B_STOP_MS ms to exit after SIGTERM (grace 5 s)"; CRASHES=$((CRASHES + 1)); }

node "$HERE/judge.mjs" --events "$WORK/events.tsv" --faults "$FAULTS" --rss "$WORK/rss.tsv" \
  --t0 "$T0" --warm "$T_WARM" --end "$T_END" --crashes "$CRASHES" --rss-growth-mb "$RSS_GROWTH_MB" \
  --client "$WORK/client.json" >"$WORK/judge.out" 2>&1 || JUDGE_FAIL=1
cat "$WORK/judge.out"
[[ -z ${JUDGE_FAIL:-} ]] || die "chaos judge failed (see above)"
[[ $CRASHES -eq 0 ]] || die "$CRASHES crash(es)"
[[ ${BREAKER_A:-0} == 2 || ${BREAKER_B:-0} == 2 ]] ||
  die "the KDS breaker did not open on either replica while the KDS was dead (A=$BREAKER_A B=$BREAKER_B)"
[[ ${BREAKER_OCSP_A:-0} == 2 ]] ||
  die "the OCSP breaker did not open on A while the responder was dead (A=${BREAKER_OCSP_A:-?})"
check_drain "$WORK/B.drain.json" "$B_EXIT" "$B_RC" "B (mid-load)" || die "graceful shutdown of B under load"
[[ ${DISK_ERR1_A:-0} != "${DISK_ERR0_A:-0}" ]] || echo "note: no disk_error counted on A while its cache_dir was read-only"

# --- graceful shutdown, focused ------------------------------------------------------
start_replica C
wait_replica C
# 4-GPU nodes: C is a fresh replica, and 8 x 4 new BROM certificates + the 2
# shared CAs stay within the OCSP upstream's burst (40; 8 x 8 would not).
"$CLIENT" --mode drain --target "${GRPC[C]}" --sim-dir "$SIM" --kill-pid "${PID[C]}" --inflight 8 --gpus 4 \
  --kill-after-ms 100 >"$WORK/C.drain.json" 2>"$WORK/C.drain.log" || die "drain client: $(tail -3 "$WORK/C.drain.log")"
set +e
wait "${PID[C]}"; C_RC=$?
set -e
C_EXIT=$(now_ms)
unset "PID[C]"
echo "drain C: $(cat "$WORK/C.drain.json")"
check_drain "$WORK/C.drain.json" "$C_EXIT" "$C_RC" "C (focused)" || die "graceful shutdown of C"
grep -q "stopped" "$WORK/C.log" || die "replica C did not log 'stopped'"

# A is stopped the same way at the end: exit 0.
kill -TERM "${PID[A]}"
set +e
wait "${PID[A]}"; A_RC=$?
set -e
unset "PID[A]"
[[ $A_RC -eq 0 ]] || die "replica A exited $A_RC on SIGTERM at the end"
echo "ok: replica A exited 0 on SIGTERM at the end"
echo "PASS: chaos ($REQUESTS requests over $DURATION s) in $(($(date +%s) - START_S)) s"
