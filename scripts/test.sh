#!/usr/bin/env bash
# Runs every test: static checks, then for each build (release with g++, and clang with
# AddressSanitizer + UndefinedBehaviorSanitizer) the unit tests, the integration tests against
# the real binary and real MCP servers (the SDK client x upstream matrix among them), and the
# official MCP conformance suite in client mode and in server mode (tests/conformance). Installs
# and builds whatever is missing.
#   scripts/test.sh                 both builds (what CI runs)
#   scripts/test.sh release         one build only (faster while developing)
# MCP_REQUIRE_ALL_TESTS=1 turns every test that would be SKIPPED on this machine into a failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(release asan)

"$ROOT/scripts/setup.sh"
use_project_node

log "static checks"
node "$ROOT/scripts/check-coroutines.mjs"
mapfile -t sources < <(cd "$ROOT" && find src tests -name '*.cpp' -o -name '*.hpp')
(cd "$ROOT" && clang-format --dry-run --Werror "${sources[@]}")

# What the suite leaves behind (logs, configs, debug dumps) is checked for secrets and PII at
# the end: every scratch directory created in the temporary directory after this mark.
mark=$(mktemp "${TMPDIR:-/tmp}/mcp-test-run.XXXXXX")
trap 'rm -f "$mark"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for kind in "${kinds[@]}"; do
  "$ROOT/scripts/build.sh" "$kind"
  dir="$ROOT/build/$kind"
  log "unit tests ($kind)"
  ctest --test-dir "$dir" --output-on-failure -j "$(jobs)" || failed+=("unit:$kind")
  log "integration tests ($kind)"
  MCP_SIDECAR_BIN="$dir/src/mcp-sidecar" node --test --test-concurrency=2 --test-reporter=spec \
    "$ROOT"/tests/integration/*.test.mjs || failed+=("integration:$kind")
  log "conformance ($kind)"
  MCP_SIDECAR_BIN="$dir/src/mcp-sidecar" node "$ROOT/tests/conformance/run.mjs" || failed+=("conformance:$kind")
  log "conformance, server mode ($kind): the fixture directly, behind the sidecar, and behind sidecar + mTLS gate"
  MCP_SIDECAR_BIN="$dir/src/mcp-sidecar" node "$ROOT/tests/conformance/server.mjs" ||
    failed+=("conformance-server:$kind")
  if [ "$kind" = release ]; then
    log "benchmark harness, smoke run (figures come out; no timing is judged)"
    node "$ROOT/bench/run.mjs" --smoke --build "$dir" || failed+=("bench-smoke")
    node "$ROOT/bench/ab.mjs" --a "$dir/src/mcp-sidecar" --b "$dir/src/mcp-sidecar" --rounds 1 --seconds 0.3 \
      --build "$dir" || failed+=("bench-ab-smoke")
  fi
  if [ "$kind" = asan ]; then
    log "fuzzers (short run)"
    "$ROOT/scripts/fuzz.sh" "${MCP_FUZZ_SECONDS:-10}" || failed+=("fuzz")
  fi
done

log "soak, short version (calls at a fixed rate through faults: none lost, none run twice, RSS and descriptors flat)"
MCP_SIDECAR_BIN="$ROOT/build/${kinds[0]}/src/mcp-sidecar" "$ROOT/scripts/soak.sh" 0.5 || failed+=("soak")

log "leak check: no token, private key or KYC personal value in any log, metric or debug output"
mapfile -t artifacts < <(find "${TMPDIR:-/tmp}" -mindepth 1 -maxdepth 1 -type d -newer "$mark")
node "$ROOT/scripts/leak-check.mjs" --self-check --stack --sidecar "$ROOT/build/${kinds[0]}/src/mcp-sidecar" \
  "${artifacts[@]/#/--artifacts=}" || failed+=("leak-check")

# Kubernetes delivery (charts, manifests, images, Prometheus): once, not per build kind.
log "delivery tests (tests/delivery)"
use_k8s_tools
node --test --test-concurrency=1 --test-reporter=spec "$ROOT"/tests/delivery/*.test.mjs || failed+=("delivery")

if [ ${#failed[@]} -gt 0 ]; then
  die "failed: ${failed[*]}"
fi
log "all tests passed (${kinds[*]})"
