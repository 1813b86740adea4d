#!/usr/bin/env bash
# The demo: builds attestctl and attestation-server, creates the simulation
# roots (SEV-SNP, TDX, GPU, RIM), starts the server on loopback with the
# embedded default config (deploy/config/local.yaml) pointed at the
# simulator's collateral directory (RIMs, OCSP answers, CRL) and the demo
# policy, and attests end to end (challenge → simulate → attest → token
# verify):
#   (a) a simulated SEV-SNP CVM with 8 simulated H100 GPUs
#   (b) a simulated TDX CVM with 8 simulated H100 GPUs
# then verifies a token with the independent `jose` library, shows that a
# replayed challenge is refused, verifies a simulated bundle offline, verifies
# REAL SEV-SNP reports offline at their valid time, releases a secret to the
# attested TEE key (key release), and stops the server.
# Prints "demo OK" and exits 0 only when all of that worked.
#
# BUILD_DIR (default build/) is configured if needed; only the two binaries
# are built.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/install_deps.sh"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  GEN=()
  command -v ninja >/dev/null && GEN=(-G Ninja)
  cmake -S "$ROOT" -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_TESTING=ON >/dev/null
fi
cmake --build "$BUILD_DIR" --target attestctl attestation-server -j"$(nproc)" >/dev/null
CTL="$BUILD_DIR/cli/attestctl"
SRV="$BUILD_DIR/server/attestation-server"
SIM="$ROOT/var/sim"
WORK="$ROOT/var/demo"
mkdir -p "$WORK"
rm -rf "${WORK:?}"/*

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "simulation roots (dev only; trusted because local.yaml says so)"
"$CTL" simulate init --sim-dir "$SIM"

# local.yaml with the simulator's collateral directory and the demo policy
# (absolute paths: the copy lives in var/demo/).
sed -e "s|^collateral_dir:.*|collateral_dir: $SIM/collateral|" \
    -e "s|^policy_file:.*|policy_file: $ROOT/deploy/policies/demo.yaml|" \
    -e "s|^  dir: .*|  dir: $SIM|" \
    "$ROOT/deploy/config/local.yaml" >"$WORK/server.yaml"
grep -q "^collateral_dir: $SIM/collateral" "$WORK/server.yaml" || { echo "config rewrite failed"; exit 1; }
# Key release (docs/key-release.md): tokens carry aud "kms"; one resource,
# gated by the demo policy's kms/demo-key rule, in the PKCS#11 store on a
# SoftHSM2 token made here (any HSM module in production).
HSM_MODULE=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
[ -n "$HSM_MODULE" ] || { echo "libsofthsm2.so not found (scripts/install_deps.sh installs softhsm2)"; exit 1; }
rm -rf "$WORK/hsm" && mkdir -p "$WORK/hsm/tokens"
export SOFTHSM2_CONF="$WORK/hsm/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$WORK/hsm/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label rp-demo --pin 1234 --so-pin 12345678 >/dev/null
(umask 077 && printf '1234' >"$WORK/hsm/pin")
cat >"$WORK/hsm/store.yaml" <<YAML
type: pkcs11
dir: $WORK/hsm/records
pkcs11: {module: $HSM_MODULE, token_label: rp-demo, pin_file: $WORK/hsm/pin, key_label: rp-release-wrap}
YAML
sed -i -e 's|^\(  issuer: .*\)$|\1\n  audiences: [kms]|' "$WORK/server.yaml"
cat >>"$WORK/server.yaml" <<YAML
key_release:
  resources:
    - {name: demo/key/model, policy: demo, rule: kms/demo-key, audiences: [kms]}
  store:
    type: pkcs11
    dir: $WORK/hsm/records
    pkcs11: {module: $HSM_MODULE, token_label: rp-demo, pin_file: $WORK/hsm/pin, key_label: rp-release-wrap}
YAML
step "key release store: a SoftHSM2 token with a non-extractable wrapping key, one secret in it"
"$CTL" resource init-key --pkcs11-config "$WORK/hsm/store.yaml"
(umask 077 && printf 'model-decryption-key-%s' "$(openssl rand -hex 16)" >"$WORK/model.key")
"$CTL" resource put demo/key/model --pkcs11-config "$WORK/hsm/store.yaml" --in "$WORK/model.key"
"$CTL" resource ls --pkcs11-config "$WORK/hsm/store.yaml"

step "start attestation-server (local.yaml + sim collateral + demo policy, ports chosen by the OS)"
"$SRV" --config "$WORK/server.yaml" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 --port-file "$WORK/ports.json" >"$WORK/server.log" 2>&1 &
SRV_PID=$!
cleanup() { kill -TERM "$SRV_PID" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do [ -s "$WORK/ports.json" ] && break; sleep 0.1; done
[ -s "$WORK/ports.json" ] || { cat "$WORK/server.log"; echo "server did not start"; exit 1; }
port() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/ports.json"; }
GRPC=127.0.0.1:$(port grpc); HTTP=http://127.0.0.1:$(port http); METRICS=http://127.0.0.1:$(port metrics)
for _ in $(seq 1 100); do curl -fs "$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "gRPC $GRPC   HTTP $HTTP   metrics $METRICS/metrics"
curl -fs "$HTTP/healthz"; echo " (healthz)"

# attest_node NAME TEE: challenge → simulate (8 GPUs) → attest → token verify.
attest_node() {
  local name=$1 tee=$2
  step "($name) attestctl challenge"
  "$CTL" challenge --server "$GRPC" --out "$WORK/$name.challenge.json"
  cat "$WORK/$name.challenge.json"; echo
  step "($name) attestctl simulate --tee $tee --gpus 8 (bound with attest-v1 to that challenge)"
  "$CTL" simulate --challenge "$WORK/$name.challenge.json" --sim-dir "$SIM" --tee "$tee" --gpus 8 \
    --out "$WORK/$name.bundle.json" --tee-key-out "$WORK/$name.tee_key.pem"
  # Simulated evidence is at best a warning under the demo policy: accept it.
  step "($name) attestctl attest"
  "$CTL" attest --server "$GRPC" --evidence "$WORK/$name.bundle.json" --accept warning --audience kms \
    --challenge "$WORK/$name.challenge.json" --json --token-out "$WORK/$name.token.jwt" \
    >"$WORK/$name.result.json" || { cat "$WORK/$name.result.json"; echo "($name) not accepted"; exit 1; }
  node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const subs = r.submods || {};
console.log("verdict:", r.verdict, " reasons:", JSON.stringify(r.reasons));
const names = Object.keys(subs).sort((a, b) =>
  (a.startsWith("cpu") ? 0 : 1) - (b.startsWith("cpu") ? 0 : 1) || a.length - b.length || a.localeCompare(b));
let bad = "";
for (const n of names) {
  const s = subs[n], c = s.claims || {};
  let extra = "";
  if (n.startsWith("gpu")) {
    extra = ` ueid=${c.ueid} cc_mode=${c.cc_mode} measurements_match=${c.measurements_match}`;
    if (c.measurements_match !== true) bad += `${n}: measurements do not match the RIMs\n`;
  }
  console.log(`  ${n.padEnd(5)} ${String(s.tee || s.class || "").padEnd(12)} ${s.status}${extra}`);
}
if (!["affirming", "warning"].includes(r.verdict)) bad += `verdict ${r.verdict}\n`;
if (bad) { process.stderr.write(bad); process.exit(1); }
' "$WORK/$name.result.json"
  [ -s "$WORK/$name.token.jwt" ] || { echo "($name) no token"; exit 1; }
  step "($name) token verified by attestctl against the served JWKS"
  "$CTL" token verify "@$WORK/$name.token.jwt" --jwks "$HTTP/.well-known/jwks.json" --audience kms \
    --issuer "$(sed -n 's/^  issuer: *//p' "$WORK/server.yaml")" --accept warning \
    >"$WORK/$name.claims.json"
  node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`token: ear.status=${c["ear.status"]}, submods=${Object.keys(c.submods || {}).sort().join(",")}`);' \
    "$WORK/$name.claims.json"
}

attest_node snp-8gpu snp
attest_node tdx-8gpu tdx

step "token verified by the independent JOSE library (npm jose) against the served JWKS"
JOSE_DIR="$ROOT/tests/integration/jose"
[ -d "$JOSE_DIR/node_modules/jose" ] || (cd "$JOSE_DIR" && npm ci --no-audit --no-fund --silent)
node "$JOSE_DIR/verify_token.mjs" --token "@$WORK/tdx-8gpu.token.jwt" \
  --jwks-url "$HTTP/.well-known/jwks.json" >"$WORK/jose.json"
echo "jose: signature and claims OK ($(wc -c <"$WORK/jose.json") bytes of payload)"

step "the same challenge again is refused (single use)"
set +e
"$CTL" attest --server "$GRPC" --evidence "$WORK/tdx-8gpu.bundle.json" --audience kms \
  --challenge "$WORK/tdx-8gpu.challenge.json" >"$WORK/replay.txt"
rc=$?
set -e
grep -E "verdict|NONCE" "$WORK/replay.txt" || true
[ "$rc" -eq 1 ] || { echo "replay was not rejected (exit $rc)"; exit 1; }

step "offline: the simulated TDX + 8 GPU bundle with attestctl verify against its challenge's nonce"
"$CTL" verify --evidence "$WORK/tdx-8gpu.bundle.json" --challenge "$WORK/tdx-8gpu.challenge.json" \
  --trust-simulation "$SIM" --collateral "$SIM/collateral" --policy "$ROOT/deploy/policies/demo.yaml" \
  --accept warning | grep -E "^verdict|^verification" || true

# Third-party reports: no nonce of ours, so --no-freshness (at best a warning).
step "offline: a REAL AMD SEV-SNP report (Genoa, report v5) at its valid time"
"$CTL" verify --evidence "$ROOT/tests/data/snp/bundles/genoa_v5_oak.json" --no-freshness \
  --accept warning --collateral "$ROOT/tests/data/snp/offline" --at 2025-09-01T00:00:00Z

step "offline: a REAL Turin report without a Turin CRL is rejected (revocation is required)"
set +e
"$CTL" verify --evidence "$ROOT/tests/data/snp/bundles/turin_v5_oak.json" --no-freshness \
  --accept warning --collateral "$ROOT/tests/data/snp/offline" --at 2025-09-01T00:00:00Z \
  | grep -E "^verdict|^reasons|required_checks"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 1 ] || { echo "expected the Turin report to be rejected (exit 1), got $rc"; exit 1; }

step "offline: a REAL Milan report with the AMD CRL checked"
"$CTL" verify --evidence "$ROOT/tests/data/snp/bundles/milan_v3_oak_cb.json" --no-freshness \
  --accept warning --collateral "$ROOT/tests/data/snp/offline" --at 2025-09-01T00:00:00Z

step "key release: the TDX + 8 GPU node's token opens demo/key/model, wrapped to its TEE key"
"$CTL" release --server "$GRPC" --resource demo/key/model --token "@$WORK/tdx-8gpu.token.jwt" \
  --tee-key "$WORK/tdx-8gpu.tee_key.pem" --out "$WORK/released.key"
cmp -s "$WORK/released.key" "$WORK/model.key" || { echo "released secret differs"; exit 1; }
echo "released secret matches the stored one (sha256 $(sha256sum <"$WORK/released.key" | cut -c1-16)...)"
set +e
"$CTL" release --server "$GRPC" --resource demo/key/model --token "@$WORK/tdx-8gpu.token.jwt" \
  --tee-key "$WORK/tdx-8gpu.tee_key.pem" --out "$WORK/released-again.key" 2>"$WORK/again.err"
rc=$?
set -e
echo "the same token again: $(grep -o 'TOKEN_REPLAYED' "$WORK/again.err" | head -1) (exit $rc)"
[ "$rc" -eq 1 ] || { cat "$WORK/again.err"; echo "a second release with the same token was not refused"; exit 1; }

step "key release in one call (AttestAndRelease) for a fresh SNP + 8 GPU node"
"$CTL" challenge --server "$GRPC" --out "$WORK/one.challenge.json" >/dev/null
"$CTL" simulate --challenge "$WORK/one.challenge.json" --sim-dir "$SIM" --tee snp --gpus 8 \
  --out "$WORK/one.bundle.json" --tee-key-out "$WORK/one.tee_key.pem" >/dev/null
"$CTL" release --server "$GRPC" --resource demo/key/model --evidence "$WORK/one.bundle.json" \
  --challenge "$WORK/one.challenge.json" --tee-key "$WORK/one.tee_key.pem" --out "$WORK/released-one.key"
cmp -s "$WORK/released-one.key" "$WORK/model.key" || { echo "released secret differs"; exit 1; }
echo "released secret matches"

step "metrics sample"
curl -fs "$METRICS/metrics" >"$WORK/metrics.txt" || true
grep -E "^rp_(attestations|nonces|releases)" "$WORK/metrics.txt" | head -12 || true

step "stop the server (SIGTERM)"
kill -TERM "$SRV_PID"
wait "$SRV_PID"
trap - EXIT
echo "server exited cleanly"
echo
echo "demo OK"
