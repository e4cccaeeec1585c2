#!/usr/bin/env bash
# Runs every libFuzzer target for a while on a scratch copy of its seed corpus.
#   scripts/fuzz.sh [seconds-per-target]     (default 60; CI runs a short pass from test.sh)
# Needs the sanitizer build (scripts/build.sh asan). A crash leaves its input in build/asan/fuzz-crashes/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds=${1:-60}
dir="$ROOT/build/asan/tests/fuzz"
[ -d "$dir" ] || die "no fuzzers in $dir: run scripts/build.sh asan"
crashes="$ROOT/build/asan/fuzz-crashes"
mkdir -p "$crashes"
status=0
for target in "$dir"/fuzz_*; do
  [ -x "$target" ] || continue
  name=$(basename "$target" | sed 's/^fuzz_//')
  work=$(mktemp -d)
  cp -r "$ROOT/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  log "fuzz $name for ${seconds}s"
  if ! "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$crashes/$name-" "$work" 2>"$work.log"; then
    tail -n 40 "$work.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$work.log" | tail -n 1 >&2 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
