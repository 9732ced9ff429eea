#!/usr/bin/env bash
# bench/runtime-exec.sh [RUNS]: two rows, side by side in one run, berth-runtime vs crun vs runc:
#   1. `exec ID /bin/true` into a running container (each runtime runs its own `sleep`);
#   2. `podman run --rm IMG /bin/true` with each runtime as podman's --runtime.
# Prints medians and ratios. Not a CI test; run as root after scripts/setup.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-50}
BERTH=${BERTH_RUNTIME:-$here/build/src/berth-runtime}
work=$(mktemp -d /tmp/berth-bench-exec.XXXXXX)
. "$here/bench/lib.sh"
P=()
cleanup() {
  for r in berth crun runc; do
    ${RT[$r]:-true} delete --force "bench-$r" >/dev/null 2>&1 || true
  done
  if ((${#P[@]})); then "${P[@]}" rm -af >/dev/null 2>&1 || true; "${P[@]}" system reset -f >/dev/null 2>&1 || true; fi
  crun_hugetlb_undo
  umount -R "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

crun_hugetlb_setup

BERTH_RUNTIME=$BERTH "$here/scripts/make-bundle.sh" "$work/bundle" sleep 100000
jq '.ociVersion = "1.0.2"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
declare -A RT=([berth]="$BERTH --root $work/s-berth" [crun]="crun --root $work/s-crun" [runc]="runc --root $work/s-runc")
for r in berth crun runc; do
  ${RT[$r]} run -d --bundle "$work/bundle" "bench-$r" </dev/null >/dev/null 2>&1
done

hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$work/exec.json" \
  -n berth "${RT[berth]} exec bench-berth /bin/true" \
  -n crun "${RT[crun]} exec bench-crun /bin/true" \
  -n runc "${RT[runc]} exec bench-runc /bin/true" >/dev/null

rows() {  # name file
  jq -r --arg t "$1" '.results[] | "\($t)\t\(.command)\t\(.median*1000)"' "$2" |
    awk -F'\t' '{printf "%-22s %-8s %10.2f ms\n", $1, $2, $3}'
  jq -r --arg t "$1" '[.results[] | {(.command): .median}] | add |
    "\($t): ratio berth/crun = \(.berth / .crun * 1000 | round / 1000), berth/runc = \(.berth / .runc * 1000 | round / 1000)"' "$2"
}

echo "berth-runtime exec/podman bench ($(nproc) cores, $(uname -r)), medians"
rows "exec /bin/true" "$work/exec.json"

if command -v podman >/dev/null; then
  P=(podman --root "$work/p-storage" --runroot "$work/p-run" --tmpdir "$work/p-tmp"
     --cgroup-manager cgroupfs --events-backend file)
  tar -C "$work/bundle/rootfs" -c . | "${P[@]}" import - localhost/berth-bench >/dev/null 2>&1
  prun() {
    echo "${P[*]} --runtime $1 run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/berth-bench /bin/true"
  }
  hyperfine -N --warmup 3 --runs "$((RUNS / 2 > 10 ? RUNS / 2 : 10))" --export-json "$work/podman.json" \
    -n berth "$(prun "$BERTH")" -n crun "$(prun /usr/bin/crun)" -n runc "$(prun /usr/sbin/runc)" >/dev/null
  rows "podman run --rm true" "$work/podman.json"
else
  echo "podman not installed: skipped the podman row"
fi
