#!/usr/bin/env bats
# Hostile and malformed input: one clear line on stderr naming the field or file and the
# reason, exit status 1, and nothing left behind (state dir, cgroup, mount, process).

load helpers

@test "malformed JSON" {
  echo '{"ociVersion": "1.2.0", "root": ' > "$BUNDLE/config.json"
  expect_failure "invalid JSON" rt create --bundle "$BUNDLE" "$ID"
}

@test "a number too big for JSON's doubles (found by fuzz-spec: it escaped as an exception)" {
  echo '{"ociVersion": "1.2.0", "process": {"user": {"uid": 41e94304}}}' > "$BUNDLE/config.json"
  expect_failure "invalid JSON" rt create --bundle "$BUNDLE" "$ID"
  echo '{"args": ["true"], "cwd": "/", "user": {"uid": 0}, "x": 1e999}' > "$TEST_DIR/process.json"
  run rt exec --process "$TEST_DIR/process.json" no-such-container
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" != *terminate* ]]
}

@test "missing process for run" {
  set_config 'del(.process)'
  expect_failure "process: is required" rt run --bundle "$BUNDLE" "$ID"
}

@test "relative mount destination" {
  set_config '.mounts += [{"destination": "relative/dir", "type": "tmpfs", "source": "tmpfs"}]'
  expect_failure "destination: must be an absolute path" rt create --bundle "$BUNDLE" "$ID"
}

@test "unknown namespace type" {
  set_config '.linux.namespaces += [{"type": "bogus"}]'
  expect_failure "unknown namespace type" rt create --bundle "$BUNDLE" "$ID"
}

@test "non-existent bundle and rootfs" {
  expect_failure "does not exist" rt create --bundle "$TEST_DIR/nope" "$ID"
  set_config '.root.path = "no-such-rootfs"'
  expect_failure "no-such-rootfs" rt create --bundle "$BUNDLE" "$ID"
}

@test "empty and path-traversal ids" {
  expect_failure "must not be empty" rt create --bundle "$BUNDLE" ""
  expect_failure "invalid container id" rt create --bundle "$BUNDLE" "../x"
  expect_failure "invalid container id" rt create --bundle "$BUNDLE" "a/b"
  expect_failure "invalid container id" rt state "../../etc"
  [ ! -e "$TEST_DIR/x" ]
}

@test "duplicate id" {
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$ID"
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"already exists"* ]]
  # The first container is untouched.
  [ "$(state_field "$ID" status)" = "created" ]
  rt delete "$ID"
  assert_clean "$ID"
}

@test "signal that does not exist" {
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  run --separate-stderr rt kill "$ID" SIGNOPE
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"invalid signal"* ]]
  [ "$(state_field "$ID" status)" = "running" ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "rlimit above the hard limit the runtime may set (no CAP_SYS_RESOURCE here)" {
  if grep -q '^CapBnd:.*' /proc/self/status && capsh --decode="$(awk '/CapBnd/ {print $2}' /proc/self/status)" 2>/dev/null | grep -q cap_sys_resource; then
    skip "this host has CAP_SYS_RESOURCE: raising the hard limit is allowed"
  fi
  local hard
  hard=$(ulimit -Hn)
  set_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": ($h + 1000)}]' --argjson h "$hard"
  expect_failure "RLIMIT_NOFILE" rt run --bundle "$BUNDLE" "$ID"
}

@test "executable not found names the program (engines map this to 127)" {
  set_args no-such-program
  expect_failure 'executable file not found in $PATH' rt run --bundle "$BUNDLE" "$ID"
}

@test "unknown command, unknown flag, missing id" {
  run --separate-stderr rt frobnicate
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"unknown command"* ]]
  run --separate-stderr rt create --bogus "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"unknown flag"* ]]
  run --separate-stderr rt start
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"id is required"* ]]
  run --separate-stderr rt state "never-created-$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"does not exist"* ]]
  run --separate-stderr "$RUNTIME" --systemd-cgroup --root "$ROOT" list
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"systemd"* ]]
}

@test "a failing prestart hook fails create and leaves nothing" {
  set_args sleep 100
  set_config '.hooks.prestart = [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}]'
  expect_failure "hook-said-no" rt create --bundle "$BUNDLE" "$ID"
}

@test "a cwd that escapes through a symlink or a leaked fd is refused" {
  set_config '.process.cwd = "/proc/self/fd/3"'
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  assert_clean "$ID"
}

@test "--log-format json writes runc-style error lines" {
  run --separate-stderr "$RUNTIME" --root "$ROOT" --log "$TEST_DIR/log.json" --log-format json state nope
  [ "$status" -eq 1 ]
  jq -e 'select(.level == "error") | .msg | contains("does not exist")' "$TEST_DIR/log.json"
  jq -e '.time' "$TEST_DIR/log.json"
}

@test "invalid scheduler, ioPriority, execCPUAffinity and personality values" {
  set_config '.process.scheduler = {"policy": "SCHED_TURBO"}'
  expect_failure "process.scheduler.policy: unknown policy" rt run --bundle "$BUNDLE" "$ID"
  set_config '.process.scheduler = {"policy": "SCHED_OTHER", "nice": 40}'
  expect_failure "process.scheduler.nice: must be between -20 and 19" rt run --bundle "$BUNDLE" "$ID"
  set_config 'del(.process.scheduler) | .process.ioPriority = {"class": "IOPRIO_CLASS_BE", "priority": 9}'
  expect_failure "process.ioPriority.priority: must be between 0 and 7" rt run --bundle "$BUNDLE" "$ID"
  set_config 'del(.process.ioPriority) | .process.execCPUAffinity = {"final": "3-1"}'
  expect_failure "process.execCPUAffinity: invalid CPU list" rt run --bundle "$BUNDLE" "$ID"
  set_config 'del(.process.execCPUAffinity) | .linux.personality = {"domain": "BSD"}'
  expect_failure "linux.personality.domain: must be LINUX or LINUX32" rt run --bundle "$BUNDLE" "$ID"
  # A policy the kernel refuses (deadline parameters that make no sense) fails at start.
  set_config 'del(.linux.personality) | .process.scheduler = {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5, "period": 1}'
  expect_failure "process.scheduler: sched_setattr SCHED_DEADLINE" rt run --bundle "$BUNDLE" "$ID"
}

@test "an AppArmor profile or SELinux label for a module the host does not run is refused" {
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || [ -e /sys/fs/selinux/enforce ]; then
    skip "this host runs AppArmor or SELinux"
  fi
  set_config '.process.apparmorProfile = "docker-default"'
  expect_failure "process.apparmorProfile: \`docker-default\` requested, but AppArmor is not enabled on this host" rt run --bundle "$BUNDLE" "$ID"
  set_config 'del(.process.apparmorProfile) | .process.selinuxLabel = "system_u:system_r:container_t:s0"'
  expect_failure "process.selinuxLabel: \`system_u:system_r:container_t:s0\` requested, but SELinux is not enabled" rt run --bundle "$BUNDLE" "$ID"
  # exec's flags, too.
  set_config 'del(.process.selinuxLabel)'
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  run --separate-stderr rt exec --apparmor unconfined "$ID" true
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"AppArmor is not enabled"* ]]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "an empty --root, --state or namespace (\"\$UNSET\") is refused by every program, nothing made in / or the current directory" {
  mkdir "$TEST_DIR/cwd"
  cd "$TEST_DIR/cwd"
  local b=$BERTH d
  d=$(dirname "$RUNTIME")
  [ -n "${BERTH:-}" ] || b=$d/berth
  for cmd in "$b --root= images" "$b --state= ps" "$b -n= ps" "$b --root= --state=$TEST_DIR/s run --rm busybox true" \
             "$d/berthd --root= -H unix://$TEST_DIR/d.sock" "$d/berthd --exec-root= -H unix://$TEST_DIR/d.sock" \
             "$RUNTIME --root= list"; do
    run --separate-stderr $cmd
    echo "$cmd: $status: $stderr"
    [ "$status" -ne 0 ]
    [ "${#stderr_lines[@]}" -eq 1 ]
    [[ "$stderr" == *": an empty value"* ]]
  done
  [ -z "$(ls -A "$TEST_DIR/cwd")" ]
  [ ! -e /metadata.db ] && [ ! -e /content ] && [ ! -e /snapshots ]
  [ ! -e "$TEST_DIR/s" ]
}
