#!/usr/bin/env bash
# bench/network.sh [RUNS]: networking, side by side in one run, medians and ratios:
#   1. `run --rm IMAGE true` on each engine's default bridge network, and with --network none:
#      the difference is what network setup adds to a run (berth: CNI bridge + host-local;
#      podman: its default network; docker: docker0 through libnetwork). berth's default
#      network keeps 2 spares (namespaces attached ahead); `berth-cold` is a berth network
#      with -o warm=0 (the plugins in the run's path). Measured twice: runs back to back
#      (what a loop of runs gets: the CPUs are shared with the previous runs' DEL and spare
#      making), and spaced (--prepare sleep: what one run gets on an idle host);
#   2. a published port: busybox httpd in a container, -p 127.0.0.1:PORT:80, curl on the host
#      — throughput of a 256 MiB file (MiB/s, median of 5) and the time of a small request
#      on a new connection (one curl, 200 requests, RUNS times);
#   3. the embedded DNS server on a user network (berth: the shim; docker: dockerd): the
#      latency of lookups from inside a container, a container's name and a name passed on.
# Not a CI test; run as root after scripts/setup.sh. dockerd runs with its defaults (bridge,
# iptables, userland proxy); the host's iptables rules are saved first and restored at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-20}
BERTH=${BERTH:-$here/build/src/berth}
work=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
B=("$BERTH" --root "$work/b-root" --state "$work/b-run")
P=(podman --root "$work/p-storage" --runroot "$work/p-run" --tmpdir "$work/p-tmp"
   --cgroup-manager cgroupfs --events-backend file)
DD=$work/docker
. "$here/bench/lib.sh"
save_host_network
cleanup() {
  [ -f "$work/upstream.pid" ] && kill "$(cat "$work/upstream.pid")" 2>/dev/null || true
  ip addr del 198.18.0.53/32 dev lo 2>/dev/null || true
  "${B[@]}" ps -aq --no-trunc 2>/dev/null | xargs -r "${B[@]}" rm -f >/dev/null 2>&1 || true
  "${B[@]}" network rm berth cold dnsbench >/dev/null 2>&1 || true
  "${P[@]}" rm -af >/dev/null 2>&1 || true
  "${P[@]}" system reset -f >/dev/null 2>&1 || true
  stop_dockerd
  restore_host_network  # links the engines made (docker0, podman's bridge, veths), iptables
  crun_hugetlb_undo
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

crun_hugetlb_setup

BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true
mkdir -p "$work/www"
head -c $((256 << 20)) /dev/urandom > "$work/www/big"
echo small > "$work/www/small"
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
"${P[@]}" import "$work/rootfs.tar" localhost/bench/busybox >/dev/null 2>&1

start_dockerd

# This host lacks CAP_SYS_RESOURCE: podman gets rlimits within the current ones.
PUL=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
"${B[@]}" network create -o warm=0 cold >/dev/null
cmds=(-n berth "${B[*]} run --rm bench/busybox true"
      -n berth-cold "${B[*]} run --rm --network cold bench/busybox true"
      -n berth-none "${B[*]} run --rm --network none bench/busybox true"
      -n podman "${P[*]} run --rm ${PUL[*]} localhost/bench/busybox true"
      -n podman-none "${P[*]} run --rm --network none ${PUL[*]} localhost/bench/busybox true")
[ -n "$have_docker" ] && cmds+=(-n docker "${D[*]} run --rm bench/busybox true"
                               -n docker-none "${D[*]} run --rm --network none bench/busybox true")
echo "network bench ($(nproc) cores, $(uname -r)), medians of $RUNS runs"
for mode in back-to-back spaced; do
  prep=()
  [ "$mode" = spaced ] && prep=(--prepare "sleep 0.5")
  hyperfine -N --warmup 3 --runs "$RUNS" "${prep[@]}" --export-json "$work/run-$mode.json" "${cmds[@]}" >/dev/null
  jq -r '.results[] | "\(.command)\t\(.median*1000)"' "$work/run-$mode.json" |
    awk -F'\t' -v m="$mode" '{printf "run --rm true %-12s %-12s %9.2f ms\n", m, $1, $2}'
  jq -r --arg m "$mode" '[.results[] | {(.command): .median}] | add |
    "network setup adds (\($m)): berth \((.berth - .["berth-none"]) * 1000 | round) ms (cold \((.["berth-cold"] - .["berth-none"]) * 1000 | round)), podman \((.podman - .["podman-none"]) * 1000 | round) ms" +
    (if .docker then ", docker \((.docker - .["docker-none"]) * 1000 | round) ms" else "" end) +
    "\nratios on the default network (\($m)): berth/podman = \(.berth / .podman * 1000 | round / 1000)" +
    (if .docker then ", berth/docker = \(.berth / .docker * 1000 | round / 1000)" else "" end)' "$work/run-$mode.json"
done
# What the network costs in CPU per container (ADD + DEL: four Go programs), from /proc/stat.
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
for net in berth cold none; do
  sleep 2
  a=$(busy)
  for _ in $(seq 20); do "${B[@]}" run --rm --network "$net" bench/busybox true; done
  sleep 2
  b=$(busy)
  echo "cpu per run --rm true, berth --network $net: $(( (b - a) * 1000 / $(getconf CLK_TCK) / 20 )) ms"
done

# ---- A published port: throughput and latency through 127.0.0.1.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
publish() {  # label port command… (the engine's run -d with the volume and -p)
  local label=$1 port=$2; shift 2
  "$@" -v "$work/www:/www:ro" -p "127.0.0.1:$port:80" "$([ "$label" = podman ] && echo localhost/)bench/busybox" \
    httpd -f -p 80 -h /www >/dev/null
  for _ in $(seq 100); do curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/small" 2>/dev/null && break; sleep 0.1; done
  local speeds=()
  for _ in 1 2 3 4 5; do
    speeds+=("$(curl -fsS -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/big")")
  done
  printf '%s\n' "${speeds[@]}" | sort -n | awk -v l="$label" 'NR==3 {printf "published port  %-8s %9.0f MiB/s (256 MiB file, median of 5)\n", l, $1 / 1048576}'
  echo "$label $port" >> "$work/ports"
}
: > "$work/ports"
publish berth "$(free_port)" "${B[@]}" run -d --name web
publish podman "$(free_port)" "${P[@]}" run -d --name web "${PUL[@]}"
[ -n "$have_docker" ] && publish docker "$(free_port)" "${D[@]}" run -d --name web
# 200 small requests from one curl (busybox httpd closes every connection: 200 new TCP
# connections through the port's NAT or proxy).
lat=()
while read -r label port; do
  lat+=(-n "$label" "curl -fsS http://127.0.0.1:$port/small?[1-200]")
done < "$work/ports"
hyperfine -N --warmup 2 --runs "$RUNS" --export-json "$work/lat.json" "${lat[@]}" >/dev/null
jq -r '.results[] | "\(.command)\t\(.median*1000000/200)"' "$work/lat.json" |
  awk -F'\t' '{printf "published port  %-8s %9.0f us per request (200 new connections, one curl)\n", $1, $2}'

# ---- Names: the embedded DNS server (berth: the container's shim; docker: dockerd) on a user
# network — the latency of a lookup of a container's name, and of one passed on to an upstream
# server (a stub on an address of the host's, 198.18.0.53 on lo, that answers every name at once:
# what is measured is the engines' own path), asked from inside a container's namespace, one
# after the other, over UDP.
cat > "$work/dnsq.py" <<'PY'
import socket, statistics, struct, sys, time
name, n = sys.argv[1], int(sys.argv[2])
q = struct.pack(">HHHHHH", 0, 0x100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
took, lost = [], 0
for i in range(n):
    m = struct.pack(">H", i) + q[2:]
    t = time.perf_counter_ns(); s.sendto(m, ("127.0.0.11", 53))
    try:
        while s.recv(65536)[:2] != m[:2]: pass
    except TimeoutError:
        lost += 1
    took.append(time.perf_counter_ns() - t)
took.sort()
print("%.0f %.0f %d" % (statistics.median(took) / 1000, took[int(len(took) * 0.99)] / 1000, lost))
PY
cat > "$work/upstream.py" <<'PY'
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.18.0.53", 53))
while True:
    q, peer = s.recvfrom(4096)
    end = q.index(b"\0", 12) + 5
    s.sendto(q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + q[12:end] + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("192.0.2.1"), peer)
PY
ip addr add 198.18.0.53/32 dev lo
/usr/bin/python3 "$work/upstream.py" & echo $! > "$work/upstream.pid"
sleep 0.5
dns_row() {  # label pid name count
  read -r med p99 lost < <(nsenter --net="/proc/$2/ns/net" /usr/bin/python3 "$work/dnsq.py" "$3" "$4")
  printf 'dns lookup      %-8s %-14s %7s us median, %7s us p99 (%s queries, %s unanswered)\n' "$1" "$3" "$med" "$p99" "$4" "$lost"
}
"${B[@]}" network create dnsbench >/dev/null
"${B[@]}" run -d --name dweb --network dnsbench bench/busybox sleep 600 >/dev/null
"${B[@]}" run -d --name dcl --network dnsbench --dns 198.18.0.53 bench/busybox sleep 600 >/dev/null
bpid=$("${B[@]}" inspect -f '{{.State.Pid}}' dcl)
if [ -n "$have_docker" ]; then
  "${D[@]}" network create dnsbench >/dev/null
  "${D[@]}" run -d --name dweb --network dnsbench bench/busybox sleep 600 >/dev/null
  "${D[@]}" run -d --name dcl --network dnsbench --dns 198.18.0.53 bench/busybox sleep 600 >/dev/null
  dpid=$("${D[@]}" inspect -f '{{.State.Pid}}' dcl)
fi
for name in dweb outside.test; do
  dns_row berth "$bpid" "$name" 2000
  [ -n "$have_docker" ] && dns_row docker "$dpid" "$name" 2000
done
