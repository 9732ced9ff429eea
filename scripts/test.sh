#!/usr/bin/env bash
# Runs the whole test suite (unit + system) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
ctest --preset release "$@"
