#!/usr/bin/env bash
# bench/publish.sh [RUNS] [RANGE]: published ports, side by side in one run:
#   1. `run --rm -p 127.0.0.1:PORT:80 IMAGE true`, back to back on one port (the same port for
#      every run of an engine: each run must get it back from the one before) — berth (its own
#      DNAT rules, one iptables-restore), podman (here: CNI's portmap plugin), docker (libnetwork's
#      iptables rules and its userland proxy); and `--network none` without -p, the floor;
#   2. `run -d -p LOW-HIGH:LOW-HIGH IMAGE sleep` with RANGE ports (default 1000), and its `rm -f`:
#      the time of each, once per engine.
# Not a CI test; run as root after scripts/setup.sh. dockerd runs with its defaults (iptables,
# userland proxy); the host's iptables rules are saved first and restored at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-20}
RANGE=${2:-1000}
BERTH=${BERTH:-$here/build/src/berth}
work=$(mktemp -d /tmp/berth-bench-publish.XXXXXX)
mkdir -p "$work/run"
mount -t tmpfs -o mode=0755 tmpfs "$work/run"  # run-time state on a tmpfs, as in engine-run.sh
B=("$BERTH" --root "$work/b-root" --state "$work/run/b-run")
P=(podman --root "$work/p-storage" --runroot "$work/run/p-run" --tmpdir "$work/run/p-tmp"
   --cgroup-manager cgroupfs --events-backend file)
DD=$work/docker
. "$here/bench/lib.sh"
save_host_network
cleanup() {
  "${B[@]}" ps -aq --no-trunc 2>/dev/null | xargs -r "${B[@]}" rm -f >/dev/null 2>&1 || true
  sleep 1  # (the last container's shim gives its network back)
  "${B[@]}" network rm berth >/dev/null 2>&1 || true
  stop_dockerd
  restore_host_network
  cleanup_work
}
trap cleanup EXIT

crun_hugetlb_setup
BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
"${P[@]}" import "$work/rootfs.tar" localhost/bench/busybox >/dev/null 2>&1
start_dockerd
PUL=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)  # no CAP_SYS_RESOURCE here (podman)
low=crun
crun --root "$work/run/crun-probe" run --bundle "$work/bundle" probe >/dev/null 2>&1 || low=runc

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cmds=(-n berth "${B[*]} run --rm -p 127.0.0.1:$(free_port):80 bench/busybox true"
      -n berth-none "${B[*]} run --rm --network none bench/busybox true"
      -n podman "${P[*]} --runtime $low run --rm ${PUL[*]} -p 127.0.0.1:$(free_port):80 localhost/bench/busybox true"
      -n podman-none "${P[*]} --runtime $low run --rm ${PUL[*]} --network none localhost/bench/busybox true")
[ -n "$have_docker" ] && cmds+=(-n docker "${D[*]} run --rm -p 127.0.0.1:$(free_port):80 bench/busybox true"
                               -n docker-none "${D[*]} run --rm --network none bench/busybox true")
echo "publish bench ($(nproc) cores, $(uname -r)), medians of $RUNS runs back to back"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}" >/dev/null
jq -r '.results[] | "\(.command)\t\(.median*1000)"' "$work/run.json" |
  awk -F'\t' '{printf "run --rm -p 127.0.0.1:P:80 true  %-12s %9.2f ms\n", $1, $2}'
jq -r '[.results[] | {(.command): .median}] | add |
  "a published port adds: berth \((.berth - .["berth-none"]) * 1000 | round) ms, podman \((.podman - .["podman-none"]) * 1000 | round) ms" +
  (if .docker then ", docker \((.docker - .["docker-none"]) * 1000 | round) ms" else "" end) +
  "\nratios: berth/podman = \(.berth / .podman * 1000 | round / 1000)" +
  (if .docker then ", berth/docker = \(.berth / .docker * 1000 | round / 1000)" else "" end)' "$work/run.json"

# ---- A range of ports: run -d and rm -f, once per engine.
base=30000
while ss -Htln "sport >= :$base and sport <= :$((base + RANGE - 1))" | grep -q .; do base=$((base + RANGE)); done
r="127.0.0.1:$base-$((base + RANGE - 1)):$base-$((base + RANGE - 1))"
range() {  # label command-prefix…
  local label=$1; shift
  local t0 t1 t2
  t0=$(date +%s%N)
  "$@" run -d --name many -p "$r" $([ "$label" = podman ] && echo "${PUL[*]} localhost/")bench/busybox sleep 1000 >/dev/null
  t1=$(date +%s%N)
  "$@" rm -f many >/dev/null
  t2=$(date +%s%N)
  printf 'run -d -p with %d ports  %-8s %9.2f s   rm -f %7.2f s\n' "$RANGE" "$label" \
    "$(echo "($t1 - $t0) / 1000000000" | bc -l)" "$(echo "($t2 - $t1) / 1000000000" | bc -l)"
  sleep 2
}
range berth "${B[@]}"
range podman "${P[@]}" --runtime "$low"
[ -n "$have_docker" ] && range docker "${D[@]}"
exit 0
