#!/usr/bin/env bash
# Runs the whole test suite:
#  1. the system tests of the release build (ctest, preset release; arguments go to ctest):
#     the suites that the sanitizer build does not run, and of those it runs, the tests it
#     cannot check (tagged release-only: RSS bounds, the static shim, long loops);
#  2. the sanitizer build (preset asan: clang, ASan+UBSan, build-asan/): a short fuzzing pass
#     over every parser that takes hostile input (scripts/fuzz.sh, BERTH_FUZZ_SECONDS per
#     target, default 5), then the unit tests and the system suites chosen in
#     tests/CMakeLists.txt, under the sanitizers. So each suite runs once.
# BERTH_ASAN=0 skips the sanitizer phase: the release build then runs every suite and the unit
# tests (the release preset leaves them to the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BERTH_ASAN:-1}" = 0 ]; then
  cmake --preset release -DBERTH_UNIT_TESTS=ON >/dev/null
  cmake --build --preset release
  ctest --preset release -LE release-only "$@"
  exit 0
fi
ctest --preset release -LE sanitized "$@"
cmake --preset asan >/dev/null
cmake --build --preset asan
secs=${BERTH_FUZZ_SECONDS:-5}
if ((secs > 0)); then
  bash scripts/fuzz.sh "$secs"
fi
# A leak, an overflow or undefined behaviour fails the test that met it.
ctest --preset asan
