#!/usr/bin/env bash
# Second opinion on the real TDX vectors: runs the npm @phala/dcap-qvl
# verifier (version pinned in package.json / package-lock.json) on
# tests/data/tdx at the PROVENANCE.md times and checks that it still says
# what expected.json records next to our own verdicts (which
# verifier/tdx/verifier_golden_test.cc pins). A change in either side shows
# up as a failure here or there.
#
#   run_dcap_qvl_test.sh [path/to/tests/data/tdx]
#
# Not registered in CTest yet (tests/integration/CMakeLists.txt is the
# lead's); needs node >= 20 and, the first time, npm registry access.
set -euo pipefail

die() {
  echo "FAIL: $*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DATA=${1:-"$HERE/../../data/tdx"}
command -v node >/dev/null || die "node is not installed (Node.js >= 20 required)"
command -v npm >/dev/null || die "npm is not installed"
if [[ ! -f "$HERE/node_modules/@phala/dcap-qvl/package.json" ]]; then
  echo "installing @phala/dcap-qvl from package-lock.json (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || die "npm ci failed"
fi

OUT=$(node "$HERE/crosscheck.mjs" "$DATA") || die "crosscheck.mjs failed"
echo "$OUT"
node - "$HERE/expected.json" <<JS || die "dcap-qvl disagrees with expected.json"
const fs = require('fs');
const expected = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const lines = \`$OUT\`.trim().split('\n').map((l) => JSON.parse(l));
let bad = 0;
for (const got of lines) {
  const want = expected[got.folder] && expected[got.folder].dcap_qvl;
  const g = { ...got };
  delete g.folder;
  if (JSON.stringify(g) !== JSON.stringify(want)) {
    console.error('mismatch', got.folder, 'got', JSON.stringify(g), 'want', JSON.stringify(want));
    bad++;
  }
}
if (lines.length !== Object.keys(expected).filter((k) => !k.startsWith('_')).length) bad++;
process.exit(bad ? 1 : 0);
JS
echo "PASS: @phala/dcap-qvl agrees with expected.json on $(echo "$OUT" | wc -l) vectors"
