#!/usr/bin/env bash
# Renders deploy/k8s/webhook with a fresh serving certificate (its
# make-serving-cert.sh + `kubectl kustomize`, both offline) and validates the
# result with npm kubernetes-models (pinned in package-lock.json; node_modules
# installed once with `npm ci`, after which the test needs no network).
# Registered in CTest as k8s_webhook_manifests.
set -euo pipefail
die() {
  echo "FAIL: $*" >&2
  exit 1
}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
command -v node >/dev/null || die "node is not installed"
if [[ ! -f "$HERE/node_modules/kubernetes-models/package.json" ]]; then
  (  # one npm ci when CTest runs the k8s tests at once (run_k8s_test.sh too)
    flock 9
    if [[ ! -f "$HERE/node_modules/kubernetes-models/package.json" ]]; then
      echo "installing kubernetes-models from package-lock.json (npm ci)"
      cd "$HERE" && npm ci --no-audit --no-fund --silent
    fi
  ) 9>/tmp/rp_k8s_manifests_npm.lock || die "npm ci failed"
fi
WORK=$(mktemp -d /tmp/rp_k8s_manifests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$ROOT/deploy/k8s/webhook/make-serving-cert.sh" "$WORK/overlay" >/dev/null
if [[ "${RP_K8S_RENDERER:-}" != fallback ]] && command -v kubectl >/dev/null; then
  kubectl kustomize "$WORK/overlay" >"$WORK/rendered.yaml" || die "kubectl kustomize failed"
  echo "ok   rendered with kubectl kustomize"
else
  # No kubectl on this machine (it is not a Debian 12 package we install), or
  # RP_K8S_RENDERER=fallback:
  # the same overlay rendered by render_kustomization.mjs, which refuses any
  # kustomize feature it does not implement.
  (cd "$HERE" && node render_kustomization.mjs "$WORK/overlay") >"$WORK/rendered.yaml" ||
    die "render_kustomization.mjs failed"
  echo "ok   rendered with render_kustomization.mjs (kubectl not installed, or RP_K8S_RENDERER=fallback)"
fi
# The serving certificate verifies against the CA for the service's DNS name.
openssl verify -CAfile "$WORK/overlay/ca.crt" -verify_hostname attestation-rp-webhook.attestation-rp.svc \
  -purpose sslserver "$WORK/overlay/tls.crt" >/dev/null || die "serving certificate does not verify"
echo "ok   serving certificate verifies for attestation-rp-webhook.attestation-rp.svc"
(cd "$HERE" && node validate_manifests.mjs "$WORK/rendered.yaml" "$WORK/overlay/ca.crt")
