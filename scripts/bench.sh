#!/usr/bin/env bash
# The benchmark harness (bench/, docs/performance.md): every scenario side by side with nginx in
# one run, a few minutes on 2 cores; the table is printed and kept in bench/results/.
#   scripts/bench.sh                  the full run (3 rounds of 3 s per figure)
#   scripts/bench.sh --smoke          every scenario briefly; checks that figures come out (CI)
#   scripts/bench.sh --only sidecar,nginx,callgrind ...   some scenarios (names: docs/performance.md)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/setup.sh"
use_project_node
"$ROOT/scripts/build.sh" release
# 1,000 downstream connections in the memory scenario, plus the load generators' own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node "$ROOT/bench/run.mjs" --build "$ROOT/build/release" "$@"
