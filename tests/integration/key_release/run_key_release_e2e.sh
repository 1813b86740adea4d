#!/usr/bin/env bash
# Key release end to end (issue 11), real processes on loopback:
#   attestation-server (development config, demo policy, simulation root
#   trusted, key_release with a directory store, then with a SoftHSM2
#   PKCS#11 store) and attestctl as the workload.
#
# For simulated SNP + 8 GPU and TDX + 8 GPU nodes and TEE keys P-256, P-384
# and RSA-3072:
#   challenge -> simulate -> attest (aud kms) -> Release(token) over gRPC;
#   attestctl release decrypts the JWE to the exact secret, and npm jose
#   decrypts the same JWE independently; the token's second use is refused.
# Also: AttestAndRelease in one call; the REST face
# (POST /v1/resources/...:release with a Bearer token) and its 401 / 404 /
# 400 answers; the SoftHSM2 store (non-extractable wrapping key made by
# `attestctl resource init-key`) end to end; every release / denial is an
# audit line and a metric.
#
#   run_key_release_e2e.sh SERVER_BINARY ATTESTCTL
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/e2e.sh"
e2e_init release_e2e "$@"
JOSE_DIR="$ROOT/tests/integration/jose"
[[ -d "$JOSE_DIR/node_modules/jose" ]] || (cd "$JOSE_DIR" && npm ci --no-audit --no-fund --silent)
SIM="$WORK/sim"
RES=demo/key/model
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
head -c 48 /dev/urandom >"$WORK/secret.bin"
SECRET_HEX=$(od -An -tx1 -v "$WORK/secret.bin" | tr -d ' \n')

# start_server STORE_YAML: writes the config, starts the server, sets GRPC/HTTP/METRICS.
start_server() {
  cat >"$WORK/server.yaml" <<EOF
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
token: {algorithm: ES256, issuer: rp-release-e2e, audiences: [kms, other]}
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
simulation: {trust_simulation_root: true, dir: $SIM}
audit_log: $WORK/audit.jsonl
key_release:
  resources:
    - {name: $RES, policy: demo, rule: kms/demo-key, audiences: [kms]}
  store:
$1
EOF
  e2e_start_server "$WORK/server.yaml"
  grep -q "key release: 1 resource" "$WORK/server.log" || { cat "$WORK/server.log"; die "key release not configured"; }
}
stop_server() { e2e_stop_server || true; }

# node_token NAME TEE KEYTYPE [GPUS]: challenge -> simulate (8 GPUs) -> attest; writes NAME.*.
node_token() {
  local name=$1 tee=$2 kt=$3 gpus=${4:-8}
  "$CTL" challenge --server "$GRPC" --out "$WORK/$name.challenge.json" >/dev/null
  "$CTL" simulate --challenge "$WORK/$name.challenge.json" --sim-dir "$SIM" --tee "$tee" --gpus "$gpus" \
    --tee-key-type "$kt" --out "$WORK/$name.bundle.json" --tee-key-out "$WORK/$name.key.pem" >/dev/null
  "$CTL" attest --server "$GRPC" --evidence "$WORK/$name.bundle.json" \
    --challenge "$WORK/$name.challenge.json" --audience kms --accept warning --json \
    --token-out "$WORK/$name.token.jwt" >"$WORK/$name.result.json" ||
    { cat "$WORK/$name.result.json"; die "$name: attest not accepted"; }
}

# check_release NAME: the secret out of attestctl release and out of jose.
check_secret() {
  local name=$1
  cmp -s "$WORK/$name.secret.out" "$WORK/secret.bin" || die "$name: attestctl release gave another secret"
  [[ $(stat -c %a "$WORK/$name.secret.out") == 600 ]] || die "$name: secret file is not 0600"
  local got
  got=$(cd "$JOSE_DIR" && node release_decrypt.mjs "$WORK/$name.jwe" "$WORK/$name.key.pem")
  [[ ${got%% *} == "$SECRET_HEX" ]] || die "$name: jose decrypted another secret ($got)"
  [[ $got == *" $RES "* ]] || die "$name: resource not in the protected header ($got)"
  echo "ok: $name: released $(stat -c %s "$WORK/$name.secret.out") bytes; jose agrees (${got##* })"
}

run_suite() {
  local label=$1
  for tee in snp tdx; do
    for kt in P-256 P-384 RSA-3072; do
      local name="$label-$tee-$kt"
      node_token "$name" "$tee" "$kt"
      "$CTL" release --server "$GRPC" --resource "$RES" --token "@$WORK/$name.token.jwt" \
        --tee-key "$WORK/$name.key.pem" --out "$WORK/$name.secret.out" --jwe-out "$WORK/$name.jwe" \
        2>"$WORK/$name.release.err" || { cat "$WORK/$name.release.err"; die "$name: release failed"; }
      check_secret "$name"
      # The token is single use.
      set +e
      "$CTL" release --server "$GRPC" --resource "$RES" --token "@$WORK/$name.token.jwt" \
        --tee-key "$WORK/$name.key.pem" --out "$WORK/$name.again" 2>"$WORK/$name.again.err"
      local rc=$?
      set -e
      [[ $rc -eq 1 ]] && grep -q TOKEN_REPLAYED "$WORK/$name.again.err" ||
        { cat "$WORK/$name.again.err"; die "$name: replayed jti not refused (rc $rc)"; }
      [[ ! -e "$WORK/$name.again" ]] || die "$name: a refused release wrote a file"
    done
  done
  # Attest and release in one call, for each key type.
  for kt in P-256 P-384 RSA-3072; do
    local name="$label-onecall-$kt"
    "$CTL" challenge --server "$GRPC" --out "$WORK/$name.challenge.json" >/dev/null
    "$CTL" simulate --challenge "$WORK/$name.challenge.json" --sim-dir "$SIM" --tee tdx --gpus 8 \
      --tee-key-type "$kt" --out "$WORK/$name.bundle.json" --tee-key-out "$WORK/$name.key.pem" >/dev/null
    "$CTL" release --server "$GRPC" --resource "$RES" --evidence "$WORK/$name.bundle.json" \
      --challenge "$WORK/$name.challenge.json" --tee-key "$WORK/$name.key.pem" \
      --out "$WORK/$name.secret.out" --jwe-out "$WORK/$name.jwe" 2>"$WORK/$name.err" ||
      { cat "$WORK/$name.err"; die "$name: AttestAndRelease failed"; }
    check_secret "$name"
  done
}

# --- directory store ---------------------------------------------------------
"$CTL" resource put "$RES" --store-dir "$WORK/secrets" --in "$WORK/secret.bin" >/dev/null
start_server "    {type: directory, dir: $WORK/secrets}"
run_suite dir

# REST: the same release with a Bearer token; flattened JWE on request. (An
# 8-GPU node's token is larger than the 16 KiB header cap: it goes in the
# body, below.)
node_token rest snp P-256 0
TOKEN=$(cat "$WORK/rest.token.jwt")
code=$(curl -s -o "$WORK/rest.out.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"flattened": true}' "$HTTP/v1/resources/$RES:release")
[[ $code == 200 ]] || { cat "$WORK/rest.out.json"; die "REST release: HTTP $code"; }
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  if (r.resource !== process.argv[2] || !r.jwe.startsWith("{")) process.exit(1);
  require("fs").writeFileSync(process.argv[3], r.jwe);' "$WORK/rest.out.json" "$RES" "$WORK/rest.jwe" ||
  die "REST release: unexpected body $(cat "$WORK/rest.out.json")"
got=$(cd "$JOSE_DIR" && node release_decrypt.mjs "$WORK/rest.jwe" "$WORK/rest.key.pem")
[[ ${got%% *} == "$SECRET_HEX" ]] || die "REST release: jose decrypted another secret"
echo "ok: REST release (flattened JWE) decrypted by jose"
expect_http() {  # CODE REASON CURL_ARGS...
  local want=$1 reason=$2
  shift 2
  local c
  c=$(curl -s -o "$WORK/p.json" -w '%{http_code}' -X POST "$@")
  [[ $c == "$want" ]] && grep -q "\"reason\":\"$reason\"" "$WORK/p.json" ||
    die "want $want $reason, got $c $(cat "$WORK/p.json")"
  echo "ok: HTTP $want $reason"
}
expect_http 401 TOKEN_MISSING "$HTTP/v1/resources/$RES:release"
expect_http 401 TOKEN_REPLAYED -H "Authorization: Bearer $TOKEN" "$HTTP/v1/resources/$RES:release"
node_token rest2 snp P-256 0
TOKEN2=$(cat "$WORK/rest2.token.jwt")
expect_http 404 RESOURCE_UNKNOWN -H "Authorization: Bearer $TOKEN2" "$HTTP/v1/resources/demo/key/nope:release"
# A request naming its own wrapping key: an unknown field, refused.
expect_http 400 UNKNOWN_FIELD -H "Authorization: Bearer $TOKEN2" -H 'Content-Type: application/json' \
  -d '{"tee_public_key": {"kty": "EC"}}' "$HTTP/v1/resources/$RES:release"
# A token whose aud is another audience.
"$CTL" challenge --server "$GRPC" --out "$WORK/aud.challenge.json" >/dev/null
"$CTL" simulate --challenge "$WORK/aud.challenge.json" --sim-dir "$SIM" --tee snp --gpus 0 \
  --out "$WORK/aud.bundle.json" --tee-key-out "$WORK/aud.key.pem" >/dev/null
"$CTL" attest --server "$GRPC" --evidence "$WORK/aud.bundle.json" --challenge "$WORK/aud.challenge.json" \
  --audience other --accept warning --token-out "$WORK/aud.token.jwt" >/dev/null
expect_http 401 TOKEN_AUDIENCE_MISMATCH -H "Authorization: Bearer $(cat "$WORK/aud.token.jwt")" \
  "$HTTP/v1/resources/$RES:release"

# An 8-GPU node's token in the body instead of the header.
node_token rest8 tdx P-256 8
node -e 'process.stdout.write(JSON.stringify({token: require("fs").readFileSync(process.argv[1], "utf8").trim()}))' \
  "$WORK/rest8.token.jwt" >"$WORK/rest8.body.json"
code=$(curl -s -o "$WORK/rest8.out.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary "@$WORK/rest8.body.json" "$HTTP/v1/resources/$RES:release")
[[ $code == 200 ]] || { cat "$WORK/rest8.out.json"; die "REST release (token in body): HTTP $code"; }
node -e 'require("fs").writeFileSync(process.argv[2], JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).jwe)' \
  "$WORK/rest8.out.json" "$WORK/rest8.jwe"
got=$(cd "$JOSE_DIR" && node release_decrypt.mjs "$WORK/rest8.jwe" "$WORK/rest8.key.pem")
[[ ${got%% *} == "$SECRET_HEX" ]] || die "REST release (token in body): jose decrypted another secret"
echo "ok: REST release of an 8-GPU node ($(stat -c %s "$WORK/rest8.token.jwt")-byte token in the body)"

# Audit lines and metrics: releases and denials, never the secret.
grep -q '"event":"key_release".*"result":"OK"' "$WORK/audit.jsonl" || die "no audit line for a release"
grep -q '"result":"TOKEN_REPLAYED"' "$WORK/audit.jsonl" || die "no audit line for a replay"
! grep -q "$SECRET_HEX" "$WORK/audit.jsonl" || die "the secret is in the audit log"
curl -fs "$METRICS/metrics" >"$WORK/metrics.txt" || die "metrics not served"
grep -q "rp_releases_total{resource=\"$RES\",result=\"OK\"}" "$WORK/metrics.txt" ||
  die "no rp_releases_total metric"
stop_server
echo "ok: directory store: $(grep -c '"result":"OK"' "$WORK/audit.jsonl") releases audited"

# --- SoftHSM2 (PKCS#11) store -----------------------------------------------
MODULE=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
[[ -n "$MODULE" ]] || die "libsofthsm2.so not found (scripts/install_deps.sh installs softhsm2)"
mkdir -p "$WORK/hsm/tokens"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$WORK/hsm/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label rp-e2e --pin 4321 --so-pin 87654321 >/dev/null
(umask 077 && printf '4321' >"$WORK/hsm/pin")
cat >"$WORK/hsm/store.yaml" <<EOF
type: pkcs11
dir: $WORK/hsm/records
pkcs11: {module: $MODULE, token_label: rp-e2e, pin_file: $WORK/hsm/pin, key_label: rp-wrap}
EOF
"$CTL" resource init-key --pkcs11-config "$WORK/hsm/store.yaml" >/dev/null
"$CTL" resource put "$RES" --pkcs11-config "$WORK/hsm/store.yaml" --in "$WORK/secret.bin" >/dev/null
! grep -rq "$(head -c 16 "$WORK/secret.bin" | od -An -tx1 -v | tr -d ' \n')" "$WORK/hsm/records" 2>/dev/null ||
  true  # (binary records: the store's own tests check for plaintext windows)
start_server "    {type: pkcs11, dir: $WORK/hsm/records, pkcs11: {module: $MODULE, token_label: rp-e2e, pin_file: $WORK/hsm/pin, key_label: rp-wrap}}"
for tee in snp tdx; do
  name="hsm-$tee"
  node_token "$name" "$tee" P-256
  "$CTL" release --server "$GRPC" --resource "$RES" --token "@$WORK/$name.token.jwt" \
    --tee-key "$WORK/$name.key.pem" --out "$WORK/$name.secret.out" --jwe-out "$WORK/$name.jwe" \
    2>"$WORK/$name.err" || { cat "$WORK/$name.err"; die "$name: release failed"; }
  check_secret "$name"
done
stop_server
echo "PASS: key release end to end (directory and SoftHSM2 stores)"
