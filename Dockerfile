# attestation-rp container image (docs/container.md).
#
#   podman build -t attestation-rp .        # or: docker build (BuildKit) -t attestation-rp .
#   podman run --read-only -v ./config:/etc/rp:ro -p 50051:50051 -p 8080:8080 attestation-rp
#
# Stage 1 builds attestation-server and attestctl on Debian 12 with the
# project's own dependency script; stage 2 is debian:12-slim with only the
# shared libraries those two binaries load, running as uid/gid 65532.
# Checked end to end by scripts/container-test.sh (run by scripts/test.sh).

ARG DEBIAN_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

############################ build ############################
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Dependencies first (their own layer: re-used until install_deps.sh changes).
# RP_DEPS=build: compilers and -dev packages only (no gtest, node, redis, ...).
COPY scripts/install_deps.sh scripts/install_deps.sh
RUN RP_DEPS=build scripts/install_deps.sh \
 && apt-get install -y -qq --no-install-recommends ccache \
 && rm -rf /var/lib/apt/lists/*
COPY . .
# Same optimisation level as the tested build (scripts/build.sh: RelWithDebInfo
# = -O2 -g1 -DNDEBUG with CMakeLists.txt's RP_DEBUG_INFO=lines), without debug
# info by default (BUILD_TYPE=Release with -O2 -DNDEBUG; the binaries are
# stripped either way, and -g does not change gcc's code); tests and
# benchmarks are not configured.
# The ccache directory is a build cache mount (BuildKit / buildah >= 1.24):
# empty on a clean machine, it makes re-builds after a source edit fast.
# CCACHE_DIR=<a mounted directory> uses another cache instead:
# scripts/container-test.sh mounts the host's, with BUILD_TYPE=RelWithDebInfo
# and SRC_DIR (below), so CI compiles the sources once, not twice. ccache
# keys on the compiler's own identity and the preprocessed input, so a
# different compiler or header is a miss, never a wrong object.
# SRC_DIR: where the build runs (SRC_DIR/build). /src by default;
# scripts/container-test.sh sets it to the host checkout's own path (the
# sources are copied there) so that, with the host's ccache mounted, the
# compile commands are byte-identical to the host build's and the image
# build is cache hits. Used only inside RUN, so it is part of the layer key.
ARG SRC_DIR=/src
ARG JOBS=
ARG BUILD_TYPE=Release
# RP_DEBUG_INFO for a RelWithDebInfo build (container-test.sh passes the host's).
ARG DEBUG_INFO=lines
ARG CCACHE_DIR=/root/.ccache
ARG CCACHE_MAXSIZE=2G
ARG CCACHE_BASEDIR=
ENV CCACHE_DIR=${CCACHE_DIR} CCACHE_MAXSIZE=${CCACHE_MAXSIZE} CCACHE_BASEDIR=${CCACHE_BASEDIR}
# ccache keys on LANG, LC_ALL, LC_CTYPE and LC_MESSAGES too (they change the
# compiler's messages): HOST_<name> sets each one as the host build had it
# (unset when empty), so that shared-cache compiles match the host's.
ARG HOST_LANG=
ARG HOST_LC_ALL=
ARG HOST_LC_CTYPE=
ARG HOST_LC_MESSAGES=
RUN --mount=type=cache,target=/root/.ccache \
    if [ "$SRC_DIR" != /src ]; then mkdir -p "$SRC_DIR" && cp -a /src/. "$SRC_DIR"/; fi \
 && cd "$SRC_DIR" \
 && for v in LANG LC_ALL LC_CTYPE LC_MESSAGES; do \
      eval "x=\"\${HOST_$v}\""; if [ -n "$x" ]; then export "$v=$x"; else unset "$v"; fi; \
    done \
 && cmake -S . -B build -G Ninja \
      -DCMAKE_BUILD_TYPE="${BUILD_TYPE}" -DRP_DEBUG_INFO="${DEBUG_INFO}" \
      -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
      -DBUILD_TESTING=OFF -DRP_BUILD_BENCHMARKS=OFF \
 && ccache --zero-stats >/dev/null \
 && cmake --build build -j"${JOBS:-$(nproc)}" --target attestation-server attestctl \
 && { ccache --show-stats | grep -Ei "hits|misses" || true; } \
 && mkdir -p /out \
 && strip --strip-unneeded -o /out/attestation-server build/server/attestation-server \
 && strip --strip-unneeded -o /out/attestctl build/cli/attestctl \
 && cd / && rm -rf "$SRC_DIR/build" && if [ "$SRC_DIR" != /src ]; then rm -rf "$SRC_DIR"; fi

########################### runtime ###########################
FROM ${RUNTIME_IMAGE}
# The packages of the two binaries' DT_NEEDED libraries (`readelf -d` ->
# `dpkg -S`; libgrpc29 has libgpr; libc6, libstdc++6, libgcc-s1 and zlib1g
# are in the base) plus their dependencies, and ca-certificates for
# online collateral (AMD KDS, Intel PCS, NVIDIA OCSP over https). No HSM
# module: PKCS#11 key release needs one mounted or a derived image
# (docs/container.md).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates \
      libabsl20220623 \
      libcurl4 \
      libgrpc++1.51 \
      libgrpc29 \
      libhiredis0.14 \
      libprometheus-cpp-core1.0 \
      libprotobuf32 \
      libssl3 \
      libxml2 \
      libxmlsec1 \
      libxmlsec1-openssl \
      libyaml-cpp0.7 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
      /var/log/apt /var/log/dpkg.log /var/log/alternatives.log \
 && mkdir -p /etc/rp /var/cache/rp /var/lib/rp \
 && chown 65532:65532 /var/cache/rp /var/lib/rp \
 && chmod 0750 /var/cache/rp /var/lib/rp
COPY --from=build /out/attestation-server /out/attestctl /usr/local/bin/
# Fails the build if a shared library is missing (ldd prints "not found").
RUN for b in /usr/local/bin/attestation-server /usr/local/bin/attestctl; do \
      if ldd "$b" | grep "not found"; then echo "missing libraries for $b" >&2; exit 1; fi; \
    done

# Config, policies and secrets: mounted read-only under /etc/rp. Writable
# state (collateral cache, key-release records): the two volumes below; the
# root filesystem can be read-only and nothing else is written.
VOLUME ["/var/cache/rp", "/var/lib/rp"]
USER 65532:65532
# gRPC, HTTP (healthz, readyz, JWKS, REST), Prometheus /metrics.
EXPOSE 50051 8080 9464
# SIGTERM / SIGINT are taken by a sigwait thread (server/main.cc), so the
# server is a well-behaved PID 1: it drains and exits 0. `--init` is optional.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/attestation-server"]
CMD ["--config", "/etc/rp/config.yaml"]

ARG VERSION=dev
ARG REVISION=unknown
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="attestation-rp" \
      org.opencontainers.image.description="Attestation verifier (Intel TDX, AMD SEV-SNP, NVIDIA GPU) that issues signed EAR tokens" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}" \
      org.opencontainers.image.documentation="docs/container.md"
