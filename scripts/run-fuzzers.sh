#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for FUZZ_SECONDS (default 60) each, with a
# corpus under build/fuzz-corpus/. Fails if any target finds a crash or a sanitizer report.
set -euo pipefail
build=${1:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  echo "== $name for ${secs}s"
  if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="build/fuzz-corpus/$name-" "$corpus" 2>&1 | tail -n 12; then
    echo "!! $name failed"
    status=1
  fi
done
exit $status
