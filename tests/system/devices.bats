#!/usr/bin/env bats
# /dev in the container: the default nodes and links, and linux.devices.

load helpers

run_ok() {
  run "$@"
  echo "status=$status output=$output" >&2
  [ "$status" -eq 0 ]
}

# busybox stat: %t:%T are major:minor in hex (all values below are < 10).
STAT_DEV='stat -c "%n %F %t:%T %a %u:%g"'

@test "default device nodes have the right type, numbers and mode" {
  set_args sh -c "for d in null zero full random urandom tty; do $STAT_DEV /dev/\$d; done"
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "/dev/null character special file 1:3 666 0:0" ]
  [ "${lines[1]}" = "/dev/zero character special file 1:5 666 0:0" ]
  [ "${lines[2]}" = "/dev/full character special file 1:7 666 0:0" ]
  [ "${lines[3]}" = "/dev/random character special file 1:8 666 0:0" ]
  [ "${lines[4]}" = "/dev/urandom character special file 1:9 666 0:0" ]
  [ "${lines[5]}" = "/dev/tty character special file 5:0 666 0:0" ]
  [ "${#lines[@]}" -eq 6 ]
}

@test "default links and directories in /dev" {
  set_args sh -c 'for l in ptmx fd stdin stdout stderr; do echo "$l -> $(readlink /dev/$l)"; done; stat -c "%F %a" /dev/shm /dev/pts /dev/mqueue; ls /dev/fd/ | tr "\n" " "; echo'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "ptmx -> pts/ptmx" ]
  [ "${lines[1]}" = "fd -> /proc/self/fd" ]
  [ "${lines[2]}" = "stdin -> /proc/self/fd/0" ]
  [ "${lines[3]}" = "stdout -> /proc/self/fd/1" ]
  [ "${lines[4]}" = "stderr -> /proc/self/fd/2" ]
  [ "${lines[5]}" = "directory 1777" ]
  [ "${lines[6]}" = "directory 755" ]
  [ "${lines[7]}" = "directory 1777" ]
  # /dev/fd works: it lists the shell's descriptors.
  [[ "${lines[8]}" == "0 1 2 "* ]]
}

@test "/dev/shm exists, world-writable and sticky, even without a /dev/shm mount" {
  set_config '.mounts |= map(select(.destination != "/dev/shm")) | .process.user = {"uid": 1000, "gid": 1000}'
  set_args sh -c 'stat -c "%F %a" /dev/shm; awk "\$5 == \"/dev/shm\"" /proc/self/mountinfo | wc -l; touch /dev/shm/by-user && echo user-can-write'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "${lines[0]}" = "directory 1777" ]
  [ "${lines[1]}" = 0 ]
  [ "${lines[2]}" = user-can-write ]
}

@test "default devices behave: null swallows, zero reads zeros, full refuses writes" {
  set_args sh -c 'echo gone > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; echo x > /dev/full; echo "rc=$?"; head -c 16 /dev/urandom | wc -c; echo hi > /dev/stdout'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = null-ok ]
  [ "$(echo ${lines[1]})" = "00 00 00 00" ]
  [[ "$output" == *"No space left on device"* ]]
  [[ "$output" == *"rc=1"* ]]
  [ "${lines[-2]}" = 16 ]
  [ "${lines[-1]}" = hi ]
}

@test "linux.devices: char, block and fifo nodes with mode and owner" {
  set_config '.linux.devices = [
      {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 384, "uid": 1, "gid": 2},
      {"path": "/dev/sub/dir/myzero", "type": "c", "major": 1, "minor": 5, "fileMode": 416, "uid": 0, "gid": 2},
      {"path": "/dev/myloop", "type": "b", "major": 7, "minor": 0, "fileMode": 432},
      {"path": "/dev/myfifo", "type": "p", "fileMode": 420, "uid": 3, "gid": 4}]
    | .process.user = {"uid": 1, "gid": 2}'
  set_args sh -c "$STAT_DEV /dev/mynull /dev/sub/dir/myzero /dev/myloop; stat -c '%n %F %a %u:%g' /dev/myfifo; echo discard > /dev/mynull && echo write-ok; head -c 2 /dev/sub/dir/myzero | od -An -tx1"
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "/dev/mynull character special file 1:3 600 1:2" ]
  [ "${lines[1]}" = "/dev/sub/dir/myzero character special file 1:5 640 0:2" ]
  [ "${lines[2]}" = "/dev/myloop block special file 7:0 660 0:0" ]
  [ "${lines[3]}" = "/dev/myfifo fifo 644 3:4" ]
  [ "${lines[4]}" = write-ok ]
  [ "$(echo ${lines[5]})" = "00 00" ]
  # (The process runs as 1:2, so the owner and group bits are what allowed the write and read.)
  # The nodes live on the container's /dev tmpfs, not in the rootfs.
  [ ! -e "$BUNDLE/rootfs/dev/mynull" ]
}

@test "linux.devices: fileMode is exact regardless of the runtime's umask" {
  set_config '.linux.devices = [{"path": "/dev/open", "type": "c", "major": 1, "minor": 5, "fileMode": 438}]'
  set_args stat -c "%a" /dev/open
  run_ok bash -c "umask 077; exec \"$RUNTIME\" --root \"$ROOT\" run --bundle \"$BUNDLE\" \"$ID\""
  [ "$output" = 666 ]
}

@test "default devices in a user namespace are usable" {
  chmod 755 "$TEST_DIR" "$BUNDLE"
  chown -R 100000:100000 "$BUNDLE/rootfs"
  set_config '.linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
  set_args sh -c "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T' /dev/\$d; done; echo x > /dev/null && echo null-ok; head -c 2 /dev/zero | od -An -tx1"
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "/dev/null character special file 1:3" ]
  [ "${lines[1]}" = "/dev/zero character special file 1:5" ]
  [ "${lines[2]}" = "/dev/full character special file 1:7" ]
  [ "${lines[3]}" = "/dev/random character special file 1:8" ]
  [ "${lines[4]}" = "/dev/urandom character special file 1:9" ]
  [ "${lines[5]}" = "/dev/tty character special file 5:0" ]
  [ "${lines[6]}" = null-ok ]
  [ "$(echo ${lines[7]})" = "00 00" ]
  assert_clean "$ID"
}
