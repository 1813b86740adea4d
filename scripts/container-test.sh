#!/usr/bin/env bash
# Container test (docs/container.md): builds the image from the top-level
# Dockerfile with podman, runs it with a read-only root filesystem, a mounted
# config, secrets, policies and simulation roots, and checks from the host:
# /healthz, /readyz, the JWKS, /metrics, challenge -> simulated evidence ->
# attest -> token verify against the container (SNP + GPU and TDX + GPU), a
# replayed challenge refused, uid/gid 65532, the read-only root, and a prompt
# clean exit (code 0) on `podman stop`. Prints
#   container OK: image <size> MB, build <s> s, round trip ok, ...
# and exits 0 only when all of that worked.
#
# Runs as root (rootful podman; CI). Installs podman, runc, netavark (+ the
# iptables it calls) and mmdebstrap when missing. Uses its own containers.conf / storage.conf (runc,
# lower ulimits: docs/container.md), never the global podman configuration or
# image store. The base images are made locally with mmdebstrap from the
# host's apt sources (no registry); they and the image store are cached in
# RP_CONTAINER_CACHE (default /var/tmp/rp-container-cache) between runs.
#
# Environment:
#   BUILD_DIR              host build tree with cli/attestctl (default build/)
#   RP_CONTAINER_CACHE     cache directory (base tarball, image store)
#   RP_CONTAINER_IMAGE     image name (default localhost/attestation-rp:test)
#   RP_CONTAINER_REFRESH_BASE=1   remake the base image even if cached
#   RP_CONTAINER_RUN_ARGS  extra `podman run` options, e.g. "--init"
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
CACHE="${RP_CONTAINER_CACHE:-/var/tmp/rp-container-cache}"
IMAGE="${RP_CONTAINER_IMAGE:-localhost/attestation-rp:test}"
RUNTIME_UID=65532

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "container-test: $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" -eq 0 ] || fail "needs root (rootful podman); run as root, or skip with RP_SKIP_CONTAINER_TEST=1 in scripts/test.sh"
T_ALL=$(now)

# --- tools -------------------------------------------------------------------
need=()
for p in podman runc netavark iptables mmdebstrap curl openssl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  say "installing ${need[*]}"
  T=$(now)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || fail "apt-get install ${need[*]}"
  say "installed in $(elapsed "$T") s"
fi

CTL="$BUILD_DIR/cli/attestctl"
if [ ! -x "$CTL" ]; then
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || fail "no host build in $BUILD_DIR (run scripts/build.sh first)"
  cmake --build "$BUILD_DIR" --target attestctl -j"$(nproc)" >/dev/null || fail "building attestctl"
fi

# --- podman configuration of our own ------------------------------------------
# runc (crun 1.8 refuses cgroup v1/v2 hybrid hosts) and ulimits within the hard
# limits (root may lack CAP_SYS_RESOURCE: podman's default 1048576 fails).
mkdir -p "$CACHE/conf" "$CACHE/base"
RUN_DIR=/run/rp-container-test       # runtime state (podman's own default is /run too)
hard_nofile=$(ulimit -Hn); [ "$hard_nofile" = unlimited ] && hard_nofile=1048576
hard_nproc=$(ulimit -Hu); { [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 32768 ]; } && hard_nproc=32768
cat >"$CACHE/conf/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$hard_nofile:$hard_nofile", "nproc=$hard_nproc:$hard_nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$CACHE/events.log"
tmp_dir = "$RUN_DIR/libpod"
[network]
network_backend = "netavark"
network_config_dir = "$CACHE/networks"
CONF
cat >"$CACHE/conf/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$CACHE/storage"
runroot = "$RUN_DIR/storage"
CONF
export CONTAINERS_CONF="$CACHE/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$CACHE/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$CACHE/conf/registries.conf"
printf 'unqualified-search-registries = []\n' >"$CONTAINERS_REGISTRIES_CONF"

W=$(mktemp -d /var/tmp/rp-container-test.XXXXXX)
CIDS=()
cleanup() {
  local rc=$?
  for cid in "${CIDS[@]}"; do podman rm -f -v -t 2 "$cid" >/dev/null 2>&1 || true; done
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT

# --- base image ----------------------------------------------------------------
# One minbase bookworm root file system with debian:12-slim's dpkg excludes,
# made from the host's apt sources. It stands in for BOTH debian:12 (build
# stage) and debian:12-slim (runtime): it is not the published image, only
# the same release and packages (docs/container.md).
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -f "$SOURCES" ] || SOURCES=/etc/apt/sources.list
[ -f "$SOURCES" ] || fail "no apt sources at /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
BASE_KEY=$(sha256sum "$SOURCES" | cut -c1-12)
BASE_TAR="$CACHE/base/bookworm-slim-$BASE_KEY.tar"
BASE_IMAGE="localhost/rp-debian:12-slim-$BASE_KEY"
T=$(now)
if [ "${RP_CONTAINER_REFRESH_BASE:-0}" = 1 ]; then
  rm -f "$BASE_TAR"
  podman rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true
fi
if [ ! -s "$BASE_TAR" ]; then
  say "making the base image with mmdebstrap from $SOURCES"
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm "$CACHE/base/partial-$$.tar" "$SOURCES" >"$W/mmdebstrap.log" 2>&1 \
    || { tail -30 "$W/mmdebstrap.log"; rm -f "$CACHE/base/partial-$$.tar"; fail "mmdebstrap"; }
  mv "$CACHE/base/partial-$$.tar" "$BASE_TAR"
fi
if ! podman image exists "$BASE_IMAGE"; then
  podman import --quiet --change 'CMD ["bash"]' "$BASE_TAR" "$BASE_IMAGE" >/dev/null || fail "podman import"
fi
BASE_S=$(elapsed "$T")
say "base image $BASE_IMAGE ready in $BASE_S s"

# --- image build -----------------------------------------------------------------
REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
say "building $IMAGE (log: podman build output below on failure)"
T=$(now)
# TMPDIR: buildah keeps RUN --mount=type=cache directories (the ccache) under
# $TMPDIR/buildah-cache; keep them in our cache directory too.
mkdir -p "$CACHE/tmp"
# Compile once: when the host build ($ROOT/build, RelWithDebInfo, ccache) is
# there, the image build runs in the same path with the same build type and
# the host's ccache mounted, so its compile commands are the host's and hit
# the cache (the Dockerfile's SRC_DIR / BUILD_TYPE / CCACHE_DIR arguments).
# A different compiler or header in the image is a cache miss, not a wrong
# object. RP_CONTAINER_SHARE_CCACHE=0 builds with the image's own cache only.
SHARE=()
if [ "${RP_CONTAINER_SHARE_CCACHE:-1}" = 1 ] && command -v ccache >/dev/null &&
   [ "$(cd "$BUILD_DIR" 2>/dev/null && pwd)" = "$ROOT/build" ] &&
   grep -q '^CMAKE_CXX_COMPILER_LAUNCHER:.*ccache' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null &&
   grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo$' "$BUILD_DIR/CMakeCache.txt"; then
  HOST_CCACHE=$(ccache -k cache_dir)
  mkdir -p "$HOST_CCACHE"
  SHARE=(--volume "$HOST_CCACHE:/var/cache/host-ccache:rw"
         --build-arg CCACHE_DIR=/var/cache/host-ccache
         --build-arg CCACHE_MAXSIZE="$(ccache -k max_size)"
         --build-arg CCACHE_BASEDIR="$(ccache -k base_dir)"
         --build-arg BUILD_TYPE=RelWithDebInfo --build-arg SRC_DIR="$ROOT"
         --build-arg DEBUG_INFO="$(sed -n 's/^RP_DEBUG_INFO:STRING=//p' "$BUILD_DIR/CMakeCache.txt" | grep . || echo lines)"
         --build-arg HOST_LANG="${LANG-}" --build-arg HOST_LC_ALL="${LC_ALL-}"
         --build-arg HOST_LC_CTYPE="${LC_CTYPE-}" --build-arg HOST_LC_MESSAGES="${LC_MESSAGES-}")
  say "sharing the host build's ccache ($HOST_CCACHE)"
fi
build() {
  TMPDIR="$CACHE/tmp" podman build --pull=never --layers \
    --build-arg DEBIAN_IMAGE="$BASE_IMAGE" --build-arg RUNTIME_IMAGE="$BASE_IMAGE" \
    --build-arg REVISION="$REVISION" "${SHARE[@]}" -f "$ROOT/Dockerfile" "$@" "$ROOT"
}
build -t "$IMAGE" >"$W/build.log" 2>&1 || { tail -60 "$W/build.log"; fail "podman build"; }
BUILD_S=$(elapsed "$T")
# Keep the image store from growing with every source edit: name the build
# stage (all cached: a second or two) so that its dependency layers survive,
# then drop the untagged images of earlier builds.
build --target build -t "${IMAGE%:*}:build-stage" >>"$W/build.log" 2>&1 \
  || { tail -30 "$W/build.log"; fail "podman build --target build"; }
podman image prune -f >/dev/null || true
grep -iE "^ *(hits|misses|cacheable|direct|preprocessed)" "$W/build.log" | sed 's/^ */  ccache: /' || true
SIZE_B=$(podman image inspect --format '{{.Size}}' "$IMAGE")
SIZE_MB=$(awk -v b="$SIZE_B" 'BEGIN { printf "%.0f", b / 1e6 }')
say "image $IMAGE: $SIZE_MB MB, built in $BUILD_S s"
podman image inspect --format '{{.Config.User}}' "$IMAGE" | grep -qx "$RUNTIME_UID:$RUNTIME_UID" \
  || fail "image USER is not $RUNTIME_UID:$RUNTIME_UID"

# --- inputs: simulation roots, secrets -----------------------------------------
"$CTL" simulate init --sim-dir "$W/sim" >/dev/null || fail "attestctl simulate init"
# The container trusts the simulation roots' certificates (their private keys
# stay on the host) and reads the simulator's collateral directory, which
# `attestctl simulate` fills (RIMs, OCSP answers, CRL) as it makes evidence:
# mounted live, read-only, at /etc/rp/sim/collateral.
mkdir -p "$W/trust/collateral"
for f in ark.pem tdx_root.pem gpu_root.pem rim_root.pem; do
  [ -f "$W/sim/$f" ] && cp "$W/sim/$f" "$W/trust/"
done
[ -f "$W/trust/ark.pem" ] || fail "attestctl simulate init made no ark.pem"
chmod -R a+rX "$W/trust" "$W/sim/collateral"
# Secrets: 0400 and owned by the runtime uid (the server refuses group/other
# access; rootful podman without a user namespace: host uid = container uid).
mkdir -p "$W/secrets"
openssl rand -hex 32 >"$W/secrets/hmac.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/secrets/token.pem" 2>/dev/null \
  || fail "openssl genpkey"
chown -R "$RUNTIME_UID:$RUNTIME_UID" "$W/secrets"
chmod 0400 "$W/secrets/hmac.key" "$W/secrets/token.pem"
chmod 0500 "$W/secrets"

# --- run -------------------------------------------------------------------------
# --read-only without podman's default tmpfs on /tmp, /var/tmp, /run: the only
# writable paths are the image's two volumes (anonymous volumes here).
# RP_CONTAINER_RUN_ARGS: extra `podman run` options (e.g. --init).
read -r -a extra_run_args <<<"${RP_CONTAINER_RUN_ARGS:-}"
CID=$(podman run -d --read-only --read-only-tmpfs=false "${extra_run_args[@]}" \
  -v "$ROOT/deploy/container/config.yaml:/etc/rp/config.yaml:ro" \
  -v "$ROOT/deploy/policies:/etc/rp/policies:ro" \
  -v "$W/secrets:/etc/rp/secrets:ro" \
  -v "$W/trust:/etc/rp/sim:ro" \
  -v "$W/sim/collateral:/etc/rp/sim/collateral:ro" \
  -p 127.0.0.1::50051 -p 127.0.0.1::8080 -p 127.0.0.1::9464 \
  "$IMAGE") || fail "podman run"
CIDS+=("$CID")
logs() { podman logs "$CID" 2>&1 | tail -40; }
hostport() {
  local p
  p=$(podman port "$CID" "$1/tcp" | head -1) || true
  [ -n "$p" ] || { logs; fail "container port $1 is not published"; }
  echo "${p##*:}"
}
GRPC="127.0.0.1:$(hostport 50051)"
HTTP="http://127.0.0.1:$(hostport 8080)"
METRICS="http://127.0.0.1:$(hostport 9464)"
say "container ${CID:0:12}: gRPC $GRPC, HTTP $HTTP, metrics $METRICS"

ready=0
for _ in $(seq 1 120); do
  if curl -fs -o /dev/null "$HTTP/readyz"; then ready=1; break; fi
  [ "$(podman inspect --format '{{.State.Running}}' "$CID")" = true ] || { logs; fail "the container exited during start"; }
  sleep 0.25
done
[ "$ready" = 1 ] || { logs; fail "/readyz did not answer 200 within 30 s"; }
curl -fsS -o /dev/null "$HTTP/healthz" || { logs; fail "/healthz"; }
curl -fsS "$HTTP/.well-known/jwks.json" >"$W/jwks.json" || fail "GET /.well-known/jwks.json"
if ! { grep -q '"keys"' "$W/jwks.json" && grep -qE '"kty" *: *"EC"' "$W/jwks.json"; }; then
  fail "the JWKS has no EC key: $(head -c 300 "$W/jwks.json")"
fi
say "healthz, readyz, JWKS ok"

# --- round trip with the host's attestctl -----------------------------------------
round_trip() {
  local name=$1 tee=$2
  "$CTL" challenge --server "$GRPC" --out "$W/$name.challenge.json" >/dev/null \
    || fail "($name) attestctl challenge against the container"
  "$CTL" simulate --challenge "$W/$name.challenge.json" --sim-dir "$W/sim" --tee "$tee" --gpus 1 \
    --out "$W/$name.bundle.json" >/dev/null || fail "($name) attestctl simulate"
  "$CTL" attest --server "$GRPC" --evidence "$W/$name.bundle.json" --challenge "$W/$name.challenge.json" \
    --accept warning --json --token-out "$W/$name.token.jwt" >"$W/$name.result.json" \
    || { head -c 2000 "$W/$name.result.json"; logs; fail "($name) attest was not accepted"; }
  [ -s "$W/$name.token.jwt" ] || fail "($name) no token"
  "$CTL" token verify "@$W/$name.token.jwt" --jwks "$HTTP/.well-known/jwks.json" \
    --issuer attestation-rp-container --accept warning >"$W/$name.claims.json" 2>"$W/$name.verify.err" \
    || { cat "$W/$name.claims.json" "$W/$name.verify.err"; fail "($name) token verify against the container's JWKS"; }
  grep -q '"ear.status"' "$W/$name.claims.json" || fail "($name) verified claims have no ear.status"
  say "($name) challenge -> simulate -> attest -> token verify ok ($(grep -o '"verdict": *"[a-z]*"' "$W/$name.result.json" | head -1))"
}
round_trip snp-gpu snp
round_trip tdx-gpu tdx
set +e
"$CTL" attest --server "$GRPC" --evidence "$W/tdx-gpu.bundle.json" --challenge "$W/tdx-gpu.challenge.json" \
  --accept warning >"$W/replay.txt" 2>&1
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat "$W/replay.txt"; fail "a replayed challenge was not refused (exit $rc)"; }
say "replayed challenge refused"

curl -fsS "$METRICS/metrics" >"$W/metrics.txt" || fail "GET /metrics"
[ -s "$W/metrics.txt" ] || fail "/metrics is empty"
n_rp=$(grep -c '^rp_' "$W/metrics.txt" || true)
[ "$n_rp" -gt 0 ] || fail "/metrics has no rp_ series"
grep -q '^rp_attestations_total' "$W/metrics.txt" || fail "/metrics has no rp_attestations_total after two attestations"
say "/metrics ok ($n_rp rp_ samples)"

# --- non-root, read-only root ----------------------------------------------------------
PID=$(podman inspect --format '{{.State.Pid}}' "$CID")
read -r -a uids < <(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$PID/status")
read -r -a gids < <(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$PID/status")
for id in "${uids[@]}" "${gids[@]}"; do
  [ "$id" = "$RUNTIME_UID" ] || fail "the server runs as uid ${uids[*]} gid ${gids[*]}, not $RUNTIME_UID"
done
say "server process (host pid $PID) runs as uid/gid $RUNTIME_UID"
[ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$CID")" = true ] || fail "root filesystem not read-only"
# As root inside the container, so a failure is the read-only mount, not permissions.
for path in /usr/local/bin/rp-write-test /etc/rp/rp-write-test /tmp/rp-write-test; do
  if podman exec --user 0 "$CID" sh -c ": > $path" 2>"$W/ro.err"; then
    fail "writing $path inside the container succeeded (root filesystem not read-only)"
  fi
  grep -qi "read-only" "$W/ro.err" || fail "writing $path failed, but not as read-only: $(cat "$W/ro.err")"
done
podman exec "$CID" sh -c ': > /var/cache/rp/rp-write-test && rm /var/cache/rp/rp-write-test' \
  || fail "uid $RUNTIME_UID cannot write the /var/cache/rp volume"
podman exec "$CID" test -d /var/cache/rp/collateral || fail "the server did not create its cache dir on the volume"
say "root filesystem read-only (writes to /usr, /etc/rp, /tmp refused); /var/cache/rp writable"

# --- stop ------------------------------------------------------------------------------
T=$(now)
podman stop -t 10 "$CID" >/dev/null || fail "podman stop"
STOP_S=$(elapsed "$T")
code=$(podman inspect --format '{{.State.ExitCode}}' "$CID")
[ "$code" = 0 ] || { logs; fail "exit code $code after podman stop (expected 0)"; }
awk -v s="$STOP_S" 'BEGIN { exit !(s < 5) }' || fail "podman stop took $STOP_S s (SIGTERM not handled promptly)"
podman logs "$CID" >"$W/server.log" 2>&1 || true
grep -q "shutting down" "$W/server.log" || { tail -20 "$W/server.log"; fail "no 'shutting down' in the server log"; }
say "podman stop: exit 0 in $STOP_S s"

echo "container OK: image $SIZE_MB MB, build $BUILD_S s (base $BASE_S s), round trip ok (snp+gpu, tdx+gpu), uid $RUNTIME_UID, read-only root, stop $STOP_S s, total $(elapsed "$T_ALL") s"
