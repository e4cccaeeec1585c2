#!/usr/bin/env bash
# The local four-server KYC demo: installs what is missing, builds, runs it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"
"$ROOT/scripts/build.sh" release
use_project_node
exec node "$ROOT/examples/kyc/demo.mjs" --sidecar "$ROOT/build/release/src/mcp-sidecar" "$@"
