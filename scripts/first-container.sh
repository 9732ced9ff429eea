#!/usr/bin/env bash
# Makes a busybox bundle locally (no network) and runs `echo hello` in it with berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(mktemp -d /tmp/berth-hello.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
scripts/make-bundle.sh "$bundle" echo hello from a berth container
./build/src/berth-runtime run --bundle "$bundle" "hello-$$"
