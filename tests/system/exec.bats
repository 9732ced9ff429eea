#!/usr/bin/env bats
# exec: a new process in a running container's namespaces, cgroup and seccomp filter.

load helpers

start_sleeper() {
  set_args sleep 1000
  rt run -d --bundle "$BUNDLE" "$ID"
  wait_status "$ID" running
}

@test "exec runs in the container's namespaces and cgroup and returns its exit status" {
  start_sleeper
  local pid
  pid=$(state_field "$ID" pid)
  run rt exec "$ID" sh -c 'for n in pid net mnt; do readlink /proc/self/ns/$n; done; hostname; cat /proc/1/cmdline | tr "\0" " "; exit 7'
  [ "$status" -eq 7 ]
  [[ "$output" == *"$(readlink /proc/$pid/ns/pid)"* ]]
  [[ "$output" == *"$(readlink /proc/$pid/ns/net)"* ]]
  [[ "$output" == *"$(readlink /proc/$pid/ns/mnt)"* ]]
  [[ "$output" == *berth* ]]
  [[ "$output" == *"sleep 1000"* ]]
  # The exec'd process is in the container's cgroup while it runs.
  rt exec -d --pid-file "$TEST_DIR/exec.pid" "$ID" sleep 30
  local epid
  epid=$(cat "$TEST_DIR/exec.pid")
  [ "$(grep :pids: /proc/$epid/cgroup)" = "$(grep :pids: /proc/$pid/cgroup)" ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "exec flags: --env, --user, --cwd, --cap, --no-new-privs" {
  set_config '.process.noNewPrivileges = false'
  start_sleeper
  run rt exec --env FOO=bar --env PATH=/bin -u 1000:1000 --cwd /tmp "$ID" sh -c 'echo "$FOO $PATH"; id -u; id -g; pwd'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "bar /bin" ]
  [ "${lines[1]}" = 1000 ]
  [ "${lines[2]}" = 1000 ]
  [ "${lines[3]}" = /tmp ]
  run rt exec --cap CAP_SYS_ADMIN "$ID" sh -c 'grep -E "CapEff|CapInh" /proc/self/status'
  # CAP_SYS_ADMIN is bit 21 (0x200000); the inheritable set stays empty.
  [[ "$output" == *"CapInh:"*0000000000000000* ]]
  (( 0x$(echo "$output" | awk '/CapEff/ {print $2}') & 0x200000 ))
  run rt exec "$ID" grep NoNewPrivs /proc/self/status
  [[ "$output" == *0 ]]
  run rt exec --no-new-privs "$ID" grep NoNewPrivs /proc/self/status
  [[ "$output" == *1 ]]
}

@test "exec --process takes a runtime-spec process object" {
  start_sleeper
  cat > "$TEST_DIR/process.json" <<'JSON'
{"args": ["sh", "-c", "echo from-process-file $X; pwd"], "env": ["X=42"], "cwd": "/etc", "user": {"uid": 0, "gid": 0}}
JSON
  run rt exec --process "$TEST_DIR/process.json" "$ID"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "from-process-file 42" ]
  [ "${lines[1]}" = /etc ]
}

@test "exec with a terminal (foreground pty under script)" {
  start_sleeper
  run script -qec "$RUNTIME --root $ROOT exec -t $ID sh -c 'tty; echo tty-ok'" /dev/null
  [[ "$output" == */dev/pts/* ]]
  [[ "$output" == *tty-ok* ]]
}

@test "exec uses the container's seccomp filter" {
  set_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
  start_sleeper
  run rt exec "$ID" mkdir /tmp/x
  [ "$status" -ne 0 ]
  [[ "$output" == *"Operation not permitted"* ]]
}

@test "exec errors: stopped container, missing program, bad flags" {
  start_sleeper
  run --separate-stderr rt exec "$ID" no-such-program
  [ "$status" -eq 1 ]
  [[ "$stderr" == *'executable file not found in $PATH'* ]]
  run --separate-stderr rt exec "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"command to run is required"* ]]
  run --separate-stderr rt exec -u nobody "$ID" true
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"--user"* ]]
  rt kill "$ID" KILL
  wait_status "$ID" stopped
  run --separate-stderr rt exec "$ID" true
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"stopped"* ]]
}
