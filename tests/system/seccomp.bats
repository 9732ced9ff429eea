#!/usr/bin/env bats
# linux.seccomp through libseccomp: actions, errno values, argument conditions, and the two
# load points (last before exec with noNewPrivileges; before dropping capabilities without).

load helpers

@test "an errno rule blocks one syscall and others still work" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
  set_args sh -c 'mkdir /tmp/blocked; echo "rc=$?"; touch /tmp/file && echo touch-ok'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"Operation not permitted"* ]]
  [[ "$output" == *"rc=1"* ]]
  [[ "$output" == *touch-ok* ]]
  [ ! -e "$BUNDLE/rootfs/tmp/blocked" ]
}

@test "errnoRet and defaultErrnoRet choose the error" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
  set_args mkdir /tmp/x
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -ne 0 ]
  [[ "$output" == *"Function not implemented"* ]]
}

@test "SCMP_ACT_KILL_PROCESS kills with SIGSYS (exit 159)" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
  set_args uname -a
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 159 ]
  assert_clean "$ID"
}

@test "argument conditions: only the matching call is refused" {
  # personality(0xffffffff) queries; personality(0x0008 = ...) is refused by the rule below.
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]}]}'
  set_args sh -c 'kill -USR1 $$ 2>/dev/null; echo "usr1=$?"; trap "" TERM; kill -TERM $$; echo "term=$?"'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"usr1=1"* ]]
  [[ "$output" == *"term=0"* ]]
}

@test "the filter is also applied when noNewPrivileges is off (loaded before capabilities drop)" {
  set_config '.process.noNewPrivileges = false | .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
  set_args sh -c 'grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status; mkdir /tmp/y; echo rc=$?'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [[ "$output" == *"NoNewPrivs:"*0* ]]
  [[ "$output" == *"Seccomp:"*2* ]]
  [[ "$output" == *"rc=1"* ]]
}

@test "a malformed seccomp section fails create with the field named and leaves nothing" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_NOPE"}'
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"linux.seccomp.defaultAction"*"SCMP_ACT_NOPE"* ]]
  assert_clean "$ID"
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}'
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"args[0].index"* ]]
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}'
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"listenerPath"* ]]
  assert_clean "$ID"
}
