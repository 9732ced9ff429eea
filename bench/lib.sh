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
  hugetlb_v2_enabled=$(find /sys/fs/cgroup/unified -name cgroup.subtree_control -exec grep -lw hugetlb {} + 2>/dev/null | sort)
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
  return 0
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
