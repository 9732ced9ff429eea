# Shared by the bench scripts (sourced).

# crun 1.8 refuses this host's hybrid cgroup layout unless hugetlb is also mounted as a v1
# hierarchy: crun_hugetlb_setup mounts it when needed, crun_hugetlb_undo (call it from the
# EXIT trap) unmounts what setup mounted.
mounted_hugetlb=
crun_hugetlb_setup() {
  [ -d /sys/fs/cgroup/unified ] || return 0
  mountpoint -q /sys/fs/cgroup/hugetlb 2>/dev/null && return 0
  # The controller can move to a v1 hierarchy only while no v2 cgroup has it enabled.
  find /sys/fs/cgroup/unified -depth -name cgroup.subtree_control 2>/dev/null | while read -r f; do
    grep -qw hugetlb "$f" && echo -hugetlb > "$f" 2>/dev/null || true
  done
  if mkdir -p /sys/fs/cgroup/hugetlb 2>/dev/null && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null; then
    mounted_hugetlb=1
  else
    rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    echo "note: could not mount hugetlb as v1; crun may fail on this hybrid host" >&2
  fi
}
crun_hugetlb_undo() {
  if [ -n "$mounted_hugetlb" ]; then
    umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb
  fi
  return 0
}
