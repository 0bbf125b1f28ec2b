#!/usr/bin/env bash
# test.sh - the whole test suite: set up and build, run every unit and
# integration test, then the same again built with AddressSanitizer and
# UndefinedBehaviorSanitizer, then a short run of every fuzz target, then the
# banned-function check.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh
echo "== tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== tests under ASan+UBSan (build-asan/)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLG_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

# libFuzzer targets (tests/fuzz/), 30 s each: about 2.5 minutes in all.
scripts/fuzz.sh 30

scripts/check-banned.sh
echo "== all tests passed"
