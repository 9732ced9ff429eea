#!/usr/bin/env bash
# bench/runtimes.sh [RUNS]: `run --rm IMAGE true` (--network none) through an external runtime,
# side by side in one run, medians and ratios:
#   gVisor: berth --runtime runsc (daemon.json runtimes) vs docker run --runtime runsc (dockerd
#           with the same runtime and runtimeArgs) vs podman --runtime /usr/bin/runsc (same
#           flags through --runtime-flag), and bare `runsc run` of the same rootfs as the floor;
#   runc:   berth --runtime runc vs docker (its default, runc) vs podman --runtime runc, and bare
#           `runc run`;
#   berth's own runtime, for scale.
# The issue's targets: berth ≤ 0.5× the faster peer with the same runtime. Each peer is checked
# to have really run (a run that fails is reported, not timed). Not a CI test; run as root
# after scripts/setup.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-20}
BERTH=${BERTH:-$here/build/src/berth}
work=$(mktemp -d /tmp/berth-bench-runtimes.XXXXXX)
RUNSC_FLAGS=(--platform=ptrace --network=host)
printf '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}}}\n' > "$work/daemon.json"
B=("$BERTH" --config "$work/daemon.json" --root "$work/b-root" --state "$work/b-run")
P=(podman --root "$work/p-storage" --runroot "$work/p-run" --tmpdir "$work/p-tmp"
   --cgroup-manager cgroupfs --events-backend file)
DD=$work/docker
. "$here/bench/lib.sh"
trap cleanup_work EXIT

BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true >/dev/null
jq '.ociVersion = "1.0.2" | .linux.namespaces |= map(select(.type != "network"))' "$work/bundle/config.json" > "$work/c" && mv "$work/c" "$work/bundle/config.json"
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
"${P[@]}" import "$work/rootfs.tar" localhost/bench/busybox >/dev/null 2>&1
DOCKERD_JSON=', "runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}}' \
  start_dockerd --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false
# This host lacks CAP_SYS_RESOURCE: podman gets rlimits within the current ones.
PUL=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
PRUNSC=(--runtime /usr/bin/runsc --runtime-flag platform=ptrace --runtime-flag network=host)

cmds=()
# add NAME COMMAND: timed only if one run of it succeeds.
add() {
  if bash -c "$2" >/dev/null 2>"$work/err"; then
    cmds+=(-n "$1" "$2")
  else
    echo "note: $1 does not run here: $(tail -1 "$work/err")" >&2
  fi
}
if command -v runsc >/dev/null; then
  add berth-runsc "${B[*]} run --rm --network none --runtime runsc bench/busybox true"
  [ -n "$have_docker" ] && add docker-runsc "${D[*]} run --rm --network none --runtime runsc bench/busybox true"
  add podman-runsc "${P[*]} ${PRUNSC[*]} run --rm --network none ${PUL[*]} localhost/bench/busybox true"
  add runsc-bare "runsc ${RUNSC_FLAGS[*]} --root $work/runsc run --bundle $work/bundle bench"
fi
add berth-runc "${B[*]} run --rm --network none --runtime runc bench/busybox true"
[ -n "$have_docker" ] && add docker-runc "${D[*]} run --rm --network none bench/busybox true"
add podman-runc "${P[*]} --runtime runc run --rm --network none ${PUL[*]} localhost/bench/busybox true"
add runc-bare "runc --root $work/runc run --bundle $work/bundle bench"
add berth "${B[*]} run --rm --network none bench/busybox true"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$work/run.json" "${cmds[@]}" >/dev/null

echo "runtimes bench ($(nproc) cores, $(uname -r)), medians of $RUNS runs of run --rm true"
jq -r '.results[] | "\(.command)\t\(.median*1000)"' "$work/run.json" | awk -F'\t' '{printf "  %-14s %9.1f ms\n", $1, $2}'
jq -r '[.results[] | {(.command): .median}] | add |
  def r(a; b): if .[a] and .[b] then "\(a)/\(b) = \(.[a] / .[b] * 100 | round / 100)" else empty end;
  [r("berth-runsc"; "docker-runsc"), r("berth-runsc"; "podman-runsc"), r("berth-runsc"; "runsc-bare"),
   r("berth-runc"; "docker-runc"), r("berth-runc"; "podman-runc"), r("berth-runc"; "runc-bare")] | "ratios: " + join(", ")' "$work/run.json"
