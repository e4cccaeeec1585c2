# Shared helpers for the project's scripts. Sourced, never run.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ROOT

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run as root when we are not (a newcomer's machine may have sudo; a container is root).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"; fi
}

# The Node.js the project pins (tools/node), ahead of whatever the system has.
use_project_node() {
  export PATH="$ROOT/tools/node/node_modules/.bin:$PATH"
}

# helm and kubectl pinned by the project (tools/k8s/bin, unpacked by scripts/setup.sh).
use_k8s_tools() {
  export PATH="$ROOT/tools/k8s/bin:$PATH"
}

# Number of parallel build jobs: all cores, at least 1.
jobs() { nproc 2>/dev/null || echo 2; }
