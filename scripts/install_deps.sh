#!/usr/bin/env bash
# Installs the Debian 12 packages the build, tests and demo need (idempotent).
# RP_DEPS=build: only what building attestation-server and attestctl with
# -DBUILD_TESTING=OFF -DRP_BUILD_BENCHMARKS=OFF needs (the Dockerfile's build
# stage); unset or "all": everything below (build, tests, demo).
set -euo pipefail
RP_DEPS="${RP_DEPS:-all}"
BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config
  libssl-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libcivetweb-dev
  libyaml-cpp-dev nlohmann-json3-dev libhiredis-dev libcurl4-openssl-dev
  libxml2-dev libxmlsec1-dev libxmlsec1-openssl
  libp11-kit-dev
  zlib1g-dev
)
TEST_PKGS=(
  ccache
  git openssl
  libgtest-dev libgmock-dev libbenchmark-dev
  xmlsec1
  curl
  softhsm2
  redis-server nginx
  prometheus
)
# RP_DEPS=hardening: clang with the sanitizer and libFuzzer runtimes and the
# symbolizer, for scripts/sanitizers.sh, scripts/fuzz.sh, scripts/ci_hardening.sh.
HARDENING_PKGS=(clang libclang-rt-14-dev llvm)
case "$RP_DEPS" in
  build) PKGS=("${BUILD_PKGS[@]}") ;;
  all) PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  hardening) PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${HARDENING_PKGS[@]}") ;;
  *) echo "RP_DEPS must be build, all or hardening, not '$RP_DEPS'" >&2; exit 2 ;;
esac
# softhsm2: the PKCS#11 token behind the key-release secret store in tests and
# the demo (libsofthsm2.so + softhsm2-util); libp11-kit-dev: the standard
# pkcs11.h header (the module itself is dlopen()ed, nothing links p11-kit).
# redis-server + nginx: the scale-out e2e (tests/integration/scale_out) and
# scripts/bench_scale_out.sh start their own Redis (random loopback port,
# --save '') and an unprivileged nginx as the gRPC load balancer in front of
# several replicas; neither system service is used (nor needs to run).
# zlib1g-dev: gunzip of the CoCo initdata annotation (admission webhook).
# prometheus: promtool (alert rule unit tests, dashboard PromQL checks) and a
# Prometheus the observability e2e starts on loopback (not the system service).
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm run the independent JOSE interoperability test. Some images
# ship a Node.js (with its own npm) that conflicts with Debian's npm package,
# so only install Debian's when the commands are missing.
if [ "$RP_DEPS" != build ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
