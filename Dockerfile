# The mcp-sidecar image: compiled on Debian 12 with the C++ libraries' -dev packages, run on Debian
# 12 slim with only their runtime packages, as the unprivileged user 65532 on a read-only root
# file system. Configuration comes from MCP_* variables or a file mounted at
# /etc/mcp-sidecar/config.yaml (docs/configuration.md); logs are JSON lines on stderr.
#
#   podman build -t localhost/mcp-sidecar:test .        (scripts/podman-setup.sh prepares podman)
#   podman run --rm --read-only -e MCP_SERVERS=registry=http://127.0.0.1:8101/mcp \
#     localhost/mcp-sidecar:test --check-config

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      g++ cmake ninja-build pkg-config ccache \
      libboost1.81-dev libboost-url1.81-dev libssl-dev nlohmann-json3-dev prometheus-cpp-dev \
      libspdlog-dev libyaml-cpp-dev libmimalloc-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
# Parallel compile jobs (the C++ build is the slow part of the image).
ARG JOBS=2
# What `mcp-sidecar --version` and mcp_sidecar_build_info report (no .git in the context):
#   podman build --build-arg GIT_VERSION=$(git describe --always --dirty) ...
ARG GIT_VERSION=unknown
# ccache's directory is a build cache mount: a rebuild after a small change takes seconds, and
# an empty cache (a fresh machine) only means a full compile.
ENV CCACHE_DIR=/var/cache/ccache
RUN --mount=type=cache,target=/var/cache/ccache \
    cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMCP_TESTS=OFF -DMCP_BENCH=OFF \
      -DMCP_GIT_VERSION="$GIT_VERSION" \
 && cmake --build /build --target mcp-sidecar -j "$JOBS" \
 && strip -o /mcp-sidecar /build/src/mcp-sidecar

FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="mcp-sidecar" \
      org.opencontainers.image.description="Kubernetes sidecar for Model Context Protocol traffic: outbound session pools and REST API, inbound authentication and policy gate" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
# The shared libraries the binary links (ldd; spdlog, fmt, yaml-cpp and Boost.URL are linked
# into it), and the system trust store for https upstreams.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates libssl3 libprometheus-cpp-core1.0 libmimalloc2.0 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/log/apt \
      /var/log/dpkg.log
COPY --from=build /mcp-sidecar /usr/local/bin/mcp-sidecar
USER 65532:65532
# outbound (the app's local endpoint), inbound gate, admin
EXPOSE 7001 7443 9901
ENTRYPOINT ["/usr/local/bin/mcp-sidecar"]
