#!/usr/bin/env bash
# The demo: builds, starts the server on loopback with the embedded default
# config (deploy/config/local.yaml), does a full round trip with simulated
# SEV-SNP evidence, verifies the token (attestctl and the independent `jose`
# library) against the served JWKS, shows that a replayed challenge is
# refused, verifies a REAL SEV-SNP report offline at its valid time, and
# stops the server. Exits 0 when all of that worked.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
"$ROOT/scripts/build.sh" >/dev/null
CTL="$BUILD_DIR/cli/attestctl"
SRV="$BUILD_DIR/server/attestation-server"
WORK="$ROOT/var/demo"
mkdir -p "$WORK"
rm -f "$WORK"/*

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "simulation root (dev only; trusted because local.yaml says so)"
"$CTL" simulate init --sim-dir "$ROOT/var/sim"

step "start attestation-server (deploy/config/local.yaml, ports chosen by the OS)"
"$SRV" --config "$ROOT/deploy/config/local.yaml" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
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

step "attestctl challenge"
"$CTL" challenge --server "$GRPC" --out "$WORK/challenge.json"
cat "$WORK/challenge.json"

step "attestctl simulate (SEV-SNP report bound with attest-v1 to that challenge)"
"$CTL" simulate --challenge "$WORK/challenge.json" --sim-dir "$ROOT/var/sim" \
  --out "$WORK/bundle.json" --tee-key-out "$WORK/tee_key.pem"

step "attestctl attest"
"$CTL" attest --server "$GRPC" --evidence "$WORK/bundle.json" --challenge "$WORK/challenge.json" \
  --token-out "$WORK/token.jwt"

step "token verified by attestctl against the served JWKS"
curl -fs "$HTTP/.well-known/jwks.json" -o "$WORK/jwks.json"
"$CTL" token verify "@$WORK/token.jwt" --jwks "$HTTP/.well-known/jwks.json" >"$WORK/claims.json"
echo "claims: $(head -c 300 "$WORK/claims.json" | tr -d '\n' | tr -s ' ')..."

step "token verified by the independent JOSE library (npm jose) against the served JWKS"
JOSE_DIR="$ROOT/tests/integration/jose"
[ -d "$JOSE_DIR/node_modules/jose" ] || (cd "$JOSE_DIR" && npm ci --no-audit --no-fund --silent)
node "$JOSE_DIR/verify_token.mjs" --token "$(cat "$WORK/token.jwt")" --jwks-url "$HTTP/.well-known/jwks.json" \
  >"$WORK/jose.json"
echo "jose: signature and claims OK ($(wc -c <"$WORK/jose.json") bytes of payload)"

step "the same challenge again is refused (single use)"
set +e
"$CTL" attest --server "$GRPC" --evidence "$WORK/bundle.json" --challenge "$WORK/challenge.json" >"$WORK/replay.txt"
rc=$?
set -e
grep -E "verdict|NONCE" "$WORK/replay.txt" || true
[ "$rc" -eq 1 ] || { echo "replay was not rejected (exit $rc)"; exit 1; }

step "offline: a REAL AMD SEV-SNP report (Turin, report v5) at its valid time"
"$CTL" verify --evidence "$ROOT/tests/data/snp/bundles/turin_v5_oak.json" \
  --collateral "$ROOT/tests/data/snp/offline" --at 2025-09-01T00:00:00Z

step "offline: a REAL Milan report with the AMD CRL checked"
"$CTL" verify --evidence "$ROOT/tests/data/snp/bundles/milan_v3_oak_cb.json" \
  --collateral "$ROOT/tests/data/snp/offline" --at 2025-09-01T00:00:00Z

step "metrics sample"
curl -fs "$METRICS/metrics" | grep -E "^rp_(attestations|nonces)" | head -8 || true

step "stop the server (SIGTERM)"
kill -TERM "$SRV_PID"
wait "$SRV_PID"
trap - EXIT
echo "server exited cleanly"
echo
echo "demo OK"
