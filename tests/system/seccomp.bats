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

@test "SCMP_ACT_NOTIFY hands the listener fd and the process state to listenerPath" {
  # A listener that takes the notify fd, records the message and closes the fd: with no
  # supervisor left, the kernel fails the notified syscall with ENOSYS.
  cat > "$TEST_DIR/listener.py" <<'PY'
import socket, sys, json
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path); s.listen(1)
open(out + ".ready", "w").close()
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 65536, 4)
json.dump({"msg": json.loads(msg.rstrip(b"\0")), "nfds": len(fds)}, open(out, "w"))
for fd in fds:
    import os; os.close(fd)
PY
  /usr/bin/python3 "$TEST_DIR/listener.py" "$TEST_DIR/listener.sock" "$TEST_DIR/got.json" &
  local lpid=$!
  for i in $(seq 100); do [ -e "$TEST_DIR/got.json.ready" ] && break; sleep 0.05; done
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": $p, "listenerMetadata": "meta-42",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}' --arg p "$TEST_DIR/listener.sock"
  set_args sh -c 'sleep 0.5; mkdir /tmp/notified; echo rc=$?'
  run rt run --bundle "$BUNDLE" "$ID"
  wait $lpid || true
  echo "$output"
  [[ "$output" == *"Function not implemented"* ]]
  [ ! -e "$BUNDLE/rootfs/tmp/notified" ]
  jq -e --arg id "$ID" '.nfds == 1 and .msg.fds == ["seccompFd"] and .msg.metadata == "meta-42" and .msg.state.id == $id and .msg.pid > 1 and .msg.pid == .msg.state.pid' "$TEST_DIR/got.json"
  assert_clean "$ID"
}

@test "compiled filters are cached per profile; a stale or foreign cache file is never used" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
  set_args sh -c 'mkdir /tmp/x 2>&1; echo rc=$?'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"Operation not permitted"* ]]
  cache=("$ROOT"/@seccomp/*.bpf)
  [ -f "${cache[0]}" ]
  # The runtime's own directory is not a container.
  [ -z "$(rt list -q)" ]
  # Second run: from the cache, same effect.
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"Operation not permitted"* ]]
  # A cache file whose key does not match (a collision, or tampering) is recompiled.
  printf 'not-the-key\0garbage!' > "${cache[0]}"
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"Operation not permitted"* ]]
  # A different profile gets its own program: this one allows mkdir.
  set_config '.linux.seccomp.syscalls[0].names = ["rmdir"]'
  run rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *rc=0* ]]
  [ "$(ls "$ROOT"/@seccomp/*.bpf | wc -l)" -eq 2 ]
}
