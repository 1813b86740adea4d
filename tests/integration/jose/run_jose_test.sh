#!/usr/bin/env bash
# Cross-checks our JWS/JWT output with an independent JOSE implementation
# (the npm `jose` package, version pinned in package.json/package-lock.json).
#
#   run_jose_test.sh /path/to/token_tool
#
# Passes only if jose ACCEPTS tokens issued by token_tool (ES256 and ES384,
# JWKS from a file and over HTTP) and REJECTS, for the expected reason, a
# token with one payload byte flipped, an expired one, one checked against
# the wrong JWKS and an unsigned ("alg":"none") one.
# Registered in CTest as jose_verifies_token (server/token/CMakeLists.txt).
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 /path/to/token_tool"
TOKEN_TOOL=$1
[[ -x "$TOKEN_TOOL" ]] || die "token_tool not executable: $TOKEN_TOOL"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VERIFY="$HERE/verify_token.mjs"

command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"

# (a) Dependencies exactly as locked; only when missing.
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
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0

# expect_accept NAME ARGS...: jose must verify; prints nothing else on success.
expect_accept() {
  local name=$1
  shift
  if ! node "$VERIFY" "$@" >"$WORK/out.json" 2>"$WORK/err.txt"; then
    die "$name: jose rejected a valid token: $(cat "$WORK/err.txt")"
  fi
  PASSED=$((PASSED + 1))
  echo "ok   $name"
}

# expect_reject NAME CODE ARGS...: jose must refuse with error CODE.
expect_reject() {
  local name=$1 code=$2
  shift 2
  local rc=0
  node "$VERIFY" "$@" >"$WORK/out.json" 2>"$WORK/err.txt" || rc=$?
  [[ $rc -eq 1 ]] || die "$name: expected rejection (exit 1), got exit $rc: $(cat "$WORK/out.json" "$WORK/err.txt")"
  grep -q "^$code" "$WORK/err.txt" || die "$name: expected $code, got: $(cat "$WORK/err.txt")"
  PASSED=$((PASSED + 1))
  echo "ok   $name (rejected: $(head -c 120 "$WORK/err.txt"))"
}

# json_field FILE EXPR: evaluates EXPR on the parsed JSON document `d`.
json_field() {
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           process.stdout.write(String(eval(process.argv[2])));' "$1" "$2"
}

for alg in ES256 ES384; do
  T="$WORK/$alg.jwt"
  J="$WORK/$alg.jwks.json"
  "$TOKEN_TOOL" issue --alg "$alg" --out-token "$T" --out-jwks "$J" ||
    die "token_tool issue --alg $alg failed"

  expect_accept "$alg: jose verifies token_tool's token" \
    --token "@$T" --jwks-file "$J" --issuer attestation-rp
  [[ $(json_field "$WORK/out.json" 'd.protectedHeader.alg') == "$alg" ]] ||
    die "$alg: header alg is $(json_field "$WORK/out.json" 'd.protectedHeader.alg')"
  [[ "$(json_field "$WORK/out.json" 'd.protectedHeader.kid')" == \
     "$(json_field "$J" 'd.keys[0].kid')" ]] || die "$alg: kid differs from the JWKS"
  [[ $(json_field "$WORK/out.json" 'd.payload.submods.cpu0["ear.status"]') == affirming ]] ||
    die "$alg: payload claims not as issued"
  [[ $(json_field "$WORK/out.json" 'd.payload["x-test-note"] === "Gr\u00fc\u00dfe \u2713"') == true ]] ||
    die "$alg: UTF-8 claim differs: $(json_field "$WORK/out.json" 'escape(d.payload["x-test-note"])')"
  # jose computes the RFC 7638 thumbprint itself; our kid must equal it.
  KID_JOSE=$(cd "$HERE" && node --input-type=module -e '
    import { calculateJwkThumbprint } from "jose";
    import { readFileSync } from "node:fs";
    const k = JSON.parse(readFileSync(process.argv[1], "utf8")).keys[0];
    process.stdout.write(await calculateJwkThumbprint(k, "sha256"));' "$J")
  [[ "$KID_JOSE" == "$(json_field "$J" 'd.keys[0].kid')" ]] ||
    die "$alg: kid is not jose's RFC 7638 thumbprint ($KID_JOSE)"
  echo "ok   $alg: kid equals jose's RFC 7638 thumbprint"
  PASSED=$((PASSED + 1))

  # One payload byte flipped (inside a claim value, so the JSON stays valid
  # and only the signature can catch it).
  node -e '
    const fs = require("fs");
    const [h, p, s] = fs.readFileSync(process.argv[1], "utf8").trim().split(".");
    const bytes = Buffer.from(p, "base64url");
    const at = bytes.indexOf("affirming");
    if (at < 0) throw new Error("claim to tamper with not found");
    bytes[at] ^= 0x01;
    fs.writeFileSync(process.argv[2], [h, bytes.toString("base64url"), s].join("."));' \
    "$T" "$WORK/tampered.jwt"
  expect_reject "$alg: payload byte flipped" ERR_JWS_SIGNATURE_VERIFICATION_FAILED \
    --token "@$WORK/tampered.jwt" --jwks-file "$J"
  # Our own verifier agrees on both.
  "$TOKEN_TOOL" verify --token "$T" --jwks "$J" >/dev/null ||
    die "$alg: token_tool verify rejected the valid token"
  if "$TOKEN_TOOL" verify --token "$WORK/tampered.jwt" --jwks "$J" >/dev/null 2>&1; then
    die "$alg: token_tool verify accepted the tampered token"
  fi

  expect_reject "$alg: expired" ERR_JWT_EXPIRED \
    --token "@$T" --jwks-file "$J" --current-date 2100-01-01T00:00:00Z
done

# Checked against another key set: no key with that kid.
expect_reject "ES256 token against the ES384 JWKS" ERR_JWKS_NO_MATCHING_KEY \
  --token "@$WORK/ES256.jwt" --jwks-file "$WORK/ES384.jwks.json"

# "alg":"none" with the original payload and no signature.
node -e '
  const fs = require("fs");
  const [, p] = fs.readFileSync(process.argv[1], "utf8").trim().split(".");
  const h = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
  fs.writeFileSync(process.argv[2], `${h}.${p}.`);' "$WORK/ES256.jwt" "$WORK/none.jwt"
expect_reject "alg none" ERR_JOSE_ALG_NOT_ALLOWED \
  --token "@$WORK/none.jwt" --jwks-file "$WORK/ES256.jwks.json"

# JWKS over HTTP (createRemoteJWKSet), served by a throwaway local server.
node -e '
  const fs = require("fs");
  const body = fs.readFileSync(process.argv[1]);
  const server = require("http").createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(body);
  });
  server.listen(0, "127.0.0.1", () => fs.writeFileSync(process.argv[2], String(server.address().port)));
' "$WORK/ES384.jwks.json" "$WORK/port" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  [[ -s "$WORK/port" ]] && break
  sleep 0.1
done
[[ -s "$WORK/port" ]] || die "local JWKS server did not start"
expect_accept "ES384: jose verifies with the JWKS fetched over HTTP" \
  --token "@$WORK/ES384.jwt" --jwks-url "http://127.0.0.1:$(cat "$WORK/port")/.well-known/jwks.json"

echo "PASS: $PASSED jose checks"
