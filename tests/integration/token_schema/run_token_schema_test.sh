#!/usr/bin/env bash
# Validates attestation token payloads against docs/schemas/ear-token.schema.json
# with an independent JSON Schema implementation (npm `ajv` + `ajv-formats`,
# versions pinned in package.json/package-lock.json).
#
#   run_token_schema_test.sh [TOKEN_OR_PAYLOAD_FILE...]
#
# Always validates the example token in docs/token.md and checks that the
# schema rejects one-change mutations of it; then every file given (a compact
# JWT, whose header and payload are checked but not its signature, or a JSON
# payload). Registered in CTest as token_schema_test
# (tests/integration/token_schema/CMakeLists.txt).
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for f in "$@"; do
  [[ -r "$f" ]] || die "cannot read $f"
done

command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"

# Dependencies exactly as locked; only when missing.
if [[ ! -f "$HERE/node_modules/ajv/package.json" || ! -f "$HERE/node_modules/ajv-formats/package.json" ]]; then
  echo "installing ajv from package-lock.json (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi
echo "ajv $(node -p "require('$HERE/node_modules/ajv/package.json').version")," \
  "ajv-formats $(node -p "require('$HERE/node_modules/ajv-formats/package.json').version")," \
  "node $(node --version)"

node "$HERE/validate_token_schema.mjs" "$@"
