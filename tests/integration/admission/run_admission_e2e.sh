#!/usr/bin/env bash
# Kubernetes admission end to end (issue 13), real processes on loopback:
# attestation-server with the admission webhook on its own HTTPS port
# (serving certificate from deploy/k8s/webhook/make-serving-cert.sh for
# attestation-rp-webhook.attestation-rp.svc), the demo policy plus the test
# initdata digest as tdx.mrconfigid, fleet freshness 10 s; curl as the API
# server (POST /k8s/validate?timeout=5s, --cacert = the caBundle CA, the
# service name resolved to 127.0.0.1 so the SAN is checked); attestctl as the
# node agent.
#
#   before any attestation: binding to gpu-node-1 denied (NODE_NOT_ATTESTED)
#   simulated TDX + 8 GPU node attests with runtime claim node=gpu-node-1
#   -> binding to gpu-node-1 allowed, to gpu-node-2 denied;
#      pod CREATE (runtime class, initdata, pinned images, nodeName) allowed,
#      an unpinned image denied
#   after the 10 s freshness window -> binding to gpu-node-1 denied
#      (NODE_ATTESTATION_STALE); re-attesting admits it again
#
#   run_admission_e2e.sh SERVER_BINARY ATTESTCTL
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/../lib/e2e.sh"
e2e_init admission_e2e "$@"
FIX="$ROOT/admission/testdata"
SVC=attestation-rp-webhook.attestation-rp.svc
SIM="$WORK/sim"
"$CTL" simulate init --sim-dir "$SIM" >/dev/null
"$ROOT/deploy/k8s/webhook/make-serving-cert.sh" "$WORK/overlay" >/dev/null

# The demo policy with a TDX MRCONFIGID allowlist: the fixtures' initdata
# digest (admission/testdata/make_fixtures.py prints it) for pods, and the
# simulated node's own MRCONFIGID (zeros) for the node attestation, which is
# appraised under the same policy.
MRCONFIGID=056ac2feddb7929e0b806e5555851868f701e37efb6e8f41b0603b16511638979fe7236cc2648cc745f2dfb5ab221e80
ZEROS=$(printf '0%.0s' $(seq 1 96))
sed "s/^tdx:$/tdx:\n  mrconfigid: [$MRCONFIGID, $ZEROS]/" "$ROOT/deploy/policies/demo.yaml" >"$WORK/demo.yaml"
grep -q "mrconfigid: \[$MRCONFIGID, $ZEROS\]" "$WORK/demo.yaml" || die "policy edit failed"

cat >"$WORK/server.yaml" <<CFG
environment: development
listen: 127.0.0.1:0
http_listen: 127.0.0.1:0
metrics_listen: 127.0.0.1:0
token: {algorithm: ES256, issuer: rp-admission-e2e}
collateral_dir: $SIM/collateral
policy_file: $WORK/demo.yaml
simulation: {trust_simulation_root: true, dir: $SIM}
fleet: {freshness_seconds: 10, sync_interval_ms: 200}
admission:
  listen: 127.0.0.1:0
  tls: {cert_file: $WORK/overlay/tls.crt, key_file: $WORK/overlay/tls.key}
  policy: demo
  runtime_classes: [kata-qemu-nvidia-gpu-tdx, kata-qemu-tdx]
CFG
e2e_start_server "$WORK/server.yaml"
ADM=$(port admission)
[[ -n "$ADM" && "$ADM" != 0 ]] || { cat "$WORK/server.log"; die "no admission port"; }

# review FIXTURE: POST it as the API server would; prints "allowed code reason".
review() {
  local out="$WORK/review.json" http
  http=$(curl -sS --cacert "$WORK/overlay/ca.crt" --resolve "$SVC:$ADM:127.0.0.1" \
    -H 'Content-Type: application/json' --data-binary "@$FIX/$1.json" \
    -o "$out" -w '%{http_code}' "https://$SVC:$ADM/k8s/validate?timeout=5s") ||
    die "$1: HTTPS call failed"
  [[ $http == 200 ]] || die "$1: HTTP $http: $(cat "$out")"
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const q = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
    if (r.response.uid !== q.request.uid) { console.error("uid not echoed"); process.exit(3); }
    for (const w of r.response.warnings ?? []) if ([...w].length > 120) process.exit(4);
    const s = r.response.status ?? {};
    console.log(`${r.response.allowed} ${s.code ?? "-"} ${s.reason ?? "-"}`);' "$out" "$FIX/$1.json" ||
    die "$1: bad AdmissionReview response: $(cat "$out")"
}
expect() {
  local fixture=$1 want=$2 got
  got=$(review "$fixture")
  [[ $got == "$want" ]] || die "$fixture: got '$got', want '$want'"
  echo "ok: $fixture -> $got"
}

expect binding_attested "false 403 NODE_NOT_ATTESTED"

# The node agent: challenge -> simulate (TDX + 8 GPUs, node=gpu-node-1) -> attest.
attest_node() {
  "$CTL" challenge --server "$GRPC" --out "$WORK/n.challenge.json" >/dev/null
  "$CTL" simulate --challenge "$WORK/n.challenge.json" --sim-dir "$SIM" --tee tdx --gpus 8 \
    --runtime-claims '{"node":"gpu-node-1"}' --out "$WORK/n.bundle.json" >/dev/null
  "$CTL" attest --server "$GRPC" --evidence "$WORK/n.bundle.json" \
    --challenge "$WORK/n.challenge.json" --accept warning --json >"$WORK/n.result.json" ||
    die "attest not accepted: $(grep -o '"reasons": \[[^]]*\]' "$WORK/n.result.json" | tr -d '\n ')"
}
attest_node
echo "ok: gpu-node-1 attested (TDX + 8 GPUs, attest-v2, node=gpu-node-1)"

expect binding_attested "true - -"
expect binding_dry_run_attested "true - -"
expect binding_unknown "false 403 NODE_NOT_ATTESTED"
expect pod_create_allowed_tdx "true - -"
expect pod_create_node_name_attested "true - -"
expect pod_create_node_name_unknown "false 403 NODE_NOT_ATTESTED"
expect pod_create_image_not_pinned "false 403 IMAGE_NOT_PINNED"
expect pod_create_runtime_class_runc "false 403 RUNTIME_CLASS_NOT_ALLOWED"
expect pod_create_initdata_not_allowed "false 403 INITDATA_NOT_ALLOWED"
expect pod_update_ignored "true - -"
# (Captured first: `cmd | grep -q` can fail on SIGPIPE under pipefail.)
fleet=$("$CTL" fleet ls --http "$HTTP") || die "fleet ls failed"
grep -Eq '^gpu-node-1 +warning +fresh ' <<<"$fleet" || die "fleet ls: $fleet"

# A bundle whose node claim was changed after the report was made binds
# nothing and records nothing.
"$CTL" challenge --server "$GRPC" --out "$WORK/t.challenge.json" >/dev/null
"$CTL" simulate --challenge "$WORK/t.challenge.json" --sim-dir "$SIM" --tee tdx --gpus 8 \
  --runtime-claims '{"node":"gpu-node-1"}' --out "$WORK/t.bundle.json" >/dev/null
sed -i 's/"gpu-node-1"/"gpu-node-2"/' "$WORK/t.bundle.json"
"$CTL" attest --server "$GRPC" --evidence "$WORK/t.bundle.json" --challenge "$WORK/t.challenge.json" \
  --json >"$WORK/t.result.json" 2>/dev/null && die "tampered bundle accepted"
grep -q BINDING_MISMATCH "$WORK/t.result.json" || die "tampered bundle: no BINDING_MISMATCH"
expect binding_unknown "false 403 NODE_NOT_ATTESTED"

# Past the freshness window (10 s: wide enough for the checks above on a
# loaded 2-core machine): wait until the registry says stale.
for _ in $(seq 1 150); do
  fleet=$("$CTL" fleet ls --http "$HTTP") || die "fleet ls failed"
  grep -Eq '^gpu-node-1 +warning +stale ' <<<"$fleet" && break
  sleep 0.1
done
grep -Eq '^gpu-node-1 +warning +stale ' <<<"$fleet" || die "gpu-node-1 never went stale: $fleet"
sleep 0.5  # the webhook's view syncs every 200 ms
expect binding_attested "false 403 NODE_ATTESTATION_STALE"
expect pod_create_node_name_attested "false 403 NODE_ATTESTATION_STALE"
attest_node
expect binding_attested "true - -"

curl -fs "$METRICS/metrics" >"$WORK/metrics.txt"
grep -q '^rp_admission_reviews_total{decision="allowed",kind="binding"}' "$WORK/metrics.txt" ||
  die "no rp_admission_reviews_total"
grep -q '^rp_fleet_nodes{verdict="warning"} 1' "$WORK/metrics.txt" || die "fleet gauge"
grep -q "admission=127.0.0.1:$ADM" "$WORK/server.log" || die "startup line lacks the admission port"
echo "PASS: admission e2e"
