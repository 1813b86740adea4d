#!/usr/bin/env bash
# Cross-checks our JWE (release/jwe.h, key release responses) with an
# independent JOSE implementation: the npm `jose` package, version pinned in
# package.json/package-lock.json (the same node_modules as run_jose_test.sh).
#
#   run_jwe_interop_test.sh /path/to/jwe_tool
#
# For TEE keys made by jose (P-256, P-384, P-521, RSA-3072):
#   - jose compactDecrypt / flattenedDecrypt, given the private key as a JWK,
#     decrypt jwe_tool's JWEs to the exact secret, with kid = jose's RFC 7638
#     thumbprint and the ear_jti/resource members in the protected header;
#   - jose rejects our JWE with one ciphertext byte flipped;
#   - our decrypt accepts jose's ECDH-ES+A256KW / RSA-OAEP-256 + A256GCM JWEs
#     (private key as PKCS#8 PEM exported by jose) and refuses jose's
#     RSA-OAEP (SHA-1), ECDH-ES (direct) and A128GCM ones.
# Loopback/offline: no server, files in a temporary directory.
# Registered in CTest as jose_decrypts_jwe (tests/integration/jose/CMakeLists.txt).
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

[[ $# -eq 1 ]] || die "usage: $0 /path/to/jwe_tool"
JWE_TOOL=$1
[[ -x "$JWE_TOOL" ]] || die "jwe_tool not executable: $JWE_TOOL"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JS="$HERE/jwe_interop.mjs"

command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"

if [[ ! -f "$HERE/node_modules/jose/package.json" ]]; then
  echo "installing jose from package-lock.json (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi
echo "jose $(node -p "require('$HERE/node_modules/jose/package.json').version"), node $(node --version)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PASSED=0
ok() {
  PASSED=$((PASSED + 1))
  echo "ok   $*"
}

json_field() {
  node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
           process.stdout.write(String(eval(process.argv[2])));' "$1" "$2"
}

# A secret with bytes that are not text (NUL, 0xff) and some length.
head -c 100 /dev/urandom >"$WORK/secret.bin"
printf '\x00\xff model key \xe2\x9c\x93' >>"$WORK/secret.bin"
SECRET_HEX=$(od -An -tx1 -v "$WORK/secret.bin" | tr -d ' \n')

for spec in "ECDH-ES+A256KW P-256" "ECDH-ES+A256KW P-384" "ECDH-ES+A256KW P-521" \
            "RSA-OAEP-256 3072"; do
  read -r ALG PARAM <<<"$spec"
  NAME="$ALG/$PARAM"
  K="$WORK/$(echo "$PARAM" | tr -d -)"
  if [[ $ALG == RSA-OAEP-256 ]]; then
    node "$JS" genkey --alg "$ALG" --modulus "$PARAM" \
      --out-public-jwk "$K.pub.jwk" --out-private-jwk "$K.priv.jwk" --out-pkcs8 "$K.pem"
  else
    node "$JS" genkey --alg "$ALG" --crv "$PARAM" \
      --out-public-jwk "$K.pub.jwk" --out-private-jwk "$K.priv.jwk" --out-pkcs8 "$K.pem"
  fi
  KID=$(node "$JS" thumbprint --jwk "$K.pub.jwk")

  # (1) Ours -> jose, compact and flattened.
  for form in compact flattened; do
    FLAG=()
    [[ $form == flattened ]] && FLAG=(--flattened)
    "$JWE_TOOL" encrypt --jwk "$K.pub.jwk" --in "$WORK/secret.bin" --out "$K.$form.jwe" \
      --member ear_jti=jti-42 --member resource=default/model/key1 "${FLAG[@]}" ||
      die "$NAME: jwe_tool encrypt ($form) failed"
    node "$JS" decrypt --jwe "$K.$form.jwe" --private-jwk "$K.priv.jwk" "${FLAG[@]}" \
      >"$WORK/out.json" 2>"$WORK/err.txt" ||
      die "$NAME: jose rejected our $form JWE: $(cat "$WORK/err.txt")"
    [[ $(json_field "$WORK/out.json" d.plaintextHex) == "$SECRET_HEX" ]] ||
      die "$NAME: jose decrypted other bytes ($form)"
    [[ $(json_field "$WORK/out.json" d.protectedHeader.alg) == "$ALG" ]] ||
      die "$NAME: alg is $(json_field "$WORK/out.json" d.protectedHeader.alg)"
    [[ $(json_field "$WORK/out.json" d.protectedHeader.enc) == A256GCM ]] || die "$NAME: enc"
    [[ $(json_field "$WORK/out.json" d.protectedHeader.kid) == "$KID" ]] ||
      die "$NAME: kid is not jose's RFC 7638 thumbprint $KID"
    [[ $(json_field "$WORK/out.json" d.protectedHeader.ear_jti) == jti-42 ]] || die "$NAME: ear_jti"
    [[ $(json_field "$WORK/out.json" d.protectedHeader.resource) == default/model/key1 ]] ||
      die "$NAME: resource"
    ok "$NAME: jose decrypts our $form JWE to the exact secret (kid, ear_jti, resource bound)"
  done

  # (2) One ciphertext byte flipped: jose must refuse.
  node -e '
    const fs = require("fs");
    const p = fs.readFileSync(process.argv[1], "utf8").trim().split(".");
    const c = Buffer.from(p[3], "base64url");
    c[c.length >> 1] ^= 1;
    p[3] = c.toString("base64url");
    fs.writeFileSync(process.argv[2], p.join("."));' "$K.compact.jwe" "$WORK/tampered.jwe"
  if node "$JS" decrypt --jwe "$WORK/tampered.jwe" --private-jwk "$K.priv.jwk" \
    >/dev/null 2>"$WORK/err.txt"; then
    die "$NAME: jose accepted a tampered JWE"
  fi
  grep -q '^ERR_JWE_DECRYPTION_FAILED' "$WORK/err.txt" ||
    die "$NAME: unexpected jose error: $(cat "$WORK/err.txt")"
  ok "$NAME: jose refuses our JWE with a ciphertext byte flipped"

  # (3) jose -> ours, compact and flattened, with the allowed algorithms.
  for form in compact flattened; do
    FLAG=()
    [[ $form == flattened ]] && FLAG=(--flattened)
    node "$JS" encrypt --public-jwk "$K.pub.jwk" --in "$WORK/secret.bin" \
      --out "$K.jose.$form.jwe" --alg "$ALG" --enc A256GCM --kid="$KID" \
      --header-json '{"resource":"default/model/key1"}' "${FLAG[@]}" ||
      die "$NAME: jose encrypt failed"
    "$JWE_TOOL" decrypt --key "$K.pem" --in "$K.jose.$form.jwe" --out "$WORK/dec.bin" \
      --expect-member resource=default/model/key1 >/dev/null 2>"$WORK/err.txt" ||
      die "$NAME: our decrypt rejected jose's $form JWE: $(cat "$WORK/err.txt")"
    cmp -s "$WORK/dec.bin" "$WORK/secret.bin" || die "$NAME: our decrypt gave other bytes"
    ok "$NAME: we decrypt jose's $form JWE to the exact secret"
  done
done

# (4) jose JWEs we must refuse even though they are well formed.
expect_refused() {
  local name=$1 key=$2 pattern=$3
  if "$JWE_TOOL" decrypt --key "$key" --in "$WORK/refuse.jwe" --out "$WORK/dec.bin" \
    --no-require-kid >/dev/null 2>"$WORK/err.txt"; then
    die "$name: our decrypt accepted it"
  fi
  grep -q -- "$pattern" "$WORK/err.txt" || die "$name: unexpected error: $(cat "$WORK/err.txt")"
  ok "$name: refused ($(head -c 100 "$WORK/err.txt"))"
}
node "$JS" encrypt --public-jwk "$WORK/3072.pub.jwk" --in "$WORK/secret.bin" \
  --out "$WORK/refuse.jwe" --alg RSA-OAEP --enc A256GCM
expect_refused "jose RSA-OAEP (SHA-1)" "$WORK/3072.pem" 'alg "RSA-OAEP" is refused'
node "$JS" encrypt --public-jwk "$WORK/P256.pub.jwk" --in "$WORK/secret.bin" \
  --out "$WORK/refuse.jwe" --alg ECDH-ES --enc A256GCM
expect_refused "jose ECDH-ES (direct)" "$WORK/P256.pem" 'alg "ECDH-ES" is refused'
node "$JS" encrypt --public-jwk "$WORK/P256.pub.jwk" --in "$WORK/secret.bin" \
  --out "$WORK/refuse.jwe" --alg ECDH-ES+A256KW --enc A128GCM
expect_refused "jose A128GCM" "$WORK/P256.pem" 'enc "A128GCM" is refused'
node "$JS" encrypt --public-jwk "$WORK/P256.pub.jwk" --in "$WORK/secret.bin" \
  --out "$WORK/refuse.jwe" --alg ECDH-ES+A256KW --enc A256CBC-HS512
expect_refused "jose A256CBC-HS512" "$WORK/P256.pem" 'enc "A256CBC-HS512" is refused'

# (5) Our encryptor refuses a JWK that asks for RSA1_5.
node -e '
  const fs = require("fs");
  const k = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  k.alg = "RSA1_5";
  fs.writeFileSync(process.argv[2], JSON.stringify(k));' "$WORK/3072.pub.jwk" "$WORK/rsa15.jwk"
if "$JWE_TOOL" encrypt --jwk "$WORK/rsa15.jwk" --in "$WORK/secret.bin" --out "$WORK/x.jwe" \
  2>"$WORK/err.txt"; then
  die "jwe_tool encrypted to an RSA1_5 JWK"
fi
grep -q 'RSA1_5' "$WORK/err.txt" || die "RSA1_5 JWK: unexpected error: $(cat "$WORK/err.txt")"
ok "our encrypt refuses a JWK with alg RSA1_5"

echo "PASS: $PASSED jose JWE checks"
