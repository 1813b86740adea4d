#!/usr/bin/env bash
# Offline tests of deploy/k8s (docs/kubernetes.md), one CTest test per concern:
#
#   run_k8s_test.sh render        k8s_manifest_render: base, every overlay and the
#                                 prod overlay with a webhook certificate render; with
#                                 kubectl, render_kustomization.mjs's output is
#                                 identical to `kubectl kustomize`'s (after sorting);
#                                 the fallback refuses features it does not implement
#   run_k8s_test.sh schema        k8s_manifest_schema: every rendered object valid
#                                 (kubernetes-models + unknown fields), mutations refused
#   run_k8s_test.sh security      k8s_manifest_security: check_security.mjs --self-test
#   run_k8s_test.sh copies        k8s_manifest_copies: policy copies and shared blocks
#                                 agree with their sources
#   run_k8s_test.sh config-load SERVER ATTESTCTL
#                                 k8s_manifest_config_load: each overlay's rendered
#                                 config, policies and Redis config run for real on
#                                 loopback (generated Secrets, 0440 like a Secret volume
#                                 with fsGroup), /readyz answers 200
#
# Renderer: `kubectl kustomize` when kubectl is installed, else (or with
# RP_K8S_RENDERER=fallback) render_kustomization.mjs. node_modules comes from
# package-lock.json (`npm ci`, once); nothing else is downloaded.
set -euo pipefail
die() {
  echo "FAIL: $*" >&2
  exit 1
}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
K8S="$ROOT/deploy/k8s"
[[ $# -ge 1 ]] || die "usage: $0 render|schema|security|copies|config-load [SERVER ATTESTCTL]"
MODE=$1
shift
command -v node >/dev/null || die "node is not installed"
if [[ ! -f "$HERE/node_modules/kubernetes-models/package.json" ]]; then
  # CTest runs several of these at once: one npm ci.
  (
    flock 9
    if [[ ! -f "$HERE/node_modules/kubernetes-models/package.json" ]]; then
      echo "installing kubernetes-models from package-lock.json (npm ci)"
      cd "$HERE" && npm ci --no-audit --no-fund --silent
    fi
  ) 9>/tmp/rp_k8s_manifests_npm.lock || die "npm ci failed"
fi

WORK=$(mktemp -d /tmp/rp_k8s.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

KUBECTL=""
if [[ "${RP_K8S_RENDERER:-}" != fallback ]] && command -v kubectl >/dev/null; then KUBECTL=$(command -v kubectl); fi
render() {  # DIR OUT
  if [[ -n "$KUBECTL" ]]; then
    "$KUBECTL" kustomize "$1" >"$2" || die "kubectl kustomize $1 failed"
  else
    node "$HERE/render_kustomization.mjs" "$1" >"$2" || die "render_kustomization.mjs $1 failed"
  fi
}
# The kustomizations: the base, every overlay, and prod with a webhook
# serving certificate (make-serving-cert.sh's overlay on top of prod).
declare -A DIRS=([base]="$K8S/base")
for d in "$K8S"/overlays/*/; do
  d=${d%/}
  DIRS[$(basename "$d")]=$d
done
[[ -n "${DIRS[dev]:-}" && -n "${DIRS[prod]:-}" ]] || die "deploy/k8s/overlays/dev and prod must exist"
KUSTOMIZE_BASE="$K8S/overlays/prod" "$K8S/webhook/make-serving-cert.sh" "$WORK/prod-cert" >/dev/null ||
  die "make-serving-cert.sh failed"
DIRS[prod-cert]="$WORK/prod-cert"
NAMES=$(printf '%s\n' "${!DIRS[@]}" | sort)
render_all() {
  local n
  for n in $NAMES; do render "${DIRS[$n]}" "$WORK/$n.yaml"; done
  local how=render_kustomization.mjs
  [[ -z "$KUBECTL" ]] || how="kubectl kustomize ($("$KUBECTL" version --client 2>/dev/null | tr '\n' ' ' | sed 's/ $//'))"
  echo "ok   rendered $(echo $NAMES) with $how"
}
args_all() {
  local n
  for n in $NAMES; do printf '%s=%s\n' "$n" "$WORK/$n.yaml"; done
}

case "$MODE" in
render)
  render_all
  if [[ -n "$KUBECTL" ]]; then
    for n in $NAMES; do
      node "$HERE/render_kustomization.mjs" "${DIRS[$n]}" >"$WORK/$n.fallback.yaml" ||
        die "render_kustomization.mjs cannot render $n (kubectl can): extend it"
      out=$(node "$HERE/compare_renders.mjs" "$WORK/$n.yaml" "$WORK/$n.fallback.yaml" 2>&1) ||
        die "$n: render_kustomization.mjs differs from kubectl kustomize:"$'\n'"$out"
      echo "ok   $n: render_kustomization.mjs = kubectl kustomize ($out)"
    done
  else
    echo "note: kubectl not used (not installed, or RP_K8S_RENDERER=fallback): no comparison here (there is one wherever kubectl is installed)"
  fi
  # The fallback refuses what it does not implement.
  refuse() {  # NAME EXPECTED-MESSAGE ; kustomization in $WORK/refuse/$1
    local msg
    if msg=$(node "$HERE/render_kustomization.mjs" "$WORK/refuse/$1" 2>&1 >/dev/null); then
      die "render_kustomization.mjs rendered $1 instead of refusing it"
    fi
    [[ "$msg" == *"$2"* ]] || die "render_kustomization.mjs refused $1 with '$msg', expected '$2'"
    echo "ok   fallback refuses $1"
  }
  mk() {  # NAME: kustomization.yaml on stdin, resources copied from the base
    mkdir -p "$WORK/refuse/$1"
    cp "$K8S/base/"*.yaml "$WORK/refuse/$1/"
    cp -r "$K8S/base/policies" "$WORK/refuse/$1/"
    cat >"$WORK/refuse/$1/kustomization.yaml"
  }
  mk commonLabels <<'EOF'
resources: [deployment.yaml]
commonLabels: {team: a}
EOF
  refuse commonLabels "unsupported field commonLabels"
  mk topologySpread <<'EOF'
resources: [deployment.yaml]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: attestation-rp}
      spec: {template: {spec: {topologySpreadConstraints: [{topologyKey: kubernetes.io/hostname, maxSkew: 2}]}}}
EOF
  refuse topologySpread "has no merge key this renderer knows"
  mk octal <<'EOF'
resources: [deployment.yaml]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: attestation-rp}
      spec:
        revisionHistoryLimit: 010
EOF
  refuse octal "leading-zero number"
  mk outside <<'EOF'
configMapGenerator:
  - name: x
    files: [../../../../etc/hostname]
EOF
  refuse outside "outside the kustomization directory"
  mk remote <<'EOF'
resources: [https://github.com/example/repo//deploy?ref=v1]
EOF
  refuse remote "remote resource"
  mk labelSelector <<'EOF'
resources: [deployment.yaml]
patches:
  - target: {kind: Deployment, labelSelector: "a=b"}
    patch: |-
      - op: add
        path: /spec/paused
        value: true
EOF
  refuse labelSelector "unsupported field labelSelector"
  mk merge-missing <<'EOF'
resources: [deployment.yaml]
configMapGenerator:
  - name: nope
    behavior: merge
    files: [config.yaml]
EOF
  refuse merge-missing "no generated ConfigMap nope"
  mk setElementOrder <<'EOF'
resources: [deployment.yaml]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: attestation-rp}
      spec: {template: {spec: {$setElementOrder/volumes: [{name: tmp}]}}}
EOF
  refuse setElementOrder "directive"
  echo "PASS"
  ;;
schema)
  render_all
  # shellcheck disable=SC2046
  node "$HERE/validate_schemas.mjs" $(args_all)
  # The prod webhook with its certificate: the webhook settings of issue 13.
  node "$HERE/validate_manifests.mjs" --only-webhook "$WORK/prod-cert.yaml" "$WORK/prod-cert/ca.crt"
  ;;
security)
  render_all
  # shellcheck disable=SC2046
  node "$HERE/check_security.mjs" --self-test $(args_all)
  ;;
copies)
  render_all
  # shellcheck disable=SC2046
  node "$HERE/check_copies.mjs" "$ROOT" $(args_all)
  ;;
config-load)
  [[ $# -eq 2 ]] || die "usage: $0 config-load SERVER ATTESTCTL"
  SRV=$1
  CTL=$2
  for tool in redis-server redis-cli curl openssl; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/install_deps.sh installs it)"
  done
  source "$HERE/config_load.sh"
  ;;
*)
  die "unknown mode $MODE"
  ;;
esac
