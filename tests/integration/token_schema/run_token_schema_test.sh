#!/usr/bin/env bash
# Validates attestation token payloads against docs/schemas/ear-token.schema.json
# with an independent JSON Schema implementation (npm `ajv` + `ajv-formats`,
# versions pinned in package.json/package-lock.json).
#
#   run_token_schema_test.sh [--issue SERVER_BINARY ATTESTCTL] [TOKEN_OR_PAYLOAD_FILE...]
#
# Always validates the example token in docs/token.md and checks that the
# schema rejects one-change mutations of it; then every file given (a compact
# JWT, whose header and payload are checked but not its signature, or a JSON
# payload). With --issue it first gets a real token: it starts the
# attestation-server on ephemeral loopback ports (development config, demo
# policy, simulation root trusted), runs `attestctl challenge`, `simulate` and
# `attest --token-out --result-out`, stops the server and validates that token
# too, and checks (check_appraisal_hash.mjs) that its appraisal_sha256 is the
# SHA-256 of the canonical full result the response carried and that the
# compact TDX + 8 GPU token is at most 8 KiB.
# Registered in CTest as token_schema_test and token_schema_real_token
# (tests/integration/token_schema/CMakeLists.txt).
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SERVER_BIN=""
ATTESTCTL=""
if [[ $# -ge 1 && $1 == "--issue" ]]; then
  [[ $# -ge 3 ]] || die "usage: $0 [--issue SERVER_BINARY ATTESTCTL] [FILE...]"
  SERVER_BIN=$2
  ATTESTCTL=$3
  shift 3
  [[ -x "$SERVER_BIN" ]] || die "server binary not executable: $SERVER_BIN"
  [[ -x "$ATTESTCTL" ]] || die "attestctl not executable: $ATTESTCTL"
fi
for f in "$@"; do
  [[ -r "$f" ]] || die "cannot read $f"
done

command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"

# Dependencies exactly as locked; only when missing.
if [[ ! -f "$HERE/node_modules/ajv/package.json" || ! -f "$HERE/node_modules/ajv-formats/package.json" ||
      ! -f "$HERE/node_modules/jose/package.json" ]]; then
  echo "installing ajv and jose from package-lock.json (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi
echo "ajv $(node -p "require('$HERE/node_modules/ajv/package.json').version")," \
  "ajv-formats $(node -p "require('$HERE/node_modules/ajv-formats/package.json').version")," \
  "node $(node --version)"

FILES=("$@")
if [[ -n "$SERVER_BIN" ]]; then
  WORK=$(mktemp -d)
  SERVER_PID=""
  cleanup() {
    if [[ -n "$SERVER_PID" ]]; then
      kill "$SERVER_PID" 2>/dev/null || true
      wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
  }
  trap cleanup EXIT
  "$ATTESTCTL" simulate init --sim-dir "$WORK/sim" >/dev/null || die "attestctl simulate init failed"
  # A TDX node with 8 GPUs: the token then carries every kind of submod and
  # collateral reference. The simulator writes the RIMs / OCSP answers here.
  mkdir -p "$WORK/sim/collateral"
  cat >"$WORK/server.yaml" <<YAML
environment: development
listen: 127.0.0.1:1        # overridden below (ephemeral ports)
http_listen: 127.0.0.1:1
metrics_listen: 127.0.0.1:1
token:
  issuer: attestation-rp-schema-test
  audiences: [schema-test]   # the token then carries aud (docs/key-release.md)
policy_file: $ROOT/deploy/policies/demo.yaml
collateral_dir: $WORK/sim/collateral
simulation:
  trust_simulation_root: true
  dir: $WORK/sim
audit_log: $WORK/audit.log
YAML
  "$SERVER_BIN" --config "$WORK/server.yaml" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 \
    --metrics-listen=127.0.0.1:0 --port-file "$WORK/ports.json" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    [[ -s "$WORK/ports.json" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "server exited during startup: $(cat "$WORK/server.log")"
    sleep 0.1
  done
  [[ -s "$WORK/ports.json" ]] || die "server did not report its ports: $(cat "$WORK/server.log")"
  GRPC_PORT=$(node -p "JSON.parse(require('fs').readFileSync('$WORK/ports.json', 'utf8')).grpc")
  SERVER="127.0.0.1:$GRPC_PORT"
  "$ATTESTCTL" challenge --server "$SERVER" --out "$WORK/challenge.json" >/dev/null ||
    die "attestctl challenge failed: $(cat "$WORK/server.log")"
  "$ATTESTCTL" simulate --challenge "$WORK/challenge.json" --sim-dir "$WORK/sim" \
    --tee tdx --gpus 8 --out "$WORK/bundle.json" >/dev/null || die "attestctl simulate failed"
  # Exit 1 (contraindicated) still yields a token, which must validate too.
  rc=0
  "$ATTESTCTL" attest --server "$SERVER" --evidence "$WORK/bundle.json" \
    --challenge "$WORK/challenge.json" --audience schema-test \
    --token-out "$WORK/token.jwt" --result-out "$WORK/result.json" >"$WORK/attest.out" || rc=$?
  [[ $rc -le 1 && -s "$WORK/token.jwt" ]] ||
    die "attestctl attest (exit $rc) issued no token: $(cat "$WORK/attest.out")"
  echo "real token issued by $(basename "$SERVER_BIN") (attest exit $rc)"
  FILES+=("$WORK/token.jwt")
  # The default (compact) token of a TDX + 8 GPU node: at most 8 KiB, and
  # the full result the response carried is the one it vouches for.
  node "$HERE/check_appraisal_hash.mjs" "$WORK/token.jwt" "$WORK/result.json" 8192
fi

node "$HERE/validate_token_schema.mjs" "${FILES[@]}"
node "$HERE/verify_example_jws.mjs" "$ROOT/docs/token.md"
