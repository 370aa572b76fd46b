#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for FUZZ_SECONDS (default 60) each, with a
# corpus under build/fuzz-corpus/. Fails if any target finds a crash or a sanitizer report.
set -euo pipefail
build=${1:-build/fuzz}
secs=${FUZZ_SECONDS:-60}
status=0
# Real files (a log segment, tables, a manifest) as seeds for the raw modes of the format fuzzers.
if [ -x "$build/tests/fuzz/make_fuzz_seeds" ]; then
  "$build/tests/fuzz/make_fuzz_seeds" build/fuzz-corpus || echo "!! make_fuzz_seeds failed; fuzzing without seeds"
fi
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
