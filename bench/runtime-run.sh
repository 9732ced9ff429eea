#!/usr/bin/env bash
# bench/runtime-run.sh [RUNS]: `run` of /bin/true from one busybox bundle, RUNS times in a
# row (default 100) with berth-runtime, crun and runc (Debian's), side by side in one run.
# Prints the median wall time of each, the ratios berth/crun and berth/runc, and the peak RSS
# of each runtime process. Not a CI test: run it by hand as root after scripts/setup.sh.
#
# crun 1.8 refuses this host's hybrid cgroup layout unless hugetlb is also mounted as a v1
# hierarchy; this script mounts it (and unmounts it again at the end) if needed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-100}
BERTH=${BERTH_RUNTIME:-$here/build/src/berth-runtime}
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
. "$here/bench/lib.sh"
cleanup() {
  crun_hugetlb_undo
  rm -rf "$work"
}
trap cleanup EXIT

crun_hugetlb_setup

BERTH_RUNTIME=$BERTH "$here/scripts/make-bundle.sh" "$work/bundle" /bin/true
# The same config for every runtime: read-only rootfs, the namespaces of `spec`; crun 1.8
# accepts only ociVersion 1.0.x.
jq '.root.readonly = true | .ociVersion = "1.0.2"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"

declare -A CMD=(
  [berth]="$BERTH --root $work/state-berth run --bundle $work/bundle bench-berth"
  [crun]="crun --root $work/state-crun run --bundle $work/bundle bench-crun"
  [runc]="runc --root $work/state-runc run --bundle $work/bundle bench-runc"
)
order=(berth crun runc)

for r in "${order[@]}"; do
  if ! ${CMD[$r]} >/dev/null 2>"$work/err-$r"; then
    echo "$r: a trial run failed: $(head -c 300 "$work/err-$r")" >&2
    exit 1
  fi
done

hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/times.json" \
  -n berth "${CMD[berth]}" -n crun "${CMD[crun]}" -n runc "${CMD[runc]}" >/dev/null

rss() {  # peak RSS in KiB of the runtime process over 10 runs (max)
  local max=0 v
  for _ in $(seq 10); do
    v=$( { /usr/bin/time -f %M ${CMD[$1]} >/dev/null; } 2>&1 | tail -1)
    ((v > max)) && max=$v
  done
  echo "$max"
}

echo "berth-runtime bench: $RUNS sequential 'run /bin/true' per runtime ($(nproc) cores, $(uname -r))"
printf '%-8s %12s %12s %12s %14s\n' runtime median_ms mean_ms stddev_ms peak_rss_kib
for r in "${order[@]}"; do
  jq -r --arg n "$r" '.results[] | select(.command == $n) | [.median*1000, .mean*1000, .stddev*1000] | @tsv' \
    "$work/times.json" | { read -r med mean sd; printf '%-8s %12.2f %12.2f %12.2f %14s\n' "$r" "$med" "$mean" "$sd" "$(rss "$r")"; }
done
jq -r '[.results[] | {(.command): .median}] | add | "ratio berth/crun = \(.berth / .crun * 1000 | round / 1000)\nratio berth/runc = \(.berth / .runc * 1000 | round / 1000)"' "$work/times.json"
