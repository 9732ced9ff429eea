#!/usr/bin/env bash
# bench/engine-run.sh [RUNS] [N]: the engine, side by side in one run, medians and ratios:
#   1. `run --rm IMAGE true` (busybox image, --network none): berth vs podman (crun) vs docker
#      (dockerd + containerd + runc), and bare `crun run` and `berth-runtime run` of the same
#      rootfs as the floor, and `berth-runtime run` of the config.json berth writes (the
#      engine's own overhead is berth's time minus that);
#   2. `run -d` of N (default 100) `sleep` containers: total time, and the memory of the
#      per-container monitors (berth-shim, conmon, containerd-shim-runc-v2): RSS and PSS sums.
# Not a CI test; run as root after scripts/setup.sh. Everything lives in one temp dir.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-30}
N=${2:-100}
BERTH=${BERTH:-$here/build/src/berth}
work=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
# Run-time state where each tool keeps it by default: on a tmpfs (berth's /run/berth,
# podman's /run/containers/storage and /run/libpod, dockerd's /var/run/docker, the runtimes'
# /run/…); images and container layers on the disk. (State on this VM's ext4, which has no
# journal, made every engine pay for ext4's scan past recently deleted inodes at each new
# file: berth's `run --rm` went from 18 to 31 ms over a few hundred runs.)
mkdir -p "$work/run" "$work/docker/exec"
mount -t tmpfs -o mode=0755 tmpfs "$work/run"
mount -t tmpfs -o mode=0711 tmpfs "$work/docker/exec"
R=$work/run
B=("$BERTH" --root "$work/b-root" --state "$R/b-run")
P=(podman --root "$work/p-storage" --runroot "$R/p-run" --tmpdir "$R/p-tmp"
   --cgroup-manager cgroupfs --events-backend file)
DD=$work/docker
. "$here/bench/lib.sh"
trap cleanup_work EXIT

crun_hugetlb_setup

BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true
jq '.ociVersion = "1.0.2"' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
"${P[@]}" import "$work/rootfs.tar" localhost/bench/busybox >/dev/null 2>&1

start_dockerd --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false

# This host lacks CAP_SYS_RESOURCE: podman's default rlimits cannot be set (raising a hard
# limit), so podman gets limits within the current ones (berth and docker need none).
PUL=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
# crun refuses this hybrid host whenever the kernel has hugetlb back in the v2 tree (or a
# container elsewhere keeps it there): then podman and the bare row use runc, said so.
low=crun
if ! crun --root "$R/crun-probe" run --bundle "$work/bundle" probe >/dev/null 2>&1; then
  echo "note: crun does not run on this host now; podman and the bare row use runc" >&2
  low=runc
fi
cmds=(-n berth "${B[*]} run --rm --network none bench/busybox true"
      -n podman "${P[*]} --runtime $low run --rm --network none ${PUL[*]} localhost/bench/busybox true")
[ -n "$have_docker" ] && cmds+=(-n docker "${D[*]} run --rm --network none bench/busybox true")
cmds+=(-n $low-bare "$low --root $R/$low run --bundle $work/bundle bench")
# The engine issue's target: berth run --rm within 1.3x of its own runtime run bare.
cmds+=(-n berth-runtime-bare "$here/build/src/berth-runtime --root $R/brt run --bundle $work/bundle bench")
# And the runtime alone on the spec berth itself writes (Docker's seccomp profile, cgroup and
# sysfs mounts, masked paths…): what is left between the two rows is the engine's own work.
cid=$("${B[@]}" create --network none bench/busybox true)
mkdir -p "$work/spec-bundle" "$work/spec-etc"
cp /etc/hosts "$work/spec-etc/hosts"; echo bench > "$work/spec-etc/hostname"; : > "$work/spec-etc/resolv.conf"
"${B[@]}" start -a "$cid" >/dev/null
jq --arg rootfs "$work/bundle/rootfs" --arg etc "$work/spec-etc" '
    .root.path = $rootfs
  | .mounts |= map(if (.destination | startswith("/etc/")) then .source = $etc + "/" + (.destination | ltrimstr("/etc/")) else . end)
  | .linux.namespaces |= map(if .type == "network" then {type: "network"} else . end)
  | del(.linux.cgroupsPath)' "$R/b-run/default/containers/$cid/config.json" > "$work/spec-bundle/config.json"
"${B[@]}" rm "$cid" >/dev/null
cmds+=(-n berth-runtime-berth-spec "$here/build/src/berth-runtime --root $R/brt2 run --bundle $work/spec-bundle bench")
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}" >/dev/null

echo "engine bench ($(nproc) cores, $(uname -r)), medians of $RUNS runs"
jq -r '.results[] | "\(.command)\t\(.median*1000)"' "$work/run.json" |
  awk -F'\t' '{printf "run --rm true   %-10s %10.2f ms\n", $1, $2}'
jq -r --arg low "$low-bare" '[.results[] | {(.command): .median}] | add |
  "ratios: berth/podman = \(.berth / .podman * 1000 | round / 1000)" +
  (if .docker then ", berth/docker = \(.berth / .docker * 1000 | round / 1000)" else "" end) +
  ", berth/\($low) = \(.berth / .[$low] * 100 | round / 100)" +
  ", berth/berth-runtime-bare = \(.berth / .["berth-runtime-bare"] * 100 | round / 100)" +
  ", berth/berth-runtime-on-berth-spec = \(.berth / .["berth-runtime-berth-spec"] * 100 | round / 100)"' "$work/run.json"

# ---- N detached sleep containers: time and monitor memory.
mem() {  # process name → "RSS_KiB PSS_KiB COUNT" summed over its processes
  local rss=0 pss=0 n=0 pid
  for pid in $(pgrep -x "$1"); do
    # Exited first forks linger as zombies until the host's init reaps them: skip those.
    r=$(awk '/^Rss:/{r=$2} /^Pss:/{p=$2} END{if (r != "") print r, p}' "/proc/$pid/smaps_rollup" 2>/dev/null) || continue
    [ -n "$r" ] || continue
    rss=$((rss + ${r% *})); pss=$((pss + ${r#* })); n=$((n + 1))
  done
  echo "$rss $pss $n"
}
detached() {  # label monitor-process-name command…
  local label=$1 mon=$2; shift 2
  local t0 t1
  t0=$(date +%s%N)
  for i in $(seq 1 "$N"); do "$@" >/dev/null; done
  t1=$(date +%s%N)
  sleep 1
  read -r rss pss n < <(mem "$mon")
  printf '%-8s %d x run -d sleep: %8.0f ms total   %-24s %3d procs  RSS %7d KiB (%4d per container)  PSS %7d KiB\n' \
    "$label" "$N" "$(( (t1 - t0) / 1000000 ))" "$mon" "$n" "$rss" "$(( n ? rss / n : 0 ))" "$pss"
}
detached berth berth-shim "${B[@]}" run -d --network none bench/busybox sleep 100000
"${B[@]}" ps -aq --no-trunc | xargs -r "${B[@]}" rm -f >/dev/null
detached podman conmon "${P[@]}" --runtime "$low" run -d --network none "${PUL[@]}" localhost/bench/busybox sleep 100000
"${P[@]}" rm -af -t 0 >/dev/null 2>&1
if [ -n "$have_docker" ]; then
  # (containerd-shim-runc-v2's process name is cut to 15 characters by the kernel.)
  detached docker containerd-shim "${D[@]}" run -d --network none bench/busybox sleep 100000
  read -r drss dpss dn < <(mem dockerd)
  read -r crss cpss cn < <(mem containerd)
  printf '         plus the daemons: dockerd RSS %d KiB, containerd RSS %d KiB (berth and podman have none)\n' "$drss" "$crss"
  "${D[@]}" ps -aq | xargs -r "${D[@]}" rm -f >/dev/null 2>&1
fi
