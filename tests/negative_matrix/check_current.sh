#!/usr/bin/env bash
# Fails when the negative matrix in docs/testing.md (between the
# negative-matrix markers) differs from what negative_matrix.mjs prints now.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
want=$(node "$HERE/negative_matrix.mjs" "$ROOT")
have=$(sed -n '/<!-- negative-matrix:begin -->/,/<!-- negative-matrix:end -->/p' "$ROOT/docs/testing.md" |
  sed '1d;$d')
if [[ "$want" != "$have" ]]; then
  echo "FAIL: docs/testing.md's negative matrix is stale; regenerate it with" >&2
  echo "  node tests/negative_matrix/negative_matrix.mjs   (and paste between the markers)" >&2
  diff <(echo "$have") <(echo "$want") >&2 || true
  exit 1
fi
echo "ok: negative matrix in docs/testing.md is current"
