#!/usr/bin/env bats
# The process section: env, cwd, user, umask, rlimits, oomScoreAdj, capabilities,
# noNewPrivileges, plus linux.sysctl, --preserve-fds and --pid-file.

load helpers

run_ok() {
  run "$@"
  echo "status=$status output=$output" >&2
  [ "$status" -eq 0 ]
}

@test "env is exactly the configured environment" {
  set_config '.process.env = ["PATH=/bin", "A=1", "WITH_SPACE=two words", "EMPTY="]'
  set_args env
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(printf '%s\n' "${lines[@]}" | sort | tr '\n' '|')" = "A=1|EMPTY=|PATH=/bin|WITH_SPACE=two words|" ]
  # Nothing of the caller's environment leaks in.
  run_ok env -i FROM_CALLER=1 HOME=/nowhere "$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
  [ "${#lines[@]}" -eq 4 ]
  [[ "$output" != *FROM_CALLER* ]]
  [[ "$output" != *HOME=* ]]
}

@test "cwd is used, and created when the image lacks it" {
  set_config '.process.cwd = "/root"'
  set_args pwd
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = /root ]

  [ ! -e "$BUNDLE/rootfs/new/deep/dir" ]
  set_config '.process.cwd = "/new/deep/dir"'
  set_args sh -c 'pwd; touch here'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = /new/deep/dir ]
  [ -d "$BUNDLE/rootfs/new/deep/dir" ]
  [ -f "$BUNDLE/rootfs/new/deep/dir/here" ]
}

@test "user: uid, gid and additionalGids" {
  set_config '.process.user = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 1001]}'
  set_args sh -c 'id -u; id -g; id -G; grep -E "^(Uid|Gid|Groups):" /proc/self/status'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 1000 ]
  [ "${lines[1]}" = 1001 ]
  [ "$(echo ${lines[2]} | tr ' ' '\n' | sort -n | tr '\n' ' ')" = "10 20 1001 " ]
  [ "$(echo ${lines[3]})" = "Uid: 1000 1000 1000 1000" ]
  [ "$(echo ${lines[4]})" = "Gid: 1001 1001 1001 1001" ]
  [ "$(echo ${lines[5]})" = "Groups: 10 20 1001" ]
}

@test "user: root by default, and no supplementary groups of the caller" {
  set_args sh -c 'id -u; id -g; grep "^Groups:" /proc/self/status'
  run_ok setpriv --groups 4,24 "$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 0 ]
  [ "${lines[1]}" = 0 ]
  [ "$(echo ${lines[2]})" = "Groups:" ]
}

@test "umask applies to files the process creates" {
  set_config '.process.user.umask = 63'  # 0077
  set_args sh -c 'touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d; grep ^Umask: /proc/self/status'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 600 ]
  [ "${lines[1]}" = 700 ]
  [ "$(echo ${lines[2]})" = "Umask: 0077" ]

  rm -rf "$BUNDLE/rootfs/tmp/f" "$BUNDLE/rootfs/tmp/d"
  set_config 'del(.process.user.umask)'
  run_ok bash -c "umask 077; exec \"$RUNTIME\" --root \"$ROOT\" run --bundle \"$BUNDLE\" \"$ID\""
  # Without umask in the config the default is 0022, not the caller's.
  [ "${lines[0]}" = 644 ]
  [ "${lines[1]}" = 755 ]
}

@test "rlimits set soft and hard limits" {
  local host_hard
  host_hard=$(ulimit -Hn)
  [ "$host_hard" -gt 300 ]
  set_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 234}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}, {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]'
  set_args sh -c 'ulimit -n; ulimit -Hn; grep "Max core file size" /proc/self/limits; ulimit -u; ulimit -Hu; grep "Max open files" /proc/self/limits'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 123 ]
  [ "${lines[1]}" = 234 ]
  [ "$(echo ${lines[2]})" = "Max core file size 0 4096 bytes" ]
  [ "${lines[3]}" = 500 ]
  [ "${lines[4]}" = 600 ]
  [ "$(echo ${lines[5]})" = "Max open files 123 234 files" ]
}

@test "an rlimit above the hard limit without CAP_SYS_RESOURCE fails create cleanly" {
  local host_hard
  host_hard=$(ulimit -Hn)
  ! capsh --has-p=cap_sys_resource 2>/dev/null || skip "the caller has CAP_SYS_RESOURCE"
  set_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": $h, "hard": $h}]' --argjson h $((host_hard + 1000))
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"RLIMIT_NOFILE"* ]]
  assert_clean "$ID"
}

@test "oomScoreAdj" {
  set_config '.process.oomScoreAdj = 567'
  set_args cat /proc/self/oom_score_adj
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = 567 ]
  set_config 'del(.process.oomScoreAdj)'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = "$(cat /proc/self/oom_score_adj)" ]
  # In a user namespace too (the runtime writes it from the host side), and for exec'd
  # processes, which inherit it from the container's init.
  chmod 755 "$TEST_DIR" "$BUNDLE"
  set_config '.process.oomScoreAdj = 321 | .linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
  set_args cat /proc/self/oom_score_adj
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = 321 ]
}

@test "capabilities: all five sets for a non-root user, ambient included" {
  set_config '.process.user = {"uid": 1000, "gid": 1000}
    | .process.capabilities = {"bounding": ["CAP_NET_RAW"], "effective": ["CAP_NET_RAW"], "permitted": ["CAP_NET_RAW"], "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_NET_RAW"]}'
  set_args grep ^Cap /proc/self/status
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(echo ${lines[0]})" = "CapInh: 0000000000002000" ]
  [ "$(echo ${lines[1]})" = "CapPrm: 0000000000002000" ]
  [ "$(echo ${lines[2]})" = "CapEff: 0000000000002000" ]
  [ "$(echo ${lines[3]})" = "CapBnd: 0000000000002000" ]
  [ "$(echo ${lines[4]})" = "CapAmb: 0000000000002000" ]

  # Without ambient, a non-root user execs with nothing effective or permitted.
  set_config '.process.capabilities.ambient = []'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(echo ${lines[0]})" = "CapInh: 0000000000002000" ]
  [ "$(echo ${lines[1]})" = "CapPrm: 0000000000000000" ]
  [ "$(echo ${lines[2]})" = "CapEff: 0000000000000000" ]
  [ "$(echo ${lines[3]})" = "CapBnd: 0000000000002000" ]
  [ "$(echo ${lines[4]})" = "CapAmb: 0000000000000000" ]
}

@test "capabilities: root gets exactly the listed sets, and they are enforced" {
  # Default spec: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10); no inheritable -> no ambient.
  set_args sh -c 'grep ^Cap /proc/self/status; touch /tmp/f; chown 5 /tmp/f && echo CHOWNED'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$(echo ${lines[0]})" = "CapInh: 0000000000000000" ]
  [ "$(echo ${lines[1]})" = "CapPrm: 0000000020000420" ]
  [ "$(echo ${lines[2]})" = "CapEff: 0000000020000420" ]
  [ "$(echo ${lines[3]})" = "CapBnd: 0000000020000420" ]
  [ "$(echo ${lines[4]})" = "CapAmb: 0000000000000000" ]
  [[ "$output" == *"Operation not permitted"* ]]
  [[ "$output" != *CHOWNED* ]]

  # With CAP_CHOWN(0) added the same chown works.
  set_config '.process.capabilities.bounding += ["CAP_CHOWN"] | .process.capabilities.effective += ["CAP_CHOWN"] | .process.capabilities.permitted += ["CAP_CHOWN"]'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(echo ${lines[2]})" = "CapEff: 0000000020000421" ]
  [[ "$output" == *CHOWNED* ]]
}

@test "noNewPrivileges sets NoNewPrivs" {
  set_args grep ^NoNewPrivs: /proc/self/status
  set_config '.process.noNewPrivileges = true'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(echo $output)" = "NoNewPrivs: 1" ]
  set_config '.process.noNewPrivileges = false'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$(echo $output)" = "NoNewPrivs: 0" ]
}

@test "linux.sysctl is written in the container's namespaces only" {
  local host_fwd host_shm
  host_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
  host_shm=$(cat /proc/sys/kernel/shm_rmid_forced)
  local want_fwd=$((1 - host_fwd)) want_shm=$((1 - host_shm))
  set_config '.linux.sysctl = {"net.ipv4.ip_forward": $f, "kernel.shm_rmid_forced": $s}' --arg f "$want_fwd" --arg s "$want_shm"
  set_args cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shm_rmid_forced
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "$want_fwd" ]
  [ "${lines[1]}" = "$want_shm" ]
  [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$host_fwd" ]
  [ "$(cat /proc/sys/kernel/shm_rmid_forced)" = "$host_shm" ]
}

# try_host_sysctl KEY VALUE NSTYPE: runs a container whose config sets the sysctl KEY and lacks
# the namespace NSTYPE (or has all the default ones when NSTYPE is "none"); restores the host's
# value afterwards and checks it was never changed and create was refused.
try_host_sysctl() {
  local key=$1 value=$2 ns=$3
  local file=/proc/sys/${key//./\/}
  local before after
  before=$(cat "$file")
  [ "$before" != "$value" ]
  set_config '.linux.sysctl = {($k): $v} | .linux.namespaces |= map(select(.type != $ns))' --arg k "$key" --arg v "$value" --arg ns "$ns"
  set_args true
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  after=$(cat "$file")
  [ "$after" = "$before" ] || echo "$before" > "$file"
  echo "$key (no $ns namespace): status=$status stderr=$stderr host before=$before after-run=$after" >&2
  [ "$after" = "$before" ]
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"$key"* ]]
}

@test "linux.sysctl for a namespace the container shares with the host is refused" {
  local fails=0
  try_host_sysctl net.ipv4.ip_forward $((1 - $(cat /proc/sys/net/ipv4/ip_forward))) network || fails=$((fails + 1))
  try_host_sysctl kernel.shm_rmid_forced $((1 - $(cat /proc/sys/kernel/shm_rmid_forced))) ipc || fails=$((fails + 1))
  [ "$fails" -eq 0 ]
  assert_clean "$ID"
}

@test "linux.sysctl that no namespace isolates is refused" {
  # kernel.printk_ratelimit is global: writing it from a container changes the host.
  try_host_sysctl kernel.printk_ratelimit $(( $(cat /proc/sys/kernel/printk_ratelimit) + 2 )) none
  assert_clean "$ID"
}

@test "--preserve-fds passes fd 3 on" {
  set_args sh -c 'echo via-fd3 >&3; echo via-proc >> /proc/self/fd/3; ls /proc/self/fd | tr "\n" " "'
  run_ok rt run --preserve-fds 1 --bundle "$BUNDLE" "$ID" 3> "$TEST_DIR/fd3"
  [ "$(cat "$TEST_DIR/fd3")" = "$(printf 'via-fd3\nvia-proc')" ]
  # 0-2, the preserved 3 and ls's own directory fd.
  [ "$output" = "0 1 2 3 4 " ]
}

@test "without --preserve-fds the caller's extra fds do not reach the container" {
  set_args sh -c 'ls /proc/self/fd | tr "\n" " "; echo; echo leak >&3 || echo no-fd3'
  run rt run --bundle "$BUNDLE" "$ID" 3> "$TEST_DIR/fd3" 4> "$TEST_DIR/fd4" 5< /etc/hostname 9> "$TEST_DIR/fd9"
  echo "$output"
  # Only stdio and the fd ls opens for the directory itself.
  [ "${lines[0]}" = "0 1 2 3 " ]
  [ "${lines[-1]}" = no-fd3 ]
  [ ! -s "$TEST_DIR/fd3" ]

  # The same with create/start: the create caller's fds are not inherited either.
  "$RUNTIME" --root "$ROOT" create --bundle "$BUNDLE" "$ID" > "$TEST_DIR/out" 2>&1 3> "$TEST_DIR/fd3" 4> "$TEST_DIR/fd4"
  rt start "$ID"
  wait_status "$ID" stopped
  cat "$TEST_DIR/out"
  [ "$(head -1 "$TEST_DIR/out")" = "0 1 2 3 " ]
  [ ! -s "$TEST_DIR/fd3" ]
  rt delete "$ID"
  assert_clean "$ID"
}

@test "--pid-file holds the pid that state reports" {
  set_args sleep 100
  rt create --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$ID"
  [ "$(cat "$TEST_DIR/pid")" = "$(state_field "$ID" pid)" ]
  [ "$(cat "/proc/$(cat "$TEST_DIR/pid")/comm")" != "" ]
  rt delete --force "$ID"

  # A relative path is relative to the caller's cwd; run -d writes it too.
  (cd "$TEST_DIR" && "$RUNTIME" --root "$ROOT" run -d --bundle "$BUNDLE" --pid-file rel.pid "$ID")
  [ "$(cat "$TEST_DIR/rel.pid")" = "$(state_field "$ID" pid)" ]
  # It is the container's init: sleep, in its own pid namespace.
  [ "$(cat "/proc/$(cat "$TEST_DIR/rel.pid")/comm")" = sleep ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "process.scheduler, ioPriority and linux.personality reach the user program" {
  # /proc/self/stat: field 19 is nice, 40 rt_priority, 41 policy (3 = SCHED_BATCH, 1 = FIFO).
  set_config '.process.scheduler = {"policy": "SCHED_BATCH", "nice": 7} | .process.ioPriority = {"class": "IOPRIO_CLASS_IDLE", "priority": 0} | .linux.personality = {"domain": "LINUX32"}'
  set_args sh -c 'awk "{print \$19, \$41}" /proc/self/stat; ionice; uname -m'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "7 3" ]
  [[ "${lines[1]}" == idle* ]]
  [[ "${lines[2]}" == i?86 ]]

  set_config 'del(.linux.personality) | .process.scheduler = {"policy": "SCHED_IDLE"} | .process.ioPriority = {"class": "IOPRIO_CLASS_BE", "priority": 6}'
  set_args sh -c 'awk "{print \$41}" /proc/self/stat; ionice; uname -m'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "5" ]
  [ "${lines[1]}" = "best-effort: prio 6" ]
  [ "${lines[2]}" = "$(uname -m)" ]

  # A real-time policy: with RT group scheduling (cpu.rt_runtime_us, as on this host) a
  # cgroup without an RT budget refuses it, and the error says so; otherwise it applies.
  set_config '.process.scheduler = {"policy": "SCHED_FIFO", "priority": 10}'
  set_args sh -c 'awk "{print \$40, \$41}" /proc/self/stat'
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  echo "$output $stderr"
  if [ -e /sys/fs/cgroup/cpu/cpu.rt_runtime_us ] || [ -e /sys/fs/cgroup/cpu,cpuacct/cpu.rt_runtime_us ]; then
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"process.scheduler: sched_setattr SCHED_FIFO: Operation not permitted"* ]]
  else
    [ "$status" -eq 0 ]
    [ "$output" = "10 1" ]
  fi
  assert_clean "$ID"
}

@test "exec applies the process's scheduler and execCPUAffinity" {
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  jq -n '{"args": ["sh", "-c", "grep Cpus_allowed_list /proc/self/status; awk \"{print \\$19, \\$41}\" /proc/self/stat"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "0", "final": "1"}, "scheduler": {"policy": "SCHED_IDLE"}}' > "$TEST_DIR/p.json"
  run rt exec --process "$TEST_DIR/p.json" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == *"Cpus_allowed_list:"*1 ]]
  [ "${lines[1]}" = "0 5" ]
  rt delete --force "$ID"
  assert_clean "$ID"
}
