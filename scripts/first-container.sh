#!/usr/bin/env bash
# Makes a busybox image locally (no network) and runs `echo hello` in it with `berth run`:
# the image is imported into a throwaway --root, the container runs under berth-shim and is
# removed on exit (--rm), on berth's default bridge network (made on first use, removed at
# the end with the throwaway root).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/berth-hello.XXXXXX)
B=(./build/src/berth --root "$work/root" --state "$work/run")
finish() {
  # The shim releases the network after `run` returned: wait for it, then drop the network
  # (its bridge and iptables rules are the host's).
  for _ in $(seq 100); do pgrep -f "berth-shim $work/" >/dev/null || break; sleep 0.05; done
  "${B[@]}" network rm berth >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap finish EXIT
scripts/make-bundle.sh "$work/bundle" true >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/busybox.tar" .
"${B[@]}" import "$work/busybox.tar" busybox >/dev/null
"${B[@]}" run --rm busybox sh -c 'echo hello from a berth container at $(ip -4 -o addr show eth0 | awk "{print \$4}")'
