# Shared by the bench scripts (sourced).

# crun 1.8 refuses this host's hybrid cgroup layout unless hugetlb is also mounted as a v1
# hierarchy: crun_hugetlb_setup mounts it when needed, crun_hugetlb_undo (call it from the
# EXIT trap) unmounts what setup mounted and gives the controller back to the v2 tree, enabled
# where it was ($hugetlb_v2_enabled: the cgroup.subtree_control files that had it, top down).
mounted_hugetlb=
hugetlb_v2_enabled=
crun_hugetlb_setup() {
  [ -d /sys/fs/cgroup/unified ] || return 0
  mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null && return 0
  # The controller can move to a v1 hierarchy only while no v2 cgroup has it enabled.
  hugetlb_v2_enabled=$(find /sys/fs/cgroup/unified -name cgroup.subtree_control -exec grep -lw hugetlb {} + 2>/dev/null | sort || true)
  local f
  for f in $(echo "$hugetlb_v2_enabled" | sort -r); do echo -hugetlb > "$f" 2>/dev/null || true; done
  if mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null; then
    mounted_hugetlb=1
  else
    rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    echo "note: could not mount hugetlb as v1; crun may fail on this hybrid host" >&2
    crun_hugetlb_reenable
  fi
}
crun_hugetlb_reenable() {
  local f
  for f in $hugetlb_v2_enabled; do echo +hugetlb > "$f" 2>/dev/null || true; done
}
crun_hugetlb_undo() {
  [ -n "$mounted_hugetlb" ] || return 0
  # The hierarchy goes (and the controller back to v2) at an unmount that finds no cgroup
  # left in it, dying ones included: those of containers just gone linger a moment, so the
  # unmount is tried again (a new mount of the same hierarchy) until the controller is back.
  local i
  for i in $(seq 1 25); do
    find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
    umount /sys/fs/cgroup/hugetlb 2>/dev/null
    sleep 0.2
    grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null || break
  done
  rmdir /sys/fs/cgroup/hugetlb 2>/dev/null
  grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers ||
    echo "note: hugetlb is still a v1 hierarchy (mount it, remove its cgroups, unmount it)" >&2
  crun_hugetlb_reenable
  mounted_hugetlb=
  return 0
}

# start_dockerd [dockerd flags…]: a dockerd of the bench's own under $DD (data, exec root,
# socket, containerd namespace), with the given flags; D=(docker -H …) and have_docker=1
# once it answers, and the rootfs $work/rootfs.tar imported as bench/busybox. Stop it with
# stop_dockerd (from the EXIT trap).
have_docker=
D=()
start_dockerd() {
  command -v dockerd >/dev/null && command -v docker >/dev/null || return 0
  mkdir -p "$DD"
  # DOCKERD_JSON: more daemon.json keys (`, "runtimes": {…}`).
  printf '{"deprecated-key-path": "%s"%s}\n' "$DD/key.json" "${DOCKERD_JSON:-}" > "$DD/daemon.json"
  setsid dockerd --config-file "$DD/daemon.json" --data-root "$DD/data" --exec-root "$DD/exec" \
    --pidfile "$DD/dockerd.pid" -H "unix://$DD/docker.sock" \
    --containerd-namespace berth-bench --containerd-plugins-namespace berth-bench-plugins \
    --exec-opt native.cgroupdriver=cgroupfs "$@" > "$DD/dockerd.log" 2>&1 < /dev/null &
  D=(docker -H "unix://$DD/docker.sock")
  for _ in $(seq 150); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.2; done
  if "${D[@]}" version >/dev/null 2>&1; then
    "${D[@]}" import "$work/rootfs.tar" bench/busybox >/dev/null
    have_docker=1
  fi
}
stop_dockerd() {
  ((${#D[@]})) || return 0
  "${D[@]}" ps -aq | xargs -r "${D[@]}" rm -f >/dev/null 2>&1 || true
  [ -f "$DD/dockerd.pid" ] && kill "$(cat "$DD/dockerd.pid")" 2>/dev/null && sleep 2
  D=()  # stopped: a second call (cleanup_work after a bench's own cleanup) has nothing to do
  return 0
}

# save_host_network / restore_host_network: the host's iptables rules and links before a bench
# whose dockerd runs with its defaults (docker0, its chains) and whose engines make bridges and
# veths; put back by the bench's cleanup. (Sets links_before; $work must exist.)
save_host_network() {
  iptables-save > "$work/iptables.before"
  links_before=$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)
}
restore_host_network() {
  local l
  for l in $(comm -13 <(echo "$links_before") <(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort)); do
    ip link del "$l" 2>/dev/null || true
  done
  iptables-restore < "$work/iptables.before"
}

# cleanup_work: what a bench of the engines leaves — berth's containers (B), podman's (P),
# the bench's dockerd, mounts under $work, $work itself. (From the EXIT trap.)
cleanup_work() {
  "${B[@]}" ps -aq --no-trunc 2>/dev/null | xargs -r "${B[@]}" rm -f >/dev/null 2>&1 || true
  "${P[@]}" rm -af >/dev/null 2>&1 || true
  "${P[@]}" system reset -f >/dev/null 2>&1 || true
  stop_dockerd
  crun_hugetlb_undo
  umount -R "$work" 2>/dev/null || true
  grep " $work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}

# host_image_layout LAYOUT NAME SOURCE… : an OCI image layout at LAYOUT whose image (tag NAME)
# has one gzip layer per SOURCE (a file or directory of this machine, real bytes: they
# compress as software does). Sets image_layers and image_bytes (uncompressed).
host_image_layout() {
  local L=$1 name=$2 src d tmp
  shift 2
  tmp=$(mktemp -d "$L.tmp.XXXXXX")
  mkdir -p "$L/blobs/sha256"
  local diff_ids=() layers=()
  image_bytes=0
  for src in "$@"; do
    [ -e "$src" ] || continue
    tar -C / -cf "$tmp/layer.tar" "${src#/}"
    image_bytes=$((image_bytes + $(stat -c %s "$tmp/layer.tar")))
    diff_ids+=("sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)")
    gzip -6 -c "$tmp/layer.tar" > "$tmp/layer.tgz"
    d=$(sha256sum "$tmp/layer.tgz" | cut -d' ' -f1)
    mv "$tmp/layer.tgz" "$L/blobs/sha256/$d"
    layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$L/blobs/sha256/$d")}")
  done
  image_layers=${#layers[@]}
  local ids cd_ ls_ md ms
  ids=$(printf '"%s",' "${diff_ids[@]}")
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "${ids%,}" > "$tmp/config.json"
  cd_=$(sha256sum "$tmp/config.json" | cut -d' ' -f1); mv "$tmp/config.json" "$L/blobs/sha256/$cd_"
  ls_=$(IFS=,; echo "${layers[*]}")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[%s]}' \
    "$cd_" "$(stat -c %s "$L/blobs/sha256/$cd_")" "$ls_" > "$tmp/m.json"
  md=$(sha256sum "$tmp/m.json" | cut -d' ' -f1); ms=$(stat -c %s "$tmp/m.json"); mv "$tmp/m.json" "$L/blobs/sha256/$md"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$L/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$md" "$ms" "$name" > "$L/index.json"
  rm -rf "$tmp"
}

# start_registry DIR: Debian's docker-registry on 127.0.0.1 (a free port), storing under
# DIR/reg; sets REG (HOST:PORT) and REG_PID (kill it from the EXIT trap).
REG_PID=
start_registry() {
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REG=127.0.0.1:$port
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' "$1/reg" "$REG" > "$1/reg.yml"
  docker-registry serve "$1/reg.yml" > "$1/reg.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/v2/" && break; sleep 0.1; done
}
