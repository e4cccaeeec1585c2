#!/usr/bin/env bash
# Builds the sidecar. Usage: scripts/build.sh [release] [asan]   (default: release)
#   release  g++, -O2, build/release
#   asan     clang, AddressSanitizer + UndefinedBehaviorSanitizer, plus the fuzzers, build/asan
set -euo pipefail
source "$(dirname "$0")/lib.sh"

build() {
  local kind=$1 dir="$ROOT/build/$1"
  local -a args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
  if [ "$kind" = asan ]; then
    args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DMCP_SANITIZE=ON -DMCP_FUZZERS=ON -DMCP_BENCH=OFF)
  elif [ "$kind" != release ]; then
    die "unknown build kind '$kind' (release or asan)"
  fi
  log "build: $kind ($dir)"
  cmake -S "$ROOT" -B "$dir" "${args[@]}" >/dev/null
  cmake --build "$dir" -j "$(jobs)"
}

[ $# -gt 0 ] || set -- release
for kind in "$@"; do build "$kind"; done
