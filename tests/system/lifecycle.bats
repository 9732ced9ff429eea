#!/usr/bin/env bats
# The OCI lifecycle through berth-runtime: create → start → state → kill → delete, and run.

load helpers

@test "run prints output and exits with the container's status" {
  set_args echo hello
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 0 ]
  [ "$output" = "hello" ]
  assert_clean "$ID"

  set_args sh -c 'exit 42'
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 42 ]
  assert_clean "$ID"
}

@test "run reports 128+signal when the process is killed" {
  set_args sleep 100
  rt run --bundle "$BUNDLE" "$ID" &
  local pid=$!
  wait_status "$ID" running
  rt kill "$ID" KILL
  wait $pid || rc=$?
  [ "${rc:-0}" -eq 137 ]
  assert_clean "$ID"
}

@test "run forwards signals to the container" {
  set_args sh -c 'trap "echo got-term; exit 3" TERM; while true; do sleep 0.1; done'
  # Not through `rt`: $! must be the runtime itself, not a subshell.
  "$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$ID" > "$TEST_DIR/out" &
  local pid=$!
  wait_status "$ID" running
  kill -TERM $pid
  wait $pid || rc=$?
  [ "${rc:-0}" -eq 3 ]
  grep -q got-term "$TEST_DIR/out"
}

@test "run --keep keeps the stopped container until delete" {
  set_args true
  rt run --keep --bundle "$BUNDLE" "$ID"
  [ "$(state_field "$ID" status)" = "stopped" ]
  rt delete "$ID"
  assert_clean "$ID"
}

@test "create leaves the process blocked before exec; start runs it" {
  set_args sh -c 'echo started > /tmp/marker; sleep 100'
  rt create --bundle "$BUNDLE" --pid-file "$TEST_DIR/pid" "$ID"
  [ "$(state_field "$ID" status)" = "created" ]
  local pid
  pid=$(cat "$TEST_DIR/pid")
  [ "$(state_field "$ID" pid)" = "$pid" ]
  [ -d "/proc/$pid" ]
  [ ! -e "$BUNDLE/rootfs/tmp/marker" ]
  rt start "$ID"
  [ "$(state_field "$ID" status)" = "running" ]
  for i in $(seq 50); do [ -e "$BUNDLE/rootfs/tmp/marker" ] && break; sleep 0.05; done
  [ "$(cat "$BUNDLE/rootfs/tmp/marker")" = "started" ]
  run rt start "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not created"* ]]
  rt kill "$ID" KILL
  wait_status "$ID" stopped
  rt delete "$ID"
  assert_clean "$ID"
}

@test "state reports the spec's fields" {
  set_args sleep 100
  set_config '.annotations = {"org.example.key": "v"}'
  rt create --bundle "$BUNDLE" "$ID"
  run rt state "$ID"
  [ "$status" -eq 0 ]
  echo "$output" | jq -e --arg id "$ID" --arg b "$BUNDLE" \
    '.ociVersion and .id == $id and .status == "created" and (.pid > 0) and .bundle == $b and .annotations["org.example.key"] == "v"'
  rt delete "$ID"
  assert_clean "$ID"
}

@test "kill accepts names and numbers; delete refuses a running container without --force" {
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID"
  [ "$(state_field "$ID" status)" = "running" ]
  run rt delete "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not stopped"* ]]
  rt kill "$ID" SIGKILL
  wait_status "$ID" stopped
  rt delete "$ID"
  rt run -d --bundle "$BUNDLE" "$ID"
  rt kill "$ID" 9
  wait_status "$ID" stopped
  rt delete "$ID"
  rt run -d --bundle "$BUNDLE" "$ID"
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "state, kill and delete from another time namespace see the container as it is" {
  # /proc/PID/stat's start time moves with the reader's time namespace: the runtime's check
  # that a pid is still the container's must not.
  set_args sleep 100
  local up
  up=$(cut -d. -f1 /proc/uptime)
  ns() { unshare --fork --time --boottime "-$up" "$RUNTIME" --root "$ROOT" "$@"; }
  rt run -d --bundle "$BUNDLE" "$ID"
  [ "$(ns state "$ID" | jq -r .status)" = running ]
  run ns delete "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not stopped"* ]]
  ns kill "$ID" KILL
  wait_status "$ID" stopped
  rt delete "$ID"
  ns run -d --bundle "$BUNDLE" "$ID"
  [ "$(state_field "$ID" status)" = running ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "delete --force of a container that is already gone succeeds, as with runc" {
  run rt delete --force "never-existed-$ID"
  [ "$status" -eq 0 ]
  run rt delete "never-existed-$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"does not exist"* ]]
}

@test "kill --all signals every process of the container" {
  set_args sh -c 'sleep 100 & sleep 100 & wait'
  set_config '.linux.namespaces |= map(select(.type != "pid"))'
  rt run -d --bundle "$BUNDLE" "$ID"
  sleep 0.2
  rt kill --all "$ID" KILL
  wait_status "$ID" stopped
  rt delete "$ID"
  assert_clean "$ID"
}

@test "list shows containers in table and json" {
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$ID"
  run rt list
  [ "$status" -eq 0 ]
  [[ "$output" == *"$ID"*created* ]]
  run rt list -q
  [ "$output" = "$ID" ]
  rt list --format json | jq -e --arg id "$ID" '.[0].id == $id and .[0].status == "created"'
  rt delete "$ID"
}

@test "spec writes a config that runs; features is truthful JSON" {
  rm "$BUNDLE/config.json"
  rt spec --bundle "$BUNDLE"
  run rt spec --bundle "$BUNDLE"
  [ "$status" -eq 1 ]
  set_config '.process.terminal = false | .process.args = ["echo", "from-default-spec"] | .root.readonly = true'
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 0 ]
  [ "$output" = "from-default-spec" ]
  rt features | jq -e '.ociVersionMax == "1.2.0" and (.hooks | index("poststop")) and (.linux.namespaces | index("time"))'
}
