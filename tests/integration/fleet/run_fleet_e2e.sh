#!/usr/bin/env bash
# Fleet node registry end to end (issue 13), real processes on loopback:
# attestation-server (development config, demo policy, simulation root
# trusted, fleet freshness 10 s) and attestctl as two nodes' agents.
#
#   gpu-node-1: simulated TDX + 8 GPUs, attest-v2 with runtime claim
#               node=gpu-node-1                      -> record, verdict warning
#   gpu-node-2: simulated SEV-SNP with DEBUG on, node=gpu-node-2
#                                                    -> record, contraindicated
#   a node attesting with attest-v1 (no runtime claims) -> no record
# then `attestctl fleet ls|show`, GET /v1/nodes, the gauges
# rp_fleet_nodes{verdict} and rp_fleet_stale_nodes, and, after the
# freshness window, both records stale.
#
#   run_fleet_e2e.sh SERVER_BINARY ATTESTCTL
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/e2e.sh"
e2e_init fleet_e2e "$@"
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null

cat >"$WORK/server.yaml" <<CFG
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
token: {algorithm: ES256, issuer: rp-fleet-e2e}
collateral_dir: $SIM/collateral
policy_file: $ROOT/deploy/policies/demo.yaml
simulation: {trust_simulation_root: true, dir: $SIM}
fleet: {freshness_seconds: 10, sync_interval_ms: 200}
CFG
e2e_start_server "$WORK/server.yaml"
grep -q "fleet=memory" "$WORK/server.log" || { cat "$WORK/server.log"; die "no fleet registry"; }

# attest NAME SIMULATE-ARGS...: challenge -> simulate -> attest (any verdict).
attest() {
  local name=$1
  shift
  "$CTL" challenge --server "$GRPC" --out "$WORK/$name.challenge.json" >/dev/null
  "$CTL" simulate --challenge "$WORK/$name.challenge.json" --sim-dir "$SIM" \
    --out "$WORK/$name.bundle.json" "$@" >/dev/null
  "$CTL" attest --server "$GRPC" --evidence "$WORK/$name.bundle.json" \
    --challenge "$WORK/$name.challenge.json" --json >"$WORK/$name.result.json" || true
}
attest n1 --tee tdx --gpus 8 --runtime-claims '{"node":"gpu-node-1","workload":"llm"}'
attest n2 --tee snp --debug --runtime-claims '{"node":"gpu-node-2"}'
attest n3 --tee snp
grep -q '"runtime_claims"' "$WORK/n1.result.json" || die "n1: no runtime_claims in the result"

"$CTL" fleet ls --http "$HTTP" >"$WORK/ls.txt" || die "fleet ls failed"
cat "$WORK/ls.txt"
grep -Eq '^gpu-node-1 +warning +fresh .* tdx .* 8 +550\.90\.07 +demo@1$' "$WORK/ls.txt" ||
  die "fleet ls: gpu-node-1 row"
grep -Eq '^gpu-node-2 +contraindicated +fresh .* sev-snp ' "$WORK/ls.txt" || die "fleet ls: gpu-node-2 row"
grep -q "^2 node(s), freshness window 10 s$" "$WORK/ls.txt" || die "fleet ls: count"
echo "ok: fleet ls lists the two nodes that bound a node name (not the attest-v1 one)"

"$CTL" fleet show gpu-node-1 --http "$HTTP" >"$WORK/show.json" || die "fleet show failed"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const want = (c, m) => { if (!c) { console.error("FAIL: fleet show: " + m); process.exit(1); } };
  want(r.node === "gpu-node-1" && r.state === "fresh", "node/state");
  want(r.gpus === 8 && r.tee === "tdx" && r.tcb_status === "UpToDate", "gpus/tee/tcb");
  want(r.claims.runtime_claims.workload === "llm", "claims.runtime_claims");
  want(r.claims.jti === r.token.jti && r.claims.binding === "attest-v2", "jti/binding");
  want(Object.keys(r.claims.submods).length === 9, "submods");
' "$WORK/show.json" || die "fleet show content"
echo "ok: fleet show gpu-node-1: the record carries the token claims as signed"
set +e
"$CTL" fleet show gpu-node-3 --http "$HTTP" >/dev/null 2>"$WORK/show3.err"
rc=$?
set -e
[[ $rc -eq 1 ]] && grep -q NODE_NOT_FOUND "$WORK/show3.err" || die "fleet show unknown node: rc $rc"
echo "ok: fleet show of an unknown node exits 1 (NODE_NOT_FOUND)"

sleep 0.5  # one sync-loop round for the gauges
curl -fs "$METRICS/metrics" >"$WORK/metrics.txt"
grep -q '^rp_fleet_nodes{verdict="warning"} 1' "$WORK/metrics.txt" || die "gauge warning"
grep -q '^rp_fleet_nodes{verdict="contraindicated"} 1' "$WORK/metrics.txt" || die "gauge contraindicated"
grep -q '^rp_fleet_nodes{verdict="affirming"} 0' "$WORK/metrics.txt" || die "gauge affirming"
grep -q '^rp_fleet_stale_nodes 0' "$WORK/metrics.txt" || die "stale gauge before the window"
echo "ok: rp_fleet_nodes{verdict} = warning 1, contraindicated 1; rp_fleet_stale_nodes 0"

# Past the 10 s freshness window (wide enough for the checks above on a
# loaded 2-core machine): the gauge turns to 2 within a sync round.
for _ in $(seq 1 150); do
  curl -fs "$METRICS/metrics" >"$WORK/metrics2.txt"
  grep -q '^rp_fleet_stale_nodes 2' "$WORK/metrics2.txt" && break
  sleep 0.1
done
grep -q '^rp_fleet_stale_nodes 2' "$WORK/metrics2.txt" || die "stale gauge after the window"
fleet=$("$CTL" fleet ls --http "$HTTP") || die "fleet ls failed"
grep -Eq '^gpu-node-1 +warning +stale ' <<<"$fleet" || die "gpu-node-1 not stale: $fleet"
echo "ok: after the freshness window both records are stale (rp_fleet_stale_nodes 2)"
echo "PASS: fleet e2e"
