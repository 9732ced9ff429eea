#!/usr/bin/env bats
# linux.namespaces: every namespace type the runtime creates or joins, checked from inside the
# container against the host.

load helpers

# run_ok CMD...: runs CMD with stdout and stderr kept apart; fails unless it exits 0.
run_ok() {
  run --separate-stderr "$@"
  echo "status=$status stdout=$output stderr=$stderr" >&2
  [ "$status" -eq 0 ]
}

# Host view of one namespace of this test process.
host_ns() { readlink "/proc/$$/ns/$1"; }

# joiner_bundle DIR JQ_FILTER CMD...: a second bundle at DIR running CMD, its config.json
# edited by JQ_FILTER, in which $pid is the first container's ($ID's) pid.
joiner_bundle() {
  local dir=$1 filter=$2 tmp
  shift 2
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$dir" "$@"
  tmp=$(mktemp)
  jq --arg pid "$(state_field "$ID" pid)" "$filter" "$dir/config.json" > "$tmp" && mv "$tmp" "$dir/config.json"
}

@test "pid namespace: init is pid 1 inside, a different pid on the host" {
  set_args sh -c 'echo $$; readlink /proc/self/ns/pid; ls /proc | grep -c "^[0-9]"'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 1 ]
  [ "${lines[1]}" != "$(host_ns pid)" ]
  # Only the container's own processes are visible (sh and the pipeline's children).
  [ "${lines[2]}" -le 4 ]
  assert_clean "$ID"

  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  [ "$pid" -gt 1 ]
  # NSpid lists the pid in every namespace from the host's down: <host pid> then 1.
  grep -P "^NSpid:\t$pid\t1$" "/proc/$pid/status"
  [ "$(readlink "/proc/$pid/ns/pid")" != "$(host_ns pid)" ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "without a pid namespace the container shares the host's" {
  set_config '.linux.namespaces |= map(select(.type != "pid"))'
  set_args sh -c 'echo $$; readlink /proc/self/ns/pid'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" -gt 1 ]
  [ "${lines[1]}" = "$(host_ns pid)" ]
}

@test "uts namespace: hostname and domainname are set inside only" {
  local host_hn host_dn
  host_hn=$(cat /proc/sys/kernel/hostname)
  host_dn=$(cat /proc/sys/kernel/domainname)
  set_config '.hostname = "box-one" | .domainname = "example.test"'
  set_args sh -c 'hostname; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/uts'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "box-one" ]
  [ "${lines[1]}" = "example.test" ]
  [ "${lines[2]}" != "$(host_ns uts)" ]
  [ "$(cat /proc/sys/kernel/hostname)" = "$host_hn" ]
  [ "$(cat /proc/sys/kernel/domainname)" = "$host_dn" ]
}

@test "ipc and network namespaces differ from the host's; only lo exists" {
  set_args sh -c 'readlink /proc/self/ns/ipc; readlink /proc/self/ns/net; ip -o link | cut -d: -f2 | tr -d " " | sort | tr "\n" ,; echo; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | tr "\n" ,'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" != "$(host_ns ipc)" ]
  [ "${lines[1]}" != "$(host_ns net)" ]
  [ "${lines[2]}" = "lo," ]
  [ "${lines[3]}" = "lo," ]

  # Without them, the host's are shared (so the comparison above can tell).
  set_config '.linux.namespaces |= map(select(.type != "network" and .type != "ipc"))'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "$(host_ns ipc)" ]
  [ "${lines[1]}" = "$(host_ns net)" ]
}

@test "cgroup namespace: the container's cgroup is its root" {
  set_args sh -c 'readlink /proc/self/ns/cgroup; cat /proc/self/cgroup'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" != "$(host_ns cgroup)" ]
  # Every hierarchy's path is "/" from inside a cgroup namespace.
  ! printf '%s\n' "${lines[@]:1}" | grep -v ':/$' || false

  set_config '.linux.namespaces |= map(select(.type != "cgroup"))'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "$(host_ns cgroup)" ]
}

@test "time namespace with timeOffsets shifts boottime and monotonic" {
  set_config '.linux.namespaces += [{"type": "time"}] | .linux.timeOffsets = {"boottime": {"secs": 1000000}, "monotonic": {"secs": 2000000}}'
  set_args sh -c 'readlink /proc/self/ns/time; cut -d" " -f1 /proc/uptime; grep monotonic /proc/self/timens_offsets'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  local host_up
  host_up=$(cut -d' ' -f1 /proc/uptime)
  [ "${lines[0]}" != "$(host_ns time)" ]
  # The container's uptime is the host's plus the boottime offset (the host's was read after).
  awk -v inside="${lines[1]}" -v host="$host_up" 'BEGIN { d = inside - host; exit !(d >= 999990 && d <= 1000001) }'
  [ "$(echo ${lines[2]})" = "monotonic 2000000 0" ]
}

@test "without a time namespace, uptime is the host's" {
  set_args cut -d" " -f1 /proc/uptime
  run_ok rt run --bundle "$BUNDLE" "$ID"
  awk -v inside="$output" -v host="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { d = host - inside; exit !(d >= 0 && d < 100) }'
}

@test "user namespace with uid and gid mappings" {
  chmod 755 "$TEST_DIR" "$BUNDLE"
  chown -R 100000:100000 "$BUNDLE/rootfs"
  mkdir "$TEST_DIR/shared"
  chown 100000:100000 "$TEST_DIR/shared"
  echo host-file > "$TEST_DIR/hostowned"
  set_config '.linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .mounts += [{"destination": "/shared", "type": "bind", "source": $s, "options": ["rbind", "rw"]},
                  {"destination": "/hostowned", "type": "bind", "source": $f, "options": ["bind", "ro"]}]' \
    --arg s "$TEST_DIR/shared" --arg f "$TEST_DIR/hostowned"
  set_args sh -c 'id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map; readlink /proc/self/ns/user; echo data > /shared/made-inside; mkdir /shared/dir-inside; stat -c %u:%g /hostowned; stat -c %u:%g /bin/busybox'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 0 ]
  [ "${lines[1]}" = 0 ]
  [ "$(echo ${lines[2]})" = "0 100000 65536" ]
  [ "$(echo ${lines[3]})" = "0 100000 65536" ]
  [ "${lines[4]}" != "$(host_ns user)" ]
  # A host file owned by an unmapped id (root) shows as the overflow id inside.
  [ "${lines[5]}" = "65534:65534" ]
  [ "${lines[6]}" = "0:0" ]
  # What root in the container creates belongs to the mapped host id.
  [ "$(stat -c %u:%g "$TEST_DIR/shared/made-inside")" = "100000:100000" ]
  [ "$(stat -c %u:%g "$TEST_DIR/shared/dir-inside")" = "100000:100000" ]
  [ "$(cat "$TEST_DIR/shared/made-inside")" = "data" ]
  assert_clean "$ID"
}

@test "user namespace: a non-root container user maps to hostID + uid" {
  chmod 755 "$TEST_DIR" "$BUNDLE"
  chown -R 100000:100000 "$BUNDLE/rootfs"
  set_config '.linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .process.user = {"uid": 1000, "gid": 1000}'
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  grep -P '^Uid:\t101000\t101000\t101000\t101000$' "/proc/$pid/status"
  grep -P '^Gid:\t101000\t101000\t101000\t101000$' "/proc/$pid/status"
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "joining existing network and uts namespaces by path" {
  set_config '.hostname = "ns-owner"'
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)

  local b2=$TEST_DIR/bundle2 id2=${ID}-joiner
  joiner_bundle "$b2" 'del(.hostname)
      | .linux.namespaces |= map(if .type == "network" then .path = "/proc/\($pid)/ns/net"
                                 elif .type == "uts" then .path = "/proc/\($pid)/ns/uts" else . end)' \
    sh -c 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts; hostname; readlink /proc/self/ns/ipc'
  run_ok rt run --bundle "$b2" "$id2"
  [ "${lines[0]}" = "$(readlink "/proc/$pid/ns/net")" ]
  [ "${lines[1]}" = "$(readlink "/proc/$pid/ns/uts")" ]
  [ "${lines[2]}" = "ns-owner" ]
  # Namespaces not given by path are still new ones.
  [ "${lines[3]}" != "$(readlink "/proc/$pid/ns/ipc")" ]
  [ "${lines[0]}" != "$(host_ns net)" ]
  rt delete --force "$ID"
  assert_clean "$ID"
  assert_clean "$id2"
}

@test "a new user namespace with a network namespace joined by path (an engine's): joined before the user namespace; exec too" {
  # The network namespace belongs to the host's user namespace (a container made it, as an
  # engine makes one): the init cannot join it once in its own user namespace.
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  local b2=$TEST_DIR/bundle2 id2=${ID}-userns
  joiner_bundle "$b2" '.linux.namespaces |= map(if .type == "network" then .path = "/proc/\($pid)/ns/net" else . end)
      | .linux.namespaces += [{"type": "user"}]
      | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
      | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]' sleep 100
  chmod 755 "$TEST_DIR" "$b2"
  chown -R 100000:100000 "$b2/rootfs"
  rt run -d --bundle "$b2" "$id2"
  local pid2
  pid2=$(state_field "$id2" pid)
  [ "$(readlink "/proc/$pid2/ns/net")" = "$(readlink "/proc/$pid/ns/net")" ]
  [ "$(readlink "/proc/$pid2/ns/user")" != "$(host_ns user)" ]
  # The runtime went back to its own namespaces (the next container is not in that one).
  run_ok rt exec "$id2" sh -c 'id -u; readlink /proc/self/ns/net; cat /proc/self/uid_map'
  [ "${lines[0]}" = 0 ]
  [ "${lines[1]}" = "$(readlink "/proc/$pid/ns/net")" ]
  [ "$(echo ${lines[2]})" = "0 100000 65536" ]
  rt delete --force "$id2"
  rt delete --force "$ID"
  assert_clean "$ID"
  assert_clean "$id2"
}

@test "joining an existing pid namespace by path" {
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  local b2=$TEST_DIR/bundle2 id2=${ID}-joiner
  joiner_bundle "$b2" '.linux.namespaces |= map(if .type == "pid" then .path = "/proc/\($pid)/ns/pid" else . end)' \
    sh -c 'readlink /proc/self/ns/pid; echo $$; ps -o comm | grep -c sleep'
  run_ok rt run --bundle "$b2" "$id2"
  [ "${lines[0]}" = "$(readlink "/proc/$pid/ns/pid")" ]
  # pid 1 of that namespace is the first container's sleep.
  [ "${lines[1]}" -gt 1 ]
  [ "${lines[2]}" = 1 ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "joining another container's pid namespace: its processes, with SYS_PTRACE, never see the joiner's view of the host" {
  # The first container scans its /proc without pause for a process whose root holds a file
  # only the host has (runc's window: the joiner's init is in the namespace during its rootfs
  # setup — here held open by a createRuntime hook that sleeps).
  local marker=$TEST_DIR/host-only-marker
  : > "$marker"
  set_config '.process.capabilities |= with_entries(.value += ["CAP_SYS_PTRACE"])'
  set_args sh -c "while :; do for r in /proc/[0-9]*/root; do [ -e \"\$r$marker\" ] && echo \"\$r\" >> /leaks; done; done"
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  local b2=$TEST_DIR/bundle2 id2=${ID}-joiner
  joiner_bundle "$b2" '.linux.namespaces |= map(if .type == "pid" then .path = "/proc/\($pid)/ns/pid" else . end)
      | .hooks.createRuntime = [{"path": "/bin/sleep", "args": ["sleep", "1"]}]' \
    sh -c 'readlink /proc/self/ns/pid; ps -o comm | grep -c "^sh"; cat /proc/1/cmdline | tr "\0" " "; echo'
  for i in 1 2; do
    run_ok rt run --bundle "$b2" "$id2"
    # It ran in the first container's namespace: its /proc is that namespace's (pid 1 the scan).
    [ "${lines[0]}" = "$(readlink "/proc/$pid/ns/pid")" ]
    [ "${lines[1]}" -ge 2 ]
    [[ "${lines[2]}" == "sh -c while :;"* ]]
  done
  # The scan ran all along, and never found the host's tree.
  [ "$(state_field "$ID" status)" = running ]
  [ ! -e "$BUNDLE/rootfs/leaks" ] || { cat "$BUNDLE/rootfs/leaks"; false; }
  rt delete --force "$ID"
  assert_clean "$ID"
  assert_clean "$id2"
}

@test "domainname without a uts namespace is refused and never reaches the host" {
  local host_dn
  host_dn=$(cat /proc/sys/kernel/domainname)
  set_config 'del(.hostname) | .domainname = "must-not-leak.test" | .linux.namespaces |= map(select(.type != "uts"))'
  set_args true
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  local now
  now=$(cat /proc/sys/kernel/domainname)
  # Put the host back before asserting anything.
  [ "$now" = "$host_dn" ] || echo "$host_dn" > /proc/sys/kernel/domainname
  echo "status=$status stderr=$stderr host domainname: before=$host_dn after-run=$now"
  [ "$now" = "$host_dn" ]
  [ "$status" -eq 1 ]
  [[ "$stderr" == *domainname* ]]
  assert_clean "$ID"
}

@test "hostname without a uts namespace is refused" {
  local host_hn
  host_hn=$(cat /proc/sys/kernel/hostname)
  set_config '.hostname = "must-not-leak" | .linux.namespaces |= map(select(.type != "uts"))'
  set_args true
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  local now
  now=$(cat /proc/sys/kernel/hostname)
  [ "$now" = "$host_hn" ] || echo "$host_hn" > /proc/sys/kernel/hostname
  echo "status=$status stderr=$stderr"
  [ "$now" = "$host_hn" ]
  [ "$status" -eq 1 ]
  [[ "$stderr" == *hostname* ]]
  assert_clean "$ID"
}

# The mount line of PATH in this (the host's) mount namespace: its optional fields say its
# propagation (shared:N, master:N; none for private).
mount_line() { awk -v p="$1" '$5 == p' /proc/self/mountinfo | tail -1; }

@test "without a mount namespace the container shares the runtime's, its mounts under a private bind that delete takes away" {
  local root_before
  root_before=$(mount_line /)
  echo marker-in-rootfs > "$BUNDLE/rootfs/marker"
  set_config '.linux.namespaces |= map(select(.type != "mount"))'
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  [ "$(readlink "/proc/$pid/ns/mnt")" = "$(host_ns mnt)" ]
  [ "$(readlink "/proc/$pid/root")" = "$BUNDLE/rootfs" ]
  # Its mounts are in the host's table, under a bind of the rootfs that propagates nothing;
  # the host's "/" keeps its propagation.
  mount_line "$BUNDLE/rootfs/proc" | grep -q " - proc "
  mount_line "$BUNDLE/rootfs" | grep -vqE " (shared|master):[0-9]+ .* - "
  [ "$(mount_line /)" = "$root_before" ]
  # exec enters the container's root as its init did.
  run_ok rt exec "$ID" sh -c 'cat /marker; readlink /proc/self/ns/mnt'
  [ "${lines[0]}" = marker-in-rootfs ]
  [ "${lines[1]}" = "$(host_ns mnt)" ]
  rt delete --force "$ID"
  ! grep -q " $BUNDLE" /proc/self/mountinfo || false
  [ -f "$BUNDLE/rootfs/marker" ]
  assert_clean "$ID"
}

@test "without a mount namespace nothing the container mounts spreads through a shared parent mount" {
  # The bundle on a shared mount with a peer elsewhere (as on a systemd host, whose "/" is
  # shared with every service's namespace).
  mount --bind "$BUNDLE" "$BUNDLE"
  mount --make-shared "$BUNDLE"
  mkdir "$TEST_DIR/peer"
  mount --bind "$BUNDLE" "$TEST_DIR/peer"
  set_config '.linux.namespaces |= map(select(.type != "mount"))'
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  mount_line "$BUNDLE/rootfs/proc" | grep -q " - proc "
  mount_line "$BUNDLE" | grep -qE " shared:[0-9]+ "
  ! grep -q " $TEST_DIR/peer/rootfs/proc " /proc/self/mountinfo || false
  rt delete --force "$ID"
  ! grep -q " $BUNDLE/rootfs" /proc/self/mountinfo || false
  ! grep -q " $TEST_DIR/peer/rootfs" /proc/self/mountinfo || false
  umount "$TEST_DIR/peer" "$BUNDLE"
  assert_clean "$ID"
}

@test "without a mount namespace a failed create leaves no mount behind" {
  set_config '.linux.namespaces |= map(select(.type != "mount")) | .mounts += [{"destination": "/mnt", "type": "nosuchfs", "source": "none"}]'
  set_args true
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *nosuchfs* ]]
  ! grep -q " $BUNDLE" /proc/self/mountinfo || false
  assert_clean "$ID"
}
