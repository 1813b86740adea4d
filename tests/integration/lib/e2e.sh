# Shared pieces of the end-to-end scripts (sourced after `set -euo pipefail`):
#   e2e_init NAME "$@"   checks the arguments (SERVER_BINARY ATTESTCTL), sets
#                        SRV, CTL, ROOT and WORK (a fresh /tmp/rp_NAME.XXXXXX,
#                        kept when KEEP is set), and cleans up on exit;
#   e2e_bg CMD...        starts CMD in the background, stopped at exit;
#   e2e_start_server CONFIG   starts SRV on CONFIG (ports 0, --port-file) and
#                        waits for /readyz; sets SRV_PID, GRPC, HTTP, METRICS;
#   e2e_stop_server      SIGTERM, waits, returns its exit status;
#   port NAME            a port from the server's port file (grpc, http,
#                        metrics, admission);
#   die MESSAGE          prints FAIL: MESSAGE and exits 1.
die() {
  echo "FAIL: $*" >&2
  exit 1
}

e2e_init() {
  local name=$1
  shift
  [[ $# -eq 2 ]] || die "usage: $0 SERVER_BINARY ATTESTCTL"
  SRV=$1
  CTL=$2
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
  WORK=$(mktemp -d "/tmp/rp_${name}.XXXXXX")
  SRV_PID=""
  E2E_PIDS=()
  trap e2e_cleanup EXIT
}

e2e_cleanup() {
  local p
  [[ -n "${SRV_PID:-}" ]] && E2E_PIDS+=("$SRV_PID")
  for p in "${E2E_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP:-}" ]] || rm -rf "$WORK"
}

e2e_bg() {
  "$@" &
  E2E_PIDS+=($!)
}

port() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$WORK/ports.json"; }

e2e_start_server() {
  local config=$1
  rm -f "$WORK/ports.json"
  "$SRV" --config "$config" --port-file "$WORK/ports.json" >"$WORK/server.log" 2>&1 &
  SRV_PID=$!
  for _ in $(seq 1 150); do [[ -s "$WORK/ports.json" ]] && break; sleep 0.1; done
  [[ -s "$WORK/ports.json" ]] || { cat "$WORK/server.log"; die "server did not start"; }
  GRPC=127.0.0.1:$(port grpc)
  HTTP=http://127.0.0.1:$(port http)
  METRICS=http://127.0.0.1:$(port metrics)
  for _ in $(seq 1 100); do curl -fs "$HTTP/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "$HTTP/readyz" >/dev/null 2>&1 || { cat "$WORK/server.log"; die "server not ready"; }
}

e2e_stop_server() {
  local rc=0
  kill -TERM "$SRV_PID"
  wait "$SRV_PID" || rc=$?
  SRV_PID=""
  return "$rc"
}
