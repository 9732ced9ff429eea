#!/usr/bin/env bash
# bench/build.sh [RUNS]: `berth build` against `docker build` (dockerd 20.10: the classic
# builder, and BuildKit), `buildah bud --layers` and `podman build`, the same Dockerfile and
# context, side by side in one run, medians and ratios (issue 15's scenarios):
#   1. cold: --no-cache, a 3-stage Dockerfile — two independent builder stages (one hashes a
#      20 MB file, one lists 300 small files; each RUN also sleeps 0.5 s, standing in for a
#      compiler) and a final stage of 10 steps that copies from both;
#   2. cached: the same again, every step cached;
#   3. edit: one small file of the last COPY changed before each run (the steps from there on
#      run again).
# Every RUN with --network none (the same for all). Not a CI test; run as root after
# scripts/setup.sh. Everything lives in one temp dir.
set -euo pipefail
[ -n "${BENCH_DEBUG:-}" ] && set -x
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
BERTH=${BERTH:-$here/build/src/berth}
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
B=("$BERTH" --root "$work/b-root" --state "$work/b-run")
DD=$work/docker
P=(podman --root "$work/p-root" --runroot "$work/p-run" --runtime runc --cgroup-manager cgroupfs --events-backend none)
. "$here/bench/lib.sh"
cleanup() {
  stop_dockerd
  "${P[@]}" rm -af >/dev/null 2>&1 || true
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

BERTH_RUNTIME=$here/build/src/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${B[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
# The 20.10 client: its DOCKER_BUILDKIT=1 uses the daemon's BuildKit (a newer client wants buildx).
export PATH=/usr/bin:$PATH
start_dockerd --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false
have_podman=
if command -v podman >/dev/null && "${P[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null 2>&1; then
  have_podman=1
fi

# The context: 300 files of 1-8 KiB in a tree, one of 20 MB, the file the edit scenario changes.
ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 300); do
  mkdir -p "$ctx/src/d$((i % 10))"
  head -c $(( (i % 8 + 1) * 1024 )) /dev/urandom > "$ctx/src/d$((i % 10))/f$i"
done
head -c 20000000 /dev/urandom > "$ctx/big.bin"
echo 0 > "$ctx/late.txt"
cat > "$ctx/Dockerfile" <<'EOF'
FROM bench/busybox AS deps
COPY src /src/
RUN mkdir /out && ls -R /src | wc -l > /out/count && sleep 0.5
FROM bench/busybox AS assets
COPY big.bin /big.bin
RUN sha256sum /big.bin | cut -c1-16 > /sum && sleep 0.5
FROM bench/busybox
ENV APP=/app MODE=bench
WORKDIR /app
LABEL bench=build
COPY --from=deps /out/count out/count
COPY --from=assets /sum out/sum
EXPOSE 8080
COPY late.txt ./
RUN cat late.txt out/count out/sum > out/all
CMD ["cat", "/app/out/all"]
EOF

# Each peer builds once first: what it built must run and print what berth's prints.
"${B[@]}" build -q --network none -t bench/app "$ctx" >/dev/null
want=$("${B[@]}" run --rm --network none bench/app)
check() {  # NAME OUTPUT
  if [ "$2" != "$want" ]; then echo "$1 built something else: '$2' (berth: '$want')" >&2; exit 1; fi
}
cmds_cold=(-n berth "${B[*]} build -q --no-cache --network none -t bench/app $ctx")
cmds_warm=(-n berth "${B[*]} build -q --network none -t bench/app $ctx")
if [ -n "$have_docker" ]; then
  DOCKER_BUILDKIT=0 "${D[@]}" build -q --network none -t bench/app "$ctx" >/dev/null
  check docker "$("${D[@]}" run --rm --network none bench/app)"
  DOCKER_BUILDKIT=1 "${D[@]}" build -q --network none -t bench/app-bk "$ctx" >/dev/null
  check buildkit "$("${D[@]}" run --rm --network none bench/app-bk)"
  cmds_cold+=(-n docker-classic "env DOCKER_BUILDKIT=0 ${D[*]} build -q --no-cache --network none -t bench/app $ctx")
  cmds_cold+=(-n docker-buildkit "env DOCKER_BUILDKIT=1 ${D[*]} build -q --no-cache --network none -t bench/app-bk $ctx")
  cmds_warm+=(-n docker-classic "env DOCKER_BUILDKIT=0 ${D[*]} build -q --network none -t bench/app $ctx")
  cmds_warm+=(-n docker-buildkit "env DOCKER_BUILDKIT=1 ${D[*]} build -q --network none -t bench/app-bk $ctx")
else
  echo "dockerd did not start: no docker numbers" >&2
fi
if [ -n "$have_podman" ]; then
  "${P[@]}" build -q --network none -t bench/app "$ctx" >/dev/null
  check podman "$("${P[@]}" run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none bench/app)"
  cmds_cold+=(-n podman "${P[*]} build -q --no-cache --network none -t bench/app $ctx")
  cmds_warm+=(-n podman "${P[*]} build -q --network none -t bench/app $ctx")
  # buildah on podman's storage (the image is there), runc as podman's.
  if command -v buildah >/dev/null; then
    BA=(buildah --root "$work/p-root" --runroot "$work/p-run")
    "${BA[@]}" bud -q --layers --runtime runc --network none -t bench/app-ba "$ctx" >/dev/null
    check buildah "$("${P[@]}" run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none bench/app-ba)"
    cmds_cold+=(-n buildah "${BA[*]} bud -q --layers --no-cache --runtime runc --network none -t bench/app-ba $ctx")
    cmds_warm+=(-n buildah "${BA[*]} bud -q --layers --runtime runc --network none -t bench/app-ba $ctx")
  fi
else
  echo "podman could not import the image: no podman or buildah numbers" >&2
fi
# The edit scenario: the same commands as warm, a changed late.txt before each run.
cmds_edit=("${cmds_warm[@]}")

report() {  # SCENARIO JSON
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
res = {r["command"]: r for r in json.load(open(path))["results"]}
base = res["berth"]["median"]
print(f"{name}:")
for cmd, r in res.items():
    print(f"  {cmd:16s} median {r['median']*1000:8.1f} ms  (min {r['min']*1000:.1f}, max {r['max']*1000:.1f})  berth/this {base / r['median']:.2f}")
PY
}
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/cold.json" "${cmds_cold[@]}" >/dev/null
report "cold (--no-cache, 3 stages)" "$work/cold.json"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/warm.json" "${cmds_warm[@]}" >/dev/null
report "warm (all cached)" "$work/warm.json"
hyperfine -N --warmup 1 --runs "$RUNS" --prepare "sh -c 'date +%s%N > $ctx/late.txt'" --export-json "$work/edit.json" "${cmds_edit[@]}" >/dev/null
report "edit (the last COPY's file changed)" "$work/edit.json"
