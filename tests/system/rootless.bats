#!/usr/bin/env bats
# Rootless: berth-runtime run by an unprivileged user (nobody), with the config that
# `spec --rootless` writes. No cgroup can be created then; a container without limits runs
# in the caller's cgroup (as with runc), one with limits fails clearly.

load helpers

setup() {
  _berth_setup
  chmod 755 "$TEST_DIR"
  mkdir -p "$ROOT"
  chown 65534:65534 "$ROOT" "$BUNDLE"
  rm "$BUNDLE/config.json"
  (cd "$BUNDLE" && as_nobody "$RUNTIME" spec --rootless)
}

as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
urt() { as_nobody "$RUNTIME" --root "$ROOT" "$@"; }

@test "spec --rootless maps the caller to root, and the container runs as nobody on the host" {
  [ "$(jq -c .linux.uidMappings "$BUNDLE/config.json")" = '[{"containerID":0,"hostID":65534,"size":1}]' ]
  [ "$(jq -c .linux.gidMappings "$BUNDLE/config.json")" = '[{"containerID":0,"hostID":65534,"size":1}]' ]
  set_config '.process.terminal = false'
  set_args sh -c 'id -u; cat /proc/self/uid_map; hostname; ls /dev/null /dev/zero /dev/pts/ptmx; grep -c " /proc " /proc/self/mountinfo; exit 3'
  run urt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 3 ]
  [ "${lines[0]}" = 0 ]
  [ "$(echo ${lines[1]})" = "0 65534 1" ]
  [ "${lines[2]}" = berth ]
  [ "${lines[-1]}" = 1 ]
  assert_clean "$ID"
}

@test "rootless lifecycle: create, start, state, exec, kill, delete" {
  set_config '.process.terminal = false'
  set_args sleep 100
  urt create --bundle "$BUNDLE" "$ID"
  [ "$(urt state "$ID" | jq -r .status)" = created ]
  urt start "$ID"
  [ "$(urt state "$ID" | jq -r .status)" = running ]
  local pid
  pid=$(urt state "$ID" | jq -r .pid)
  # On the host the container's root is nobody.
  grep -P '^Uid:\t65534\t' "/proc/$pid/status"
  run --separate-stderr urt exec "$ID" sh -c 'id -u; echo $$'
  echo "$output $stderr"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = 0 ]
  # Verbs that need a cgroup say so.
  run --separate-stderr urt pause "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"has no cgroup"* ]]
  urt kill "$ID" KILL
  wait_status "$ID" stopped
  urt delete "$ID"
  assert_clean "$ID"
}

@test "rootless with resource limits fails clearly and leaves nothing" {
  set_config '.process.terminal = false | .linux.resources = {"memory": {"limit": 67108864}}'
  expect_failure "rootless: resource limits need a cgroup delegated to this user" urt run --bundle "$BUNDLE" "$ID"
}
