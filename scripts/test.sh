#!/usr/bin/env bash
# test.sh — the whole test suite: setup, then Release and ASan+UBSan Debug builds, ctest on both.
# Any failure, warning (-Werror) or sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
(cd build/release && ctest --output-on-failure -j"$JOBS" ${CTEST_ARGS:-})

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRLV_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$JOBS"
(cd build/asan && ctest --output-on-failure -j"$JOBS" -LE slow ${CTEST_ARGS:-})
# libFuzzer, briefly, on every fuzz target (clang, ASan+UBSan): FUZZ_SECONDS each.
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz.sh
echo "test.sh: all passed"
