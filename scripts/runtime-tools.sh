#!/usr/bin/env bash
# scripts/runtime-tools.sh RTT_DIR RUNTIME [OUT]: every file of the OCI runtime-tools validation
# suite (opencontainers/runtime-tools, built in RTT_DIR with `make runtimetest
# validation-executables`; Debian's golang-go builds commit 260e151 from its vendor/ with
# GOFLAGS=-mod=vendor) against RUNTIME, one "FILE PASS|FAIL" line each. Not a CI test: the
# suite is fetched by hand. Mounts a runtime leaves under /tmp/ocitest* (runc and crun do, for
# linux_ns_itype: see docs/runtime-conformance.md) are taken away after each file.
set -uo pipefail
rtt=${1:?RTT_DIR}
rt=${2:?RUNTIME}
out=${3:-/dev/stdout}
[ "$out" = /dev/stdout ] || : > "$out"
cd "$rtt"
for t in validation/*/*.t; do
  n=$(basename "$t" .t)
  res=$(RUNTIME=$rt timeout 120 "$t" 2>&1)
  if grep -q "^not ok" <<<"$res" || ! grep -q "^ok" <<<"$res"; then s=FAIL; else s=PASS; fi
  echo "$n $s" >> "$out"
  grep -oE " /tmp/ocitest[0-9]+[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
done
