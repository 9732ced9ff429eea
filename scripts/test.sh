#!/usr/bin/env bash
# Runs the whole test suite: a short fuzzing pass over every parser that takes hostile input
# (scripts/fuzz.sh, BERTH_FUZZ_SECONDS per target, default 8; 0 skips it), then the unit and
# system tests through ctest (arguments go to ctest).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${BERTH_FUZZ_SECONDS:-8}
if ((secs > 0)); then
  bash scripts/fuzz.sh "$secs"
fi
ctest --preset release "$@"
