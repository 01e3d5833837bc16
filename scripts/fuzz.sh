#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for SECONDS (default
# 60), starting from the seed corpus in tests/fuzz/corpus. Exits non-zero on a finding;
# the crashing input is left in build-fuzz/ (crash-*).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
build=$repo/build-fuzz
CC=clang cmake -S "$repo" -B "$build" -DPMP_FUZZ=ON -DPMP_BUILD_TESTS=OFF -DPMP_BUILD_PYTHON=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_protocol fuzz_spank_options >/dev/null
for target in protocol spank_options; do
  corpus=$build/corpus/$target
  mkdir -p "$corpus"
  cp -n "$repo/tests/fuzz/corpus/$target/"* "$corpus/" 2>/dev/null || true
  echo "== fuzz_$target for ${seconds}s"
  (cd "$build" && "./tests/fuzz/fuzz_$target" -max_total_time="$seconds" -max_len=4096 \
    -print_final_stats=1 "$corpus" 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss)|ERROR|SUMMARY" )
done
echo "pmp: fuzzing found nothing in ${seconds}s per target"
