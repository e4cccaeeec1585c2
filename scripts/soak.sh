#!/usr/bin/env bash
# The soak (tests/soak/soak.mjs): calls at a fixed rate through outbound sidecar -> mTLS gate ->
# KYC server for a while, with faults on a schedule (the server killed and restarted, connections
# dropped, the gate restarted); fails on a lost call, a call run twice, or a sidecar whose RSS or
# open descriptors keep growing after warm-up.
#   scripts/soak.sh [minutes]     default 10; CI runs a short one: scripts/soak.sh 0.5 (about 65 s)
# Uses $MCP_SIDECAR_BIN if set, else the release build (built if missing). MCP_SOAK_RATE sets
# the calls per second (default 200).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
minutes=${1:-10}
if [ -z "${MCP_SIDECAR_BIN:-}" ]; then
  [ -x "$ROOT/build/release/src/mcp-sidecar" ] || "$ROOT/scripts/build.sh" release
  export MCP_SIDECAR_BIN="$ROOT/build/release/src/mcp-sidecar"
fi
use_project_node
exec node "$ROOT/tests/soak/soak.mjs" --minutes "$minutes" --rate "${MCP_SOAK_RATE:-200}"
