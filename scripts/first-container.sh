#!/usr/bin/env bash
# Makes a busybox image locally (no network) and runs `echo hello` in it with `berth run`:
# the image is imported into a throwaway --root, the container runs under berth-shim and is
# removed on exit (--rm).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/berth-hello.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/make-bundle.sh "$work/bundle" true >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/busybox.tar" .
B=(./build/src/berth --root "$work/root" --state "$work/run")
"${B[@]}" import "$work/busybox.tar" busybox >/dev/null
"${B[@]}" run --rm busybox echo hello from a berth container
