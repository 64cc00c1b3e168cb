#!/usr/bin/env bash
# fuzz.sh — builds every libFuzzer target with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for SECONDS (default 60) from its seed corpus. CI runs it briefly: FUZZ_SECONDS=10.
# -malloc_limit_mb 1024 and -timeout 10 make a decompression bomb or a decode-work bomb (issue 18)
# a finding: one allocation above 1 GiB, or one input running 10 s, fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
      -DRLV_SANITIZE=ON -DRLV_LIBFUZZER=ON >/dev/null
cmake --build build/fuzz -j"$(nproc)" --target rlv_fuzz_all
for t in build/fuzz/tests/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=build/fuzz/corpus/$name
  mkdir -p "$work"
  echo "fuzz: $name for ${SECONDS_EACH}s (seeds: $corpus)"
  # A crash makes libFuzzer exit non-zero: show its report and fail this script.
  log=build/fuzz/$name.log
  if ! "$t" -max_total_time="$SECONDS_EACH" -max_len=1048576 -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=0 \
       -artifact_prefix=build/fuzz/ "$work" "$corpus" >"$log" 2>&1; then
    grep -v '^#' "$log" | tail -60
    echo "fuzz: $name FAILED (input saved under build/fuzz/)"
    exit 1
  fi
  tail -1 "$log"
done
