#!/usr/bin/env bash
# Key-release recipes (docs/key-release.md) against tokens from the real
# attestation-server:
#
#   run_key_release_recipes_test.sh SERVER_BINARY ATTESTCTL
#
# Starts the server on loopback ports with the documented `token:` block
# (issuer = its own HTTP URL instead of https://attest.example.com,
# audiences [vault, trustee-kbs, https://kms.example.com]), the demo policy
# and the simulation root; attests a simulated TDX node with 8 GPUs twice
# (audience vault, audience https://kms.example.com). Then:
#  - attest without an audience, or with an unknown one, is INVALID_ARGUMENT
#    (exit 2) and does not consume the challenge;
#  - npm jose jwtVerify with `issuer` and `audience` accepts the token with
#    the JWKS fetched from the server, and rejects it for another audience, for
#    another issuer, and the kms token for the vault audience;
#  - check_key_release_recipes.mjs applies each recipe block of the doc to the
#    tokens (Trustee KBS passport mode, Vault JWT auth, the generic jose gate).
# Registered in CTest as key_release_recipes (tests/integration/jose/CMakeLists.txt).
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ $# -eq 2 ]] || die "usage: $0 SERVER_BINARY ATTESTCTL"
SERVER_BIN=$1
ATTESTCTL=$2
[[ -x "$SERVER_BIN" ]] || die "server binary not executable: $SERVER_BIN"
[[ -x "$ATTESTCTL" ]] || die "attestctl not executable: $ATTESTCTL"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
DOC="$ROOT/docs/key-release.md"
VERIFY="$HERE/verify_token.mjs"

command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"
if [[ ! -f "$HERE/node_modules/jose/package.json" ]]; then
  echo "installing jose from package-lock.json (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi
echo "jose $(node -p "require('$HERE/node_modules/jose/package.json').version"), node $(node --version)"

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

PASSED=0
ok() {
  PASSED=$((PASSED + 1))
  echo "ok   $*"
}

# The documented token block, pointed at this server.
recipe_block() {
  node -e '
    const doc = require("fs").readFileSync(process.argv[1], "utf8");
    const re = new RegExp(`<!-- BEGIN RECIPE ${process.argv[2]} -->\\s*\`\`\`[a-z]*\\n([\\s\\S]*?)\`\`\`\\s*<!-- END RECIPE`);
    const m = doc.match(re);
    if (!m) { console.error(`no recipe block ${process.argv[2]}`); process.exit(1); }
    process.stdout.write(m[1].split("https://attest.example.com").join(process.argv[3]));
  ' "$DOC" "$1" "$2"
}

free_port() {
  node -e 'const s = require("net").createServer();
           s.listen(0, "127.0.0.1", () => { process.stdout.write(String(s.address().port)); s.close(); });'
}

"$ATTESTCTL" simulate init --sim-dir "$WORK/sim" >/dev/null || die "attestctl simulate init failed"
mkdir -p "$WORK/sim/collateral"

# The issuer must be the URL the HTTP port answers on (discovery clients
# compare them), so the port is chosen first; retried if someone takes it.
started=""
for attempt in 1 2 3; do
  HTTP_PORT=$(free_port)
  BASE="http://127.0.0.1:$HTTP_PORT"
  {
    cat <<YAML
environment: development
listen: 127.0.0.1:1        # overridden below (ephemeral ports)
http_listen: 127.0.0.1:1
metrics_listen: 127.0.0.1:1
policy_file: $ROOT/deploy/policies/demo.yaml
collateral_dir: $WORK/sim/collateral
simulation:
  trust_simulation_root: true
  dir: $WORK/sim
audit_log: $WORK/audit.log
YAML
    recipe_block server-config "$BASE"
  } >"$WORK/server.yaml"
  rm -f "$WORK/ports.json"
  "$SERVER_BIN" --config "$WORK/server.yaml" --listen 127.0.0.1:0 --http-listen "127.0.0.1:$HTTP_PORT" \
    --metrics-listen=127.0.0.1:0 --port-file "$WORK/ports.json" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    [[ -s "$WORK/ports.json" ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -s "$WORK/ports.json" ]]; then
    started=1
    break
  fi
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  echo "server start attempt $attempt failed: $(tail -n 3 "$WORK/server.log")"
done
[[ -n "$started" ]] || die "server did not start: $(cat "$WORK/server.log")"
GRPC_PORT=$(node -p "JSON.parse(require('fs').readFileSync('$WORK/ports.json', 'utf8')).grpc")
SERVER="127.0.0.1:$GRPC_PORT"
echo "server: grpc $SERVER, issuer $BASE"

# attest_with NAME AUDIENCE_ARGS...: a fresh challenge and simulated node.
new_node() {
  "$ATTESTCTL" challenge --server "$SERVER" --out "$WORK/$1.challenge.json" >/dev/null ||
    die "attestctl challenge failed: $(cat "$WORK/server.log")"
  "$ATTESTCTL" simulate --challenge "$WORK/$1.challenge.json" --sim-dir "$WORK/sim" \
    --tee tdx --gpus 8 --out "$WORK/$1.bundle.json" --tee-key-out "$WORK/$1.tee.pem" >/dev/null ||
    die "attestctl simulate failed"
}
attest() {
  local name=$1
  shift
  "$ATTESTCTL" attest --server "$SERVER" --evidence "$WORK/$name.bundle.json" \
    --challenge "$WORK/$name.challenge.json" --accept warning "$@"
}

new_node vault
# Refused before the challenge is consumed: no audience, an unknown one.
rc=0
attest vault >"$WORK/out.txt" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q "rpc failed: 3 attest: audience is required" "$WORK/out.txt" ||
  die "attest without --audience: exit $rc: $(cat "$WORK/out.txt")"
ok "attest without an audience: INVALID_ARGUMENT (audiences are configured)"
rc=0
attest vault --audience kbs >"$WORK/out.txt" 2>&1 || rc=$?
[[ $rc -eq 2 ]] && grep -q "rpc failed: 3 attest: unknown audience 'kbs'" "$WORK/out.txt" ||
  die "attest --audience kbs: exit $rc: $(cat "$WORK/out.txt")"
ok "attest with an unknown audience: INVALID_ARGUMENT"
attest vault --audience vault --token-out "$WORK/vault.jwt" >"$WORK/out.txt" 2>&1 ||
  die "attest --audience vault (same challenge) failed: $(cat "$WORK/out.txt")"
ok "attest --audience vault with the same challenge: token issued"
new_node kms
attest kms --audience https://kms.example.com --token-out "$WORK/kms.jwt" >"$WORK/out.txt" 2>&1 ||
  die "attest --audience https://kms.example.com failed: $(cat "$WORK/out.txt")"
ok "attest --audience https://kms.example.com: token issued"

# jose jwtVerify with issuer and audience, keys fetched from the server.
JWKS_URL="$BASE/.well-known/jwks.json"
expect_accept() {
  local name=$1
  shift
  node "$VERIFY" "$@" >"$WORK/v.json" 2>"$WORK/v.err" ||
    die "$name: jose rejected: $(cat "$WORK/v.err")"
  ok "$name"
}
expect_reject() {
  local name=$1 pattern=$2
  shift 2
  local rc=0
  node "$VERIFY" "$@" >"$WORK/v.json" 2>"$WORK/v.err" || rc=$?
  [[ $rc -eq 1 ]] || die "$name: expected rejection (exit 1), got $rc: $(cat "$WORK/v.json")"
  grep -Eq "$pattern" "$WORK/v.err" || die "$name: expected /$pattern/, got: $(cat "$WORK/v.err")"
  ok "$name (rejected: $(head -c 100 "$WORK/v.err"))"
}
expect_accept "jose: issuer + audience vault accept the vault token" \
  --token "@$WORK/vault.jwt" --jwks-url "$JWKS_URL" --issuer "$BASE" --audience vault
expect_accept "jose: issuer + audience https://kms.example.com accept the kms token" \
  --token "@$WORK/kms.jwt" --jwks-url "$JWKS_URL" --issuer "$BASE" --audience https://kms.example.com
expect_reject "jose: the vault token for audience https://kms.example.com" \
  '^ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud"' \
  --token "@$WORK/vault.jwt" --jwks-url "$JWKS_URL" --issuer "$BASE" --audience https://kms.example.com
expect_reject "jose: the kms token for audience vault" \
  '^ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "aud"' \
  --token "@$WORK/kms.jwt" --jwks-url "$JWKS_URL" --issuer "$BASE" --audience vault
expect_reject "jose: another issuer" \
  '^ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "iss"' \
  --token "@$WORK/vault.jwt" --jwks-url "$JWKS_URL" --issuer https://attest.example.com --audience vault
expect_reject "jose: the default issuer name" \
  '^ERR_JWT_CLAIM_VALIDATION_FAILED: unexpected "iss"' \
  --token "@$WORK/vault.jwt" --jwks-url "$JWKS_URL" --issuer attestation-rp --audience vault
# Our own verifier agrees (attestctl token verify).
"$ATTESTCTL" token verify "@$WORK/vault.jwt" --jwks "$JWKS_URL" --issuer "$BASE" \
  --audience vault --accept warning >/dev/null || die "attestctl token verify rejected the vault token"
if "$ATTESTCTL" token verify "@$WORK/vault.jwt" --jwks "$JWKS_URL" --issuer "$BASE" \
  --audience https://kms.example.com --accept warning >/dev/null 2>&1; then
  die "attestctl token verify accepted the vault token for another audience"
fi
ok "attestctl token verify: same answers"

echo "PASS: $PASSED server and jose checks"
node "$HERE/check_key_release_recipes.mjs" --doc "$DOC" --base "$BASE" \
  --vault-token "$WORK/vault.jwt" --kms-token "$WORK/kms.jwt" --tee-key "$WORK/vault.tee.pem" \
  --work "$WORK"
