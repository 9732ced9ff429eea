#!/usr/bin/env bash
# bench/berthd.sh [RUNS] [N]: the docker CLI against berthd and against dockerd (20.10 +
# containerd + runc), side by side in one run, medians and ratios:
#   1. `docker run --rm IMAGE true` (--network none), the same client for both, and the
#      client's floor: the same command against bench/docker-cli-floor.py (no container);
#   2. `docker exec CONTAINER true` in a running container;
#   3. `docker ps -a` with N (default 100) containers made;
#   4. daemon memory: berthd's RSS idle and with N running containers, against dockerd's +
#      containerd's;
#   5. `docker pull` of a 3-layer image (~130 MiB of this machine's files, gzip) from a local
#      registry (Debian's docker-registry on 127.0.0.1), cold: the image removed before each.
# Not a CI test; run as root after scripts/setup.sh. Everything lives in one temp dir.
set -euo pipefail
[ -n "${BENCH_DEBUG:-}" ] && set -x
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-30}
N=${2:-100}
PULL_RUNS=${PULL_RUNS:-5}
BERTH=${BERTH:-$here/build/src/berth}
BERTHD=${BERTHD:-$here/build/src/berthd}
work=$(mktemp -d /tmp/berth-bench-berthd.XXXXXX)
B=("$BERTH" --root "$work/b-root" --state "$work/b-run")
BD=(docker -H "unix://$work/berthd.sock")
DD=$work/docker
. "$here/bench/lib.sh"
berthd_pid=
cleanup() {
  "${B[@]}" ps -aq --no-trunc 2>/dev/null | xargs -r "${B[@]}" rm -f >/dev/null 2>&1 || true
  [ -n "$berthd_pid" ] && kill "$berthd_pid" 2>/dev/null && sleep 1
  stop_dockerd
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
"$BERTHD" --root "$work/b-root" --state "$work/b-run" -H "unix://$work/berthd.sock" \
  --config-file "$work/daemon.json" > "$work/berthd.log" 2>&1 &
berthd_pid=$!
for _ in $(seq 100); do "${BD[@]}" version >/dev/null 2>&1 && break; sleep 0.05; done
start_dockerd --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false
[ -n "$have_docker" ] || { echo "dockerd did not start: berthd alone" >&2; }

sleep 2
berthd_idle=$(rss_kib "$berthd_pid")
dockerd_idle=0
if [ -n "$have_docker" ]; then
  dockerd_idle=$(( $(rss_kib "$(cat "$DD/dockerd.pid")") + $(rss_kib "$(pgrep -o -x containerd)") ))
fi

# The client's floor: the same command against a server that answers at once with no
# container behind it (bench/docker-cli-floor.py) — the part no daemon can remove.
/usr/bin/python3 "$here/bench/docker-cli-floor.py" "$work/floor.sock" > /dev/null 2>&1 &
floor_pid=$!
for _ in $(seq 100); do [ -S "$work/floor.sock" ] && break; sleep 0.05; done
cmds=(-n berthd "${BD[*]} run --rm --network none bench/busybox true")
cmds+=(-n floor "docker -H unix://$work/floor.sock run --rm --network none bench/busybox true")
[ -n "$have_docker" ] && cmds+=(-n dockerd "${D[*]} run --rm --network none bench/busybox true")
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}" >/dev/null
kill "$floor_pid" 2>/dev/null || true

"${BD[@]}" run -d --name ex --network none bench/busybox sleep 1000 >/dev/null
cmds=(-n berthd "${BD[*]} exec ex true")
if [ -n "$have_docker" ]; then
  "${D[@]}" run -d --name ex --network none bench/busybox sleep 1000 >/dev/null
  cmds+=(-n dockerd "${D[*]} exec ex true")
fi
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/exec.json" "${cmds[@]}" >/dev/null

for i in $(seq "$N"); do
  "${BD[@]}" run -d --network none bench/busybox sleep 1000 >/dev/null
  [ -n "$have_docker" ] && "${D[@]}" run -d --network none bench/busybox sleep 1000 >/dev/null
done
sleep 1
berthd_busy=$(rss_kib "$berthd_pid")
dockerd_busy=0
if [ -n "$have_docker" ]; then
  dockerd_busy=$(( $(rss_kib "$(cat "$DD/dockerd.pid")") + $(rss_kib "$(pgrep -o -x containerd)") ))
fi
cmds=(-n berthd "${BD[*]} ps -a")
[ -n "$have_docker" ] && cmds+=(-n dockerd "${D[*]} ps -a")
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/ps.json" "${cmds[@]}" >/dev/null

# Pull through the API: the same client, the image removed (and its layers collected) before
# each run; 127.0.0.1 is an insecure registry for both daemons by default.
host_image_layout "$work/layout" pull /usr/lib/python3.11 /usr/libexec /usr/lib/x86_64-linux-gnu/perl
start_registry "$work"
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:pull" "docker://$REG/bench/pull:1"
PREF=$REG/bench/pull:1
cmds=(--prepare "sh -c '${BD[*]} rmi -f $PREF >/dev/null 2>&1 || true'" -n berthd "${BD[*]} pull -q $PREF")
[ -n "$have_docker" ] && cmds+=(--prepare "sh -c '${D[*]} rmi -f $PREF >/dev/null 2>&1 || true'" -n dockerd "${D[*]} pull -q $PREF")
hyperfine -N --warmup 1 --runs "$PULL_RUNS" --export-json "$work/pull.json" "${cmds[@]}" >/dev/null
# Both really pulled: the image is there afterwards.
"${BD[@]}" image inspect "$PREF" >/dev/null
[ -z "$have_docker" ] || "${D[@]}" image inspect "$PREF" >/dev/null
berthd_pulled=$(rss_kib "$berthd_pid")

echo "berthd bench ($(nproc) cores, $(uname -r), docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null)), medians of $RUNS runs"
for f in run exec ps pull; do
  jq -r --arg f "$f" '[.results[] | {(.command): .median}] | add |
    "\($f)\tberthd \(.berthd * 1000 * 100 | round / 100) ms" +
    (if .dockerd then "\tdockerd \(.dockerd * 1000 * 100 | round / 100) ms\tratio \(.berthd / .dockerd * 1000 | round / 1000)" else "" end)' "$work/$f.json"
done
jq -r '[.results[] | {(.command): .median}] | add | select(.floor and .dockerd) |
  "run, the client floor (docker CLI against an instant server) \(.floor * 1000 * 100 | round / 100) ms; " +
  "above it: berthd \((.berthd - .floor) * 1000 * 100 | round / 100) ms, dockerd \((.dockerd - .floor) * 1000 * 100 | round / 100) ms, " +
  "ratio \((.berthd - .floor) / (.dockerd - .floor) * 1000 | round / 1000)"' "$work/run.json"
echo "pull: $image_layers layers, $((image_bytes >> 20)) MiB uncompressed, medians of $PULL_RUNS runs"
echo "daemon RSS idle: berthd $((berthd_idle / 1024)) MiB, dockerd+containerd $((dockerd_idle / 1024)) MiB"
echo "daemon RSS with $N running: berthd $((berthd_busy / 1024)) MiB, dockerd+containerd $((dockerd_busy / 1024)) MiB"
echo "berthd RSS after the pulls (the registry module and libcurl loaded): $((berthd_pulled / 1024)) MiB"
