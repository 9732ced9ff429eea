#!/usr/bin/env bash
# Pull of a multi-layer image (~300 MiB uncompressed, real files from this machine) from a
# local registry (Debian's docker-registry on 127.0.0.1), side by side:
#   berth pull  |  podman pull  |  docker pull (a dockerd started here)  |  skopeo copy + umoci unpack
# cold (empty store each run) and warm (the image is already there), hyperfine medians, and the
# machine's own sha256 and gzip-decompression throughput for scale. Not a CI test.
# Usage: bench/image-pull.sh [RUNS]   (as root, after scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
BERTH=${BERTH:-$PWD/build/src/berth}
W=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
DOCKERD_PID=""
. bench/lib.sh
cleanup() {
  [ -n "$DOCKERD_PID" ] && kill "$DOCKERD_PID" 2>/dev/null && sleep 2
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null
  pkill -f "containerd --config $W" 2>/dev/null || true
  umount -R "$W/docker" 2>/dev/null || true
  rm -rf "$W" 2>/dev/null || true
}
trap cleanup EXIT

# 1. The image: one gzip layer per source directory, pushed to a registry of the bench's own.
echo "building the image from host files..." >&2
L=$W/layout
host_image_layout "$L" big /usr/lib/x86_64-linux-gnu/perl /usr/lib/x86_64-linux-gnu/dri /usr/lib/python3.11 \
  /usr/libexec /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1 /usr/lib/x86_64-linux-gnu/libclang-14.so.14.0.6
start_registry "$W"
skopeo copy -q --dest-tls-verify=false "oci:$L:big" "docker://$REG/bench/big:1"
REF=$REG/bench/big:1
compressed=$(du -cb "$L"/blobs/sha256/* | tail -1 | cut -f1)

# 2. The machine's limits: sha256 of the compressed bytes + gzip -d to the uncompressed size.
t0=$(date +%s.%N); cat "$L"/blobs/sha256/* | sha256sum >/dev/null; t1=$(date +%s.%N)
for f in "$L"/blobs/sha256/*; do gzip -dc "$f" 2>/dev/null | sha256sum >/dev/null || true; done; t2=$(date +%s.%N)

# 3. Peers.
export DOCKER_HOST=unix://$W/docker.sock
if command -v dockerd >/dev/null; then
  mkdir -p "$W/docker"
  printf '{"deprecated-key-path": "%s"}\n' "$W/key.json" > "$W/daemon.json"
  setsid dockerd --config-file "$W/daemon.json" --data-root "$W/docker/data" --exec-root "$W/docker/exec" \
    --pidfile "$W/docker.pid" -H "$DOCKER_HOST" --containerd-namespace berth-bench \
    --containerd-plugins-namespace berth-bench-plugins --bridge none --iptables=false \
    --ip6tables=false --ip-masq=false > "$W/dockerd.log" 2>&1 < /dev/null &
  DOCKERD_PID=$!
  for _ in $(seq 150); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
fi
P=(podman --root "$W/p-storage" --runroot "$W/p-run" --tmpdir "$W/p-tmp")
cmds=(--prepare "rm -rf $W/b" -n "berth cold" "$BERTH --root $W/b pull -q $REF"
      --prepare "rm -rf $W/p-storage $W/p-run" -n "podman cold" "${P[*]} pull -q --tls-verify=false $REF"
      --prepare "rm -rf $W/sk $W/skb" -n "skopeo+umoci cold"
      "sh -c 'skopeo copy -q --src-tls-verify=false docker://$REF oci:$W/sk:1 && umoci unpack --image $W/sk:1 $W/skb >/dev/null'")
if docker version >/dev/null 2>&1; then
  cmds+=(--prepare "docker rmi -f $REF >/dev/null 2>&1; docker image prune -af >/dev/null 2>&1 || true"
         -n "docker cold" "docker pull -q $REF")
fi
hyperfine -N --runs "$RUNS" --export-json "$W/cold.json" "${cmds[@]}" >/dev/null 2>&1 || hyperfine --runs "$RUNS" --export-json "$W/cold.json" "${cmds[@]}" >/dev/null
"$BERTH" --root "$W/b" pull -q "$REF" >/dev/null
"${P[@]}" pull -q --tls-verify=false "$REF" >/dev/null
warm=(-n "berth warm" "$BERTH --root $W/b pull -q $REF" -n "podman warm" "${P[*]} pull -q --tls-verify=false $REF")
if docker version >/dev/null 2>&1; then docker pull -q "$REF" >/dev/null; warm+=(-n "docker warm" "docker pull -q $REF"); fi
hyperfine -N --warmup 2 --runs 10 --export-json "$W/warm.json" "${warm[@]}" >/dev/null

echo "image pull bench ($(nproc) cores, $(uname -r)): ${#diff_ids[@]} layers, $((total >> 20)) MiB uncompressed, $((compressed >> 20)) MiB gzip"
python3 -c 'import sys; c,t,a,b,d=map(float,sys.argv[1:]); print(f"machine: sha256 of the compressed bytes {c/1048576/(b-a):.0f} MiB/s; gzip -d + sha256 (zlib, one core) {t/1048576/(d-b):.0f} MiB/s of output")' \
  "$compressed" "$image_bytes" "$t0" "$t1" "$t2"
for f in "$W/cold.json" "$W/warm.json"; do
  python3 - "$f" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
for x in r:
    print(f"{x['command']:<20} median {statistics.median(x['times'])*1000:9.1f} ms   (runs: {', '.join(f'{t*1000:.0f}' for t in x['times'])})")
base = next((x for x in r if x["command"].startswith("berth")), None)
if base:
    b = statistics.median(base["times"])
    for x in r:
        if x is not base:
            print(f"  ratio berth / {x['command']}: {b / statistics.median(x['times']):.2f}")
PY
done
