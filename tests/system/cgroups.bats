#!/usr/bin/env bats
# Control groups through one interface on v1, v2 and hybrid hosts (this CI machine is
# hybrid: v1 controllers plus a v2 tree with only hugetlb).

load helpers

# The tests put containers under /berth-test/<id>; remove the shared parent too.
teardown() {
  _berth_teardown
  for d in /sys/fs/cgroup/*/berth-test /sys/fs/cgroup/berth-test; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
  done
}

cgmode() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then echo v2
  elif [ -d /sys/fs/cgroup/unified ] && [ "$(stat -fc %T /sys/fs/cgroup/unified)" = cgroup2fs ]; then echo hybrid
  else echo v1; fi
}

# cg_file CONTROLLER FILE: the host path of a knob of this test's container cgroup.
cg_file() {
  local path=$1 ctrl=$2 file=$3
  if [ "$(cgmode)" = v2 ]; then echo "/sys/fs/cgroup$path/$file"; else echo "/sys/fs/cgroup/$ctrl$path/$file"; fi
}

@test "memory, pids, cpu and cpuset limits are written and the process is in the cgroup" {
  local cgpath="/berth-test/$ID"
  set_args sleep 100
  set_config '.linux.cgroupsPath = $p | .linux.resources = {
      "memory": {"limit": 33554432, "reservation": 16777216},
      "pids": {"limit": 20},
      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}}' --arg p "$cgpath"
  rt create --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  if [ "$(cgmode)" = v2 ]; then
    [ "$(cat "$(cg_file "$cgpath" "" memory.max)")" = 33554432 ]
    [ "$(cat "$(cg_file "$cgpath" "" pids.max)")" = 20 ]
    [ "$(cat "$(cg_file "$cgpath" "" cpu.max)")" = "50000 100000" ]
    grep -qx "$pid" "$(cg_file "$cgpath" "" cgroup.procs)"
  else
    [ "$(cat "$(cg_file "$cgpath" memory memory.limit_in_bytes)")" = 33554432 ]
    [ "$(cat "$(cg_file "$cgpath" memory memory.soft_limit_in_bytes)")" = 16777216 ]
    [ "$(cat "$(cg_file "$cgpath" pids pids.max)")" = 20 ]
    [ "$(cat "$(cg_file "$cgpath" cpu cpu.shares)")" = 512 ]
    [ "$(cat "$(cg_file "$cgpath" cpu cpu.cfs_quota_us)")" = 50000 ]
    [ "$(cat "$(cg_file "$cgpath" cpuset cpuset.cpus)")" = 0 ]
    for c in memory pids cpu cpuset devices freezer blkio; do
      grep -qx "$pid" "$(cg_file "$cgpath" $c cgroup.procs)"
    done
    if [ "$(cgmode)" = hybrid ]; then grep -qx "$pid" "/sys/fs/cgroup/unified$cgpath/cgroup.procs"; fi
  fi
  rt delete "$ID"
  # Every directory of the container is gone, in every hierarchy.
  ! find /sys/fs/cgroup -path "*berth-test/$ID*" | grep -q . || false
}

@test "the pids limit is enforced inside the container" {
  set_config '.linux.resources.pids = {"limit": 5}'
  set_args sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"can't fork"* || "$output" == *"Resource temporarily unavailable"* || "$output" == *"fork"* ]]
  assert_clean "$ID"
}

@test "the memory limit is enforced (the OOM killer ends a process that exceeds it)" {
  set_config '.linux.resources.memory = {"limit": 16777216, "swap": 16777216}'
  # Keep 64 MiB in a shell variable: far over the limit.
  set_args sh -c 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo survived ${#x}'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [[ "$output" != *survived* ]]
  assert_clean "$ID"
}

@test "the container sees its own cgroup through the cgroup mount and cgroup namespace" {
  set_config '.linux.resources.memory = {"limit": 41943040}'
  if [ "$(cgmode)" = v2 ]; then
    set_args cat /sys/fs/cgroup/memory.max
  else
    set_args cat /sys/fs/cgroup/memory/memory.limit_in_bytes
  fi
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 0 ]
  [ "$output" = 41943040 ]
  set_args cat /proc/self/cgroup
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 0 ]
  # In a cgroup namespace every hierarchy shows the container's cgroup as its root.
  ! echo "$output" | grep -v ':/$' || false
}

@test "relative cgroupsPath is placed below the runtime's own cgroup" {
  set_args sleep 100
  set_config '.linux.cgroupsPath = $p' --arg p "berth-rel-$ID"
  rt create --bundle "$BUNDLE" "$ID"
  local own
  if [ "$(cgmode)" = v2 ]; then
    own=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
    [ -d "/sys/fs/cgroup${own%/}/berth-rel-$ID" ]
  else
    own=$(awk -F: '$2 == "pids" {print $3}' /proc/self/cgroup)
    [ -d "/sys/fs/cgroup/pids${own%/}/berth-rel-$ID" ]
  fi
  rt delete "$ID"
  ! find /sys/fs/cgroup -name "berth-rel-$ID" | grep -q . || false
}

@test "hugetlb limits go to whichever hierarchy has the controller" {
  local size
  grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers /sys/fs/cgroup/cgroup.controllers 2>/dev/null ||
    awk '$9 == "cgroup" && $NF ~ /hugetlb/' /proc/self/mountinfo | grep -q . ||
    skip "no mounted hierarchy has the hugetlb controller"
  # 2048kB → 2MB, as the kernel names the cgroup files.
  local kb
  kb=$(ls /sys/kernel/mm/hugepages | head -1 | sed -E 's/hugepages-([0-9]+)kB/\1/')
  [ -n "$kb" ] || skip "no huge page sizes on this host"
  if ((kb >= 1048576)); then size=$((kb / 1048576))GB; elif ((kb >= 1024)); then size=$((kb / 1024))MB; else size=${kb}KB; fi
  local cgpath="/berth-test/$ID"
  # Two pages: the kernel rounds a limit down to whole pages (4 MiB of 1 GB pages is 0).
  local limit=$((kb * 1024 * 2))
  set_args sleep 100
  set_config '.linux.cgroupsPath = $p | .linux.resources.hugepageLimits = [{"pageSize": $s, "limit": ($l | tonumber)}]' --arg p "$cgpath" --arg s "$size" --arg l "$limit"
  rt create --bundle "$BUNDLE" "$ID"
  cat /sys/fs/cgroup/unified$cgpath/hugetlb.$size.max /sys/fs/cgroup/hugetlb$cgpath/hugetlb.$size.limit_in_bytes /sys/fs/cgroup$cgpath/hugetlb.$size.max 2>/dev/null | grep -qx "$limit"
  rt delete "$ID"
}

@test "a limit the host cannot apply fails create with the file named, and leaves no cgroup" {
  set_config '.linux.cgroupsPath = $p | .linux.resources.cpu = {"cpus": "4096"}' --arg p "/berth-test/$ID"
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *cpuset.cpus* ]]
  assert_clean "$ID"
  ! find /sys/fs/cgroup -path "*berth-test/$ID*" | grep -q . || false
  set_config '.linux.cgroupsPath = "/../../etc"'
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *cgroupsPath* ]]
  assert_clean "$ID"
}

@test "device rules deny access to a device node (v1 devices controller)" {
  [ "$(cgmode)" != v2 ] || skip "device rules on cgroup v2 need eBPF (not in this build)"
  [ -c /dev/kmsg ] || skip "no /dev/kmsg on this host"
  # /dev/kmsg (c 1:11) bind-mounted from the host is not among the nodes the runtime allows
  # by itself, so "deny all" must make opening it fail; allowing 1:11 must let it open.
  set_config '.mounts += [{"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}]
    | .linux.resources.devices = [{"allow": false, "access": "rwm"}]'
  set_args sh -c 'echo x > /dev/null && echo null-ok; if dd if=/dev/kmsg of=/dev/null bs=1 count=0 2>/dev/null; then echo kmsg-open; else echo kmsg-denied; fi'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *null-ok* ]]
  [[ "$output" == *kmsg-denied* ]]
  # Allowing writes to 1:11 lets a write-only open through (reading kmsg needs CAP_SYSLOG).
  set_config '.linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]'
  set_args sh -c 'if echo berth-device-test > /dev/kmsg; then echo kmsg-open; else echo kmsg-denied; fi'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *kmsg-open* ]]
}
