#!/usr/bin/env bats
# ps, pause/resume, update and events on a live container.

load helpers

start_two() {
  set_args sh -c 'sleep 1000 & sleep 1000 & wait'
  rt run -d --bundle "$BUNDLE" "$ID"
  wait_status "$ID" running
  for i in $(seq 50); do [ "$(rt ps --format json "$ID" | jq length)" -ge 3 ] && return 0; sleep 0.05; done
  return 1
}

@test "ps lists every process of the container's cgroup" {
  start_two
  run rt ps --format json "$ID"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | jq length)" -eq 3 ]
  echo "$output" | jq -e --argjson p "$(state_field "$ID" pid)" 'index($p) != null'
  run rt ps "$ID"
  [ "$(echo "$output" | grep -cE ' sleep 1000$')" -eq 2 ]
}

@test "pause freezes every process and state says paused; resume thaws" {
  start_two
  rt pause "$ID"
  [ "$(state_field "$ID" status)" = paused ]
  local p
  for p in $(rt ps --format json "$ID" | jq '.[]'); do
    # Frozen tasks sleep in the refrigerator: state D or S, never R, and they do not run.
    [[ "$(awk '{print $3}' /proc/$p/stat)" =~ ^[DS]$ ]]
  done
  run rt pause "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"paused"* ]]
  run rt delete "$ID"
  [ "$status" -eq 1 ]
  rt resume "$ID"
  [ "$(state_field "$ID" status)" = running ]
  run rt resume "$ID"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not paused"* ]]
  # A paused container can still be force-deleted.
  rt pause "$ID"
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "update changes the limits of a running container" {
  start_two
  rt update --memory 64m --pids-limit 50 --cpu-shares 256 "$ID"
  run rt events --stats "$ID"
  [ "$status" -eq 0 ]
  echo "$output" | jq -e '.type == "stats" and .data.memory.usage.limit == 67108864 and .data.pids.limit == 50 and .data.pids.current == 3'
  echo '{"pids": {"limit": 7}}' | rt update --resources - "$ID"
  rt events --stats "$ID" | jq -e '.data.pids.limit == 7'
  run --separate-stderr rt update --memory lots "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"--memory"* ]]
  run --separate-stderr rt update --resources - "$ID" <<< '{"memory": {"limit": "x"}}'
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"memory.limit"* ]]
}

@test "events --stats reports cpu and memory usage" {
  set_args sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1000'
  rt run -d --bundle "$BUNDLE" "$ID"
  sleep 1
  run rt events --stats "$ID"
  echo "$output" | jq -e '.data.cpu.usage.total > 0 and .data.memory.usage.usage > 0'
}

@test "ps, pause, update and events refuse a stopped container" {
  set_args true
  rt run --keep --bundle "$BUNDLE" "$ID"
  for verb in ps pause update events; do
    if [ $verb = events ]; then run --separate-stderr rt events --stats "$ID"; else run --separate-stderr rt $verb "$ID"; fi
    [ "$status" -eq 1 ]
    [[ "$stderr" == *stopped* ]]
  done
  rt delete "$ID"
}
