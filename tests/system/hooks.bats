#!/usr/bin/env bats
# OCI hooks: each kind runs once, at its point of the lifecycle, in the right namespace, with
# the state on stdin and the configured args and env; timeouts and failures.

load helpers

# A hook script for the host side. Args: KIND DIR [EXTRA...]. Records its stdin (the state),
# its env and args, its mount namespace, and appends KIND to DIR/order.
write_hook() {
  HOOKS=$TEST_DIR/hooks
  mkdir -p "$HOOKS"
  cat > "$TEST_DIR/hook.sh" <<'EOF'
#!/bin/sh
kind=$1
dir=$2
cat > "$dir/$kind.state"
env | sort > "$dir/$kind.env"
shift 2
printf '%s\n' "$@" > "$dir/$kind.args"
readlink /proc/self/ns/mnt > "$dir/$kind.mntns"
echo "$kind" >> "$dir/order"
exit "${HOOK_EXIT:-0}"
EOF
  chmod 755 "$TEST_DIR/hook.sh"
}

# hook_json KIND [EXIT]: the JSON of one host-side hook entry.
hook_json() {
  jq -n --arg p "$TEST_DIR/hook.sh" --arg k "$1" --arg d "$HOOKS" --arg e "${2:-0}" \
    '{path: $p, args: [$p, $k, $d, "extra arg"], env: ["HOOK_KIND=\($k)", "HOOK_EXIT=\($e)", "PATH=/usr/bin:/bin"]}'
}

# The startContainer hook runs inside the container after pivot_root: busybox sh, rootfs /tmp.
start_hook_json() {
  jq -n --arg e "${1:-0}" '{path: "/bin/sh", args: ["sh", "-c", "cat > /tmp/startContainer.state; env | sort > /tmp/startContainer.env; echo \"$0 $1\" > /tmp/startContainer.args; readlink /proc/self/ns/mnt > /tmp/startContainer.mntns; echo x >> /tmp/startContainer.count; exit $HOOK_EXIT", "first", "second"], env: ["HOOK_KIND=startContainer", "HOOK_EXIT=\($e)"]}'
}

set_all_hooks() {
  set_config '.hooks = {prestart: [$pre], createRuntime: [$cr], createContainer: [$cc], startContainer: [$sc], poststart: [$ps], poststop: [$pst]}' \
    --argjson pre "$(hook_json prestart)" --argjson cr "$(hook_json createRuntime)" \
    --argjson cc "$(hook_json createContainer)" --argjson sc "$(start_hook_json)" \
    --argjson ps "$(hook_json poststart)" --argjson pst "$(hook_json poststop)"
}

order() { tr '\n' ' ' < "$HOOKS/order"; }

@test "all six hooks run once each, in order, with state, args and env" {
  write_hook
  set_all_hooks
  # The process checks that startContainer already ran, then waits to be killed.
  set_args sh -c 'test -e /tmp/startContainer.state && echo yes > /tmp/start-hook-was-first; exec sleep 100'
  export CALLER_ONLY=must-not-leak

  rt create --bundle "$BUNDLE" "$ID"
  local pid
  pid=$(state_field "$ID" pid)
  [ "$(order)" = "prestart createRuntime createContainer " ]
  [ ! -e "$BUNDLE/rootfs/tmp/startContainer.state" ]

  rt start "$ID"
  [ "$(order)" = "prestart createRuntime createContainer poststart " ]
  [ "$(cat "$BUNDLE/rootfs/tmp/startContainer.count")" = x ]
  for i in $(seq 50); do [ -e "$BUNDLE/rootfs/tmp/start-hook-was-first" ] && break; sleep 0.1; done
  [ "$(cat "$BUNDLE/rootfs/tmp/start-hook-was-first")" = yes ]

  rt kill "$ID" KILL
  wait_status "$ID" stopped
  [ "$(order)" = "prestart createRuntime createContainer poststart " ]
  rt delete "$ID"
  [ "$(order)" = "prestart createRuntime createContainer poststart poststop " ]
  [ "$(cat "$BUNDLE/rootfs/tmp/startContainer.count")" = x ]
  assert_clean "$ID"

  # State on stdin.
  local k
  for k in prestart createRuntime createContainer; do
    echo "$k: $(cat "$HOOKS/$k.state")"
    jq -e --arg id "$ID" --argjson pid "$pid" --arg b "$BUNDLE" \
      '.id == $id and .pid == $pid and .bundle == $b and .ociVersion' "$HOOKS/$k.state"
  done
  # (createContainer's status is checked in its own test below.)
  # prestart (deprecated) sees "created" as in crun and runtime-tools' hooks_stdin; its
  # successor createRuntime "creating" as in runc.
  jq -e '.status == "created"' "$HOOKS/prestart.state"
  jq -e '.status == "creating"' "$HOOKS/createRuntime.state"
  echo "startContainer: $(cat "$BUNDLE/rootfs/tmp/startContainer.state")"
  jq -e --arg id "$ID" --argjson pid "$pid" --arg b "$BUNDLE" \
    '.id == $id and .pid == $pid and .bundle == $b and .status == "created"' "$BUNDLE/rootfs/tmp/startContainer.state"
  echo "poststart: $(cat "$HOOKS/poststart.state")"
  jq -e --arg id "$ID" --argjson pid "$pid" '.id == $id and .pid == $pid and .status == "running"' "$HOOKS/poststart.state"
  echo "poststop: $(cat "$HOOKS/poststop.state")"
  jq -e --arg id "$ID" '.id == $id and .status == "stopped" and ((.pid // 0) == 0)' "$HOOKS/poststop.state"

  # Args and exactly the configured env.
  for k in prestart createRuntime createContainer poststart poststop; do
    [ "$(cat "$HOOKS/$k.args")" = "extra arg" ]
    ! grep -q CALLER_ONLY "$HOOKS/$k.env" || false
    grep -qx "HOOK_KIND=$k" "$HOOKS/$k.env"
    grep -qx "PATH=/usr/bin:/bin" "$HOOKS/$k.env"
  done
  [ "$(cat "$BUNDLE/rootfs/tmp/startContainer.args")" = "first second" ]
  grep -qx "HOOK_KIND=startContainer" "$BUNDLE/rootfs/tmp/startContainer.env"
  ! grep -q CALLER_ONLY "$BUNDLE/rootfs/tmp/startContainer.env" || false

  # prestart, createRuntime, poststart and poststop run in the runtime's mount namespace;
  # createContainer and startContainer in the container's.
  local host_mnt
  host_mnt=$(readlink /proc/$$/ns/mnt)
  for k in prestart createRuntime poststart poststop; do
    [ "$(cat "$HOOKS/$k.mntns")" = "$host_mnt" ]
  done
  [ "$(cat "$HOOKS/createContainer.mntns")" != "$host_mnt" ]
  [ "$(cat "$HOOKS/createContainer.mntns")" = "$(cat "$BUNDLE/rootfs/tmp/startContainer.mntns")" ]
}

@test "createContainer hook gets status creating: create has not finished (as in runc)" {
  write_hook
  set_config '.hooks = {createRuntime: [$cr], createContainer: [$cc]}' \
    --argjson cr "$(hook_json createRuntime)" --argjson cc "$(hook_json createContainer)"
  set_args true
  rt create --bundle "$BUNDLE" "$ID"
  cat "$HOOKS/createContainer.state"
  # Both hooks run inside the create operation, before `state` can even show the container.
  jq -e '.status == "creating"' "$HOOKS/createRuntime.state"
  jq -e '.status == "creating"' "$HOOKS/createContainer.state"
}

@test "hooks with run: the same sequence, poststop after the process exits" {
  write_hook
  set_all_hooks
  set_args sh -c 'cat /tmp/startContainer.count'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = x ]
  [ "$(order)" = "prestart createRuntime createContainer poststart poststop " ]
  assert_clean "$ID"
}

@test "poststart and poststop hooks run for a container whose state an older runtime wrote" {
  # create notes in state.json whether the config has poststart/poststop hooks, so that start
  # and delete need not parse config.json again; a state without that note (a container
  # created before an upgrade) makes them read the config, and the hooks still run.
  write_hook
  set_config '.hooks = {poststart: [$ps], poststop: [$pst]}' \
    --argjson ps "$(hook_json poststart)" --argjson pst "$(hook_json poststop)"
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$ID"
  jq -e '.facts == {poststart: true, poststop: true, own_pidns: true}' "$ROOT/$ID/state.json"
  jq 'del(.facts)' "$ROOT/$ID/state.json" > "$TEST_DIR/state.json"
  cp "$TEST_DIR/state.json" "$ROOT/$ID/state.json"
  rt start "$ID"
  [ "$(order)" = "poststart " ]
  rt delete --force "$ID"
  [ "$(order)" = "poststart poststop " ]
  assert_clean "$ID"
  # And a config without them: noted as such, nothing runs.
  set_config 'del(.hooks)'
  rm "$HOOKS/order"
  rt create --bundle "$BUNDLE" "$ID"
  jq -e '.facts == {poststart: false, poststop: false, own_pidns: true}' "$ROOT/$ID/state.json"
  rt start "$ID"
  rt delete --force "$ID"
  [ ! -e "$HOOKS/order" ]
  assert_clean "$ID"
}

@test "createContainer runs before pivot_root: host paths are still visible to it" {
  write_hook
  mkdir "$TEST_DIR/host-only"
  set_config '.hooks.createContainer = [{path: "/bin/sh", args: ["sh", "-c", "ls -d \($d) > \($d)/seen; test -d \($r)/proc"]}]' \
    --arg d "$TEST_DIR/host-only" --arg r "$BUNDLE/rootfs"
  set_args true
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(cat "$TEST_DIR/host-only/seen")" = "$TEST_DIR/host-only" ]
}

@test "a hook that exceeds its timeout fails create quickly and leaves nothing" {
  write_hook
  set_config '.hooks.prestart = [{path: "/bin/sleep", args: ["sleep", "5.0314"], timeout: 1}]'
  set_args true
  local t0=$SECONDS
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [ $((SECONDS - t0)) -lt 4 ]
  [[ "$stderr" == *prestart*"timed out"* ]]
  assert_clean "$ID"
  ! pgrep -f "sleep 5.0314" || false

  set_config '.hooks = {createRuntime: [{path: "/bin/sleep", args: ["sleep", "5.0314"], timeout: 1}]}'
  t0=$SECONDS
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [ $((SECONDS - t0)) -lt 4 ]
  [[ "$stderr" == *createRuntime*"timed out"* ]]
  assert_clean "$ID"
  ! pgrep -f "sleep 5.0314" || false
}

@test "a failing prestart, createRuntime or createContainer hook fails create and leaves nothing" {
  write_hook
  set_args true
  local k
  for k in prestart createRuntime createContainer; do
    rm -f "$HOOKS"/*
    set_config '.hooks = {($k): [$h]}' --arg k "$k" --argjson h "$(hook_json "$k" 3)"
    run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
    echo "$k: status=$status stderr=$stderr"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"$k"*"exit status 3"* ]]
    [ "$(order)" = "$k " ]
    assert_clean "$ID"
    ! pgrep -f "$ID" || false
  done
}

@test "a failing startContainer hook fails start; the process never runs and the container stops" {
  write_hook
  set_config '.hooks = {startContainer: [$sc], poststop: [$pst]}' \
    --argjson sc "$(start_hook_json 4)" --argjson pst "$(hook_json poststop)"
  set_args sh -c 'echo ran > /tmp/process-ran'
  rt create --bundle "$BUNDLE" "$ID"
  run --separate-stderr rt start "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *startContainer*"exit status 4"* ]]
  wait_status "$ID" stopped
  [ ! -e "$BUNDLE/rootfs/tmp/process-ran" ]
  [ "$(cat "$BUNDLE/rootfs/tmp/startContainer.count")" = x ]
  rt delete "$ID"
  [ "$(order)" = "poststop " ]
  assert_clean "$ID"
}

@test "a failing startContainer hook makes run fail and clean up" {
  write_hook
  set_config '.hooks = {startContainer: [$sc]}' --argjson sc "$(start_hook_json 4)"
  set_args sh -c 'echo ran > /tmp/process-ran'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "status=$status output=$output"
  [ "$status" -ne 0 ]
  [[ "$output" == *startContainer* ]]
  [ ! -e "$BUNDLE/rootfs/tmp/process-ran" ]
  assert_clean "$ID"
}

@test "failing poststart and poststop hooks only warn (in the log)" {
  write_hook
  set_config '.hooks = {poststart: [$ps], poststop: [$pst]}' \
    --argjson ps "$(hook_json poststart 5)" --argjson pst "$(hook_json poststop 6)"
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$ID"
  run --separate-stderr rt --log "$TEST_DIR/log" start "$ID"
  echo "status=$status stderr=$stderr"; cat "$TEST_DIR/log"
  [ "$status" -eq 0 ]
  grep -q "warning: .*poststart.*exit status 5" "$TEST_DIR/log"
  [ "$(state_field "$ID" status)" = running ]
  rt kill "$ID" KILL
  wait_status "$ID" stopped
  run --separate-stderr rt --log "$TEST_DIR/log" delete "$ID"
  echo "status=$status stderr=$stderr"; cat "$TEST_DIR/log"
  [ "$status" -eq 0 ]
  grep -q "warning: .*poststop.*exit status 6" "$TEST_DIR/log"
  [ "$(order)" = "poststart poststop " ]
  assert_clean "$ID"
}

@test "several hooks of one kind run in the order given" {
  write_hook
  set_config '.hooks.prestart = [$a, $b] | .hooks.prestart[1].args[1] = "second"' \
    --argjson a "$(hook_json prestart)" --argjson b "$(hook_json prestart)"
  set_args true
  rt run --bundle "$BUNDLE" "$ID"
  [ "$(order)" = "prestart second " ]
}
