#!/usr/bin/env bash
# test.sh — the whole test suite: setup, then Release and ASan+UBSan Debug builds, ctest on both.
# Any failure, warning (-Werror) or sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)

# ctest in build dir $1 (more ctest arguments after it). A skipped test fails the run: ctest's
# "Not Run"/"Skipped", or a cmocka skip() inside a passing executable (found in the full log).
run_ctest() {
  local dir=$1; shift
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" --output-log ctest-full.log "$@" ${CTEST_ARGS:-} | tee ctest-summary.log)
  if grep -E -n '\[  SKIPPED \]|tests did not run|\*\*\*Skipped|Not Run' "$dir/ctest-summary.log" "$dir/ctest-full.log"; then
    echo "test.sh: tests were skipped in $dir (see above): a skip fails the run"
    exit 1
  fi
}

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$JOBS"
run_ctest build/release

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DRLV_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$JOBS"
run_ctest build/asan -LE slow
# libFuzzer, briefly, on every fuzz target (clang, ASan+UBSan): FUZZ_SECONDS each.
FUZZ_SECONDS=${FUZZ_SECONDS:-10} bash scripts/fuzz.sh
echo "test.sh: all passed"
