# Sourced by run_k8s_test.sh config-load (k8s_manifest_config_load): the
# rendered manifests run for real on loopback.
#  - Redis from the prod overlay's StatefulSet: its redis.conf, its init
#    container's script (which writes requirepass from the Secret) and its
#    readiness command, with the pod paths mapped to a temporary directory;
#    AUTH required, noeviction, no RDB / AOF; the init script refuses a bad
#    password;
#  - for the base and every overlay: the files the kubelet would mount (the
#    rendered ConfigMaps; generated Secrets, mode 0440 like a defaultMode 0400
#    Secret volume with fsGroup; the simulation roots for dev), the config
#    rewritten to those paths and to the local Redis, attestation-server started
#    with it on loopback ports: /readyz 200 (over HTTPS where http_tls is set,
#    verified against the test CA), /healthz, JWKS, /metrics, a challenge over
#    gRPC (TLS where set), Redis keys written under the config's namespace, the
#    admission webhook's TLS verified for attestation-rp-webhook.attestation-rp.svc
#    (prod), a full simulated attestation round trip (dev), exit 0 on SIGTERM;
#  - the base's config without allow_group_readable_secrets is refused
#    (the Secret files are 0440).
# Uses from run_k8s_test.sh: WORK, HERE, K8S, DIRS, NAMES, PIDS, SRV, CTL,
# render_all, die.

render_all
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  die "no free loopback port"
}
jq_node() {  # FILE EXPR: a value of a JSON file (EXPR in JavaScript, j = the object)
  node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const v = (0, eval)("(j) => " + process.argv[2])(j);
    process.stdout.write((v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v)) + "\n");' "$1" "$2"
}
config_value() {  # CONFIG.yaml DOTTED.PATH
  (cd "$HERE" && node -e 'const y = require("js-yaml");
    const c = y.load(require("fs").readFileSync(process.argv[1], "utf8"), { schema: y.CORE_SCHEMA });
    const v = process.argv[2].split(".").reduce((o, k) => (o == null ? undefined : o[k]), c);
    process.stdout.write(v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));' "$1" "$2")
}
tail_log() { echo "--- last lines of $1" >&2; tail -n 15 "$1" >&2 || true; }

# --- shared material ----------------------------------------------------------
PKI="$WORK/pki"
mkdir -p "$PKI"
(
  umask 077
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -sha256 -days 2 -subj "/CN=k8s test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$PKI/ca.crt" 2>/dev/null
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$PKI/tls.key"
  openssl req -new -key "$PKI/tls.key" -subj "/CN=attestation-rp" -out "$PKI/tls.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:attestation-rp,DNS:attestation-rp.attestation-rp.svc,DNS:localhost,IP:127.0.0.1\n' >"$PKI/ext"
  openssl x509 -req -in "$PKI/tls.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 2 -sha256 \
    -extfile "$PKI/ext" -out "$PKI/tls.crt" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/token.pem" 2>/dev/null
  # As docs/kubernetes.md makes them (trailing newline included).
  openssl rand -hex 32 >"$PKI/hmac.key"
  openssl rand -hex 32 >"$PKI/redis.password"
) || die "cannot make the test keys"
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null || die "attestctl simulate init failed"

# The Secrets the manifests reference, as `kubectl create secret` would make
# them from these files (docs/kubernetes.md lists the same commands).
secret_source() {  # SECRET KEY -> the file its content comes from
  case "$1/$2" in
  attestation-rp-nonce/hmac.key) echo "$PKI/hmac.key" ;;
  attestation-rp-token/current.pem) echo "$PKI/token.pem" ;;
  attestation-rp-tls/tls.crt) echo "$PKI/tls.crt" ;;
  attestation-rp-tls/tls.key) echo "$PKI/tls.key" ;;
  attestation-rp-redis/password) echo "$PKI/redis.password" ;;
  attestation-rp-webhook-tls/tls.crt) echo "$WORK/prod-cert/tls.crt" ;;
  attestation-rp-webhook-tls/tls.key) echo "$WORK/prod-cert/tls.key" ;;
  *) return 1 ;;
  esac
}
secret_keys() {  # SECRET: its keys when the volume mounts all of them
  case "$1" in
  attestation-rp-token) echo current.pem ;;
  *) return 1 ;;
  esac
}

# --- Redis, as the prod overlay's StatefulSet runs it ---------------------------
node "$HERE/pod_files.mjs" "$WORK/prod.yaml" "$WORK/redis-src-root" >"$WORK/redis-layout.json" ||
  die "cannot lay out the prod overlay"
RD="$WORK/redis"
mkdir -p "$RD"
# Pod paths -> $RD/<volume name> (longest first).
REDIS_MOUNTS=$(jq_node "$WORK/redis-layout.json" 'Object.entries(j.redis.mounts).sort((a, b) => b[1].length - a[1].length).map(([n, p]) => n + " " + p).join("\n")')
[[ -n "$REDIS_MOUNTS" ]] || die "the prod overlay has no Redis StatefulSet"
redis_paths() {  # text on stdin -> pod paths mapped
  local text name path
  text=$(cat)
  while read -r name path; do text=${text//"$path"/"$RD/$name"}; done <<<"$REDIS_MOUNTS"
  printf '%s' "$text"
}
while read -r name path; do mkdir -p "$RD/$name"; done <<<"$REDIS_MOUNTS"
secret_dir=$(awk '$2 == "/etc/redis/secret" { print $1 }' <<<"$REDIS_MOUNTS")
[[ -n "$secret_dir" ]] || die "Redis does not mount its Secret at /etc/redis/secret"
install -m 0440 "$PKI/redis.password" "$RD/$secret_dir/password"
jq_node "$WORK/redis-layout.json" 'j.redis.conf' | redis_paths >"$WORK/redis.conf"
# The init container's script, first with a password it must refuse.
INIT=$(jq_node "$WORK/redis-layout.json" 'j.redis.init[0].slice(2).join(" ")' | redis_paths)
[[ $(jq_node "$WORK/redis-layout.json" 'j.redis.init[0].slice(0, 2).join(" ")') == "sh -c" ]] ||
  die "the Redis init container is not sh -c SCRIPT"
printf 'not a "good" password' >"$RD/$secret_dir/password"
sh -c "$INIT" 2>/dev/null && die "the Redis init script accepted a password with spaces and quotes"
printf 'abc123' >"$RD/$secret_dir/password"
sh -c "$INIT" 2>/dev/null && die "the Redis init script accepted a 6-character password"
echo "ok   redis init script refuses a malformed and a short password"
install -m 0440 "$PKI/redis.password" "$RD/$secret_dir/password"
sh -c "$INIT" || die "the Redis init script failed"
auth_conf=$(sed -n "s/^include \(.*auth.conf\)$/\1/p" "$WORK/redis.conf") || die "redis.conf does not include the generated auth file"
[[ $(stat -c %a "$auth_conf") == 600 ]] || die "auth.conf is mode $(stat -c %a "$auth_conf"), not 0600"
[[ $(cat "$auth_conf") == "requirepass $(cat "$PKI/redis.password")" ]] || die "auth.conf does not hold requirepass <the Secret's password>"
REDIS_PORT=""
for _ in 1 2 3 4 5; do
  REDIS_PORT=$(free_port)
  redis-server "$WORK/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  for _ in $(seq 1 100); do
    [[ $(REDISCLI_AUTH=$(cat "$PKI/redis.password") redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break 2
    kill -0 "$REDIS_PID" 2>/dev/null || break
    sleep 0.05
  done
  REDIS_PORT=""
done
[[ -n "$REDIS_PORT" ]] || { tail_log "$WORK/redis.log"; die "redis-server does not start with the rendered redis.conf"; }
readiness=$(jq_node "$WORK/redis-layout.json" 'j.redis.readiness.slice(2).join(" ")' | redis_paths)
[[ "$readiness" == *"-p 6379"* ]] || die "the Redis readiness probe does not name port 6379"
sh -c "${readiness//-p 6379/-p $REDIS_PORT}" || die "the Redis readiness probe fails against the running Redis"
rcli() { REDISCLI_AUTH=$(cat "$PKI/redis.password") redis-cli -p "$REDIS_PORT" "$@"; }
[[ $(redis-cli -p "$REDIS_PORT" ping 2>&1) == *NOAUTH* ]] || die "Redis answers without AUTH"
[[ $(rcli config get maxmemory-policy | tail -n1) == noeviction ]] || die "Redis maxmemory-policy is not noeviction"
[[ -z $(rcli config get save | tail -n1) ]] || die "Redis RDB snapshots are on"
[[ $(rcli config get appendonly | tail -n1) == no ]] || die "Redis AOF is on"
echo "ok   redis: rendered redis.conf + init script on :$REDIS_PORT; readiness probe passes; AUTH required; noeviction; no RDB/AOF"

# --- the server, per overlay ------------------------------------------------------
start_server() {  # NAME CONFIG LOG -> sets SPID, waits for the port file
  rm -f "$WORK/$1.ports"
  "$SRV" --config "$2" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --port-file "$WORK/$1.ports" >"$3" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
  for _ in $(seq 1 300); do
    [[ -s "$WORK/$1.ports" ]] && return 0
    kill -0 "$SPID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
for n in $NAMES; do
  [[ $n == prod-cert ]] && continue  # prod's config; its certificate serves prod's webhook below
  RT="$WORK/$n.root"
  node "$HERE/pod_files.mjs" "$WORK/$n.yaml" "$RT" "?attestation-rp-redis:6379=127.0.0.1:$REDIS_PORT" \
    "?0.0.0.0:8443=127.0.0.1:0" >"$WORK/$n.layout.json" || die "$n: cannot lay out the pod's files"
  # Secrets (0440: defaultMode 0400 + fsGroup) and operator-made ConfigMaps.
  while IFS=$'\t' read -r mount secret keys; do
    [[ -n "$mount" ]] || continue
    [[ -n "$keys" ]] || keys=$(secret_keys "$secret") || die "$n: no keys known for Secret $secret"
    mkdir -p "$RT$mount"
    for key in $keys; do
      src=$(secret_source "$secret" "$key") || die "$n: Secret $secret key $key: unknown to this test (and to docs/kubernetes.md?)"
      install -m 0440 "$src" "$RT$mount/$key"
    done
  done < <(jq_node "$WORK/$n.layout.json" 'j.secrets.map((s) => [s.mountPath, s.secretName, (s.keys ?? []).join(" ")].join("\t")).join("\n")')
  while IFS=$'\t' read -r mount cm; do
    [[ -n "$mount" ]] || continue
    [[ $cm == attestation-rp-simulation ]] || die "$n: ConfigMap $cm is referenced but not rendered, and unknown to this test"
    mkdir -p "$RT$mount"
    for f in ark.pem tdx_root.pem gpu_root.pem rim_root.pem; do install -m 0644 "$SIM/$f" "$RT$mount/$f"; done
  done < <(jq_node "$WORK/$n.layout.json" 'j.externalConfigMaps.map((c) => c.mountPath + "\t" + c.name).join("\n")')
  CFG=$(jq_node "$WORK/$n.layout.json" 'j.config')
  HTTP_TLS=$(config_value "$CFG" http_tls.cert_file)
  GRPC_TLS=$(config_value "$CFG" tls.cert_file)
  REDIS_NS=$(config_value "$CFG" redis.namespace)
  REDIS_ADDR=$(config_value "$CFG" redis.address)
  ADMISSION=$(config_value "$CFG" admission.listen)
  if [[ -n "$REDIS_ADDR" ]]; then
    [[ "$REDIS_ADDR" == "127.0.0.1:$REDIS_PORT" ]] || die "$n: redis.address $REDIS_ADDR is not the Service attestation-rp-redis:6379"
    before=$(rcli --scan --pattern "rp:$REDIS_NS:*" | wc -l)
  fi
  t0=$(date +%s%3N)
  start_server "$n" "$CFG" "$WORK/$n.log" || { tail_log "$WORK/$n.log"; die "$n: attestation-server did not start with the rendered config"; }
  HP=$(jq_node "$WORK/$n.ports" j.http)
  GP=$(jq_node "$WORK/$n.ports" j.grpc)
  MP=$(jq_node "$WORK/$n.ports" j.metrics)
  if [[ -n "$HTTP_TLS" ]]; then
    BASEURL="https://127.0.0.1:$HP"
    CURL=(curl -fsS --max-time 5 --cacert "$PKI/ca.crt")
  else
    BASEURL="http://127.0.0.1:$HP"
    CURL=(curl -fsS --max-time 5)
  fi
  ready=""
  for _ in $(seq 1 600); do
    "${CURL[@]}" -o /dev/null "$BASEURL/readyz" 2>/dev/null && { ready=1; break; }
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$ready" ]] || { tail_log "$WORK/$n.log"; die "$n: /readyz never answered 200 on $BASEURL"; }
  ms=$(($(date +%s%3N) - t0))
  "${CURL[@]}" -o /dev/null "$BASEURL/healthz" || die "$n: /healthz"
  keys=$("${CURL[@]}" "$BASEURL/.well-known/jwks.json" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).keys.length))') ||
    die "$n: no JWKS"
  [[ $keys -ge 1 ]] || die "$n: JWKS has no key"
  metrics=$(curl -fsS --max-time 5 "http://127.0.0.1:$MP/metrics") || die "$n: no /metrics"
  grep -q '^rp_' <<<"$metrics" || die "$n: /metrics has no rp_ series"
  TLSARGS=()
  [[ -z "$GRPC_TLS" ]] || TLSARGS=(--tls-ca "$PKI/ca.crt")
  "$CTL" challenge --server "127.0.0.1:$GP" "${TLSARGS[@]}" --out "$WORK/$n.challenge.json" >/dev/null ||
    { tail_log "$WORK/$n.log"; die "$n: GetChallenge over gRPC${GRPC_TLS:+ (TLS)} failed"; }
  what="/readyz ${HTTP_TLS:+(https) }after ${ms} ms, /healthz, JWKS ($keys key), /metrics, GetChallenge${GRPC_TLS:+ over TLS}"
  if [[ -n "$REDIS_ADDR" ]]; then
    after=$(rcli --scan --pattern "rp:$REDIS_NS:*" | wc -l)
    [[ $after -gt $before ]] || die "$n: nothing written to Redis under rp:$REDIS_NS: (is the redis block used?)"
    if grep -q 'maxmemory-policy' "$WORK/$n.log"; then
      tail_log "$WORK/$n.log"
      die "$n: the server does not see maxmemory-policy noeviction"
    fi
    what+=", Redis keys rp:$REDIS_NS:* ($before -> $after), noeviction seen"
  fi
  if [[ -n "$ADMISSION" ]]; then
    AP=$(jq_node "$WORK/$n.ports" j.admission)
    DNS=attestation-rp-webhook.attestation-rp.svc
    code=$(curl -sS --max-time 5 --cacert "$WORK/prod-cert/ca.crt" --resolve "$DNS:$AP:127.0.0.1" \
      -H 'Content-Type: application/json' -d '{}' -o /dev/null -w '%{http_code}' "https://$DNS:$AP/k8s/validate?timeout=5s") ||
      die "$n: the admission webhook's TLS does not verify for $DNS with the caBundle CA"
    [[ $code =~ ^[245][0-9][0-9]$ ]] || die "$n: the admission webhook answered $code"
    what+=", webhook TLS verified for $DNS (HTTP $code to an empty review)"
  fi
  if [[ $(config_value "$CFG" simulation.trust_simulation_root) == true ]]; then
    for tee in tdx snp; do
      "$CTL" challenge --server "127.0.0.1:$GP" "${TLSARGS[@]}" --out "$WORK/$n.$tee.challenge.json" >/dev/null ||
        die "$n: GetChallenge failed"
      "$CTL" simulate --challenge "$WORK/$n.$tee.challenge.json" --sim-dir "$SIM" --tee "$tee" --gpus 0 \
        --out "$WORK/$n.$tee.bundle.json" >/dev/null || die "$n: attestctl simulate --tee $tee failed"
      "$CTL" attest --server "127.0.0.1:$GP" "${TLSARGS[@]}" --evidence "$WORK/$n.$tee.bundle.json" \
        --challenge "$WORK/$n.$tee.challenge.json" --token-out "$WORK/$n.$tee.token" --accept warning >/dev/null ||
        { tail_log "$WORK/$n.log"; die "$n: a simulated $tee attestation was not accepted"; }
      "$CTL" token verify "@$WORK/$n.$tee.token" --jwks "$BASEURL/.well-known/jwks.json" \
        --issuer "$(config_value "$CFG" token.issuer)" --accept warning >/dev/null 2>&1 ||
        die "$n: the $tee token does not verify against the server's JWKS"
    done
    what+=", simulated TDX and SEV-SNP attested (warning) and their tokens verified against the JWKS"
  fi
  kill -TERM "$SPID"
  rc=0
  wait "$SPID" || rc=$?
  [[ $rc -eq 0 ]] || { tail_log "$WORK/$n.log"; die "$n: attestation-server exited $rc on SIGTERM"; }
  echo "ok   $n: rendered config runs: $what; SIGTERM -> exit 0"
done

# The fsGroup rule: 0440 Secret files need allow_group_readable_secrets.
CFG=$(jq_node "$WORK/base.layout.json" 'j.config')
grep -q '^allow_group_readable_secrets: true' "$CFG" || die "base config does not set allow_group_readable_secrets"
sed '/^allow_group_readable_secrets:/d' "$CFG" >"${CFG%.yaml}.strict.yaml"
if start_server strict "${CFG%.yaml}.strict.yaml" "$WORK/strict.log"; then
  die "the server started with 0440 secrets and without allow_group_readable_secrets"
fi
wait "$SPID" 2>/dev/null || true
grep -q 'group/other may access this secret' "$WORK/strict.log" || { tail_log "$WORK/strict.log"; die "expected the secret-mode refusal"; }
echo "ok   base config without allow_group_readable_secrets: refused ($(grep -o '[a-z_.]*key_file[^:]* has mode 0440\|[a-z_.\[\]0-9]* /[^ ]* has mode 0440' "$WORK/strict.log" | head -1))"
echo "PASS"
