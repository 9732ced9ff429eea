#!/usr/bin/env bats
# berth-runtime as Podman's OCI runtime (`podman --runtime`): podman and conmon drive it through
# create/start/kill/delete/exec/pause/resume exactly as they drive runc.
#
# BERTH_PODMAN may name another podman binary.
# Needs the Debian packages `podman` (brings conmon, catatonit, containers-storage config) and
# `util-linux` (script(1), for a tty). Skipped when podman is not installed.
#
# Isolation: podman runs with its own --root/--runroot/--tmpdir under one temp dir per file,
# the vfs storage driver, --cgroup-manager=cgroupfs (systemd is not PID 1 here) and
# --events-backend=file. The runtime podman calls is a wrapper that logs each argv to
# $PD/argv.log and execs berth-runtime with a private --root (podman 4.3 passes
# --runtime-flag to create/start but not to `delete`, so --runtime-flag root=... leaks state).
# Every container goes under the cgroup parent /$CGP, conmon stays in the caller's cgroup
# (--cgroups=no-conmon); teardown_file removes the whole /$CGP tree.
#
# Host limits this file works around: CAP_SYS_RESOURCE is not in the bounding set, so rlimits
# podman would raise (nproc, nofile) are given explicitly below the hard limits.

load helpers

# bats 1.8 cannot skip from setup_file: it records why, and setup() skips every test.
setup_file() {
  export DROPIN_SKIP="" PD="" CGP=""
  PODMAN=$(command -v "${BERTH_PODMAN:-podman}") || PODMAN=""
  if [ -z "$PODMAN" ]; then
    DROPIN_SKIP="podman is not installed (apt-get install podman)"; return 0
  fi
  if ! command -v conmon >/dev/null; then
    DROPIN_SKIP="conmon is not installed (apt-get install conmon)"; return 0
  fi
  [ "$(id -u)" -eq 0 ] || { DROPIN_SKIP="needs root"; return 0; }
  PD=$(mktemp -d /tmp/berth-dropin-podman.XXXXXX)
  CGP="berth-dropin-podman-$$"
  mkdir -p "$PD/tmp" "$PD/state"
  # The runtime podman calls: logs argv, then berth-runtime with a private state root.
  cat > "$PD/berth-wrap" <<EOF
#!/bin/bash
{ printf 'argv:'; printf ' %q' "\$@"; printf ' tty_stdin=%s\n' "\$([ -t 0 ] && echo yes || echo no)"; } >> "$PD/argv.log"
exec "$RUNTIME" --root "$PD/state" "\$@"
EOF
  # pm and prun are scripts, so that script(1) and pipelines can run them too.
  cat > "$PD/pm" <<EOF
#!/bin/bash
export TMPDIR="$PD/tmp"
exec "$PODMAN" --root "$PD/storage" --runroot "$PD/run" --tmpdir "$PD/tmp" \\
  --storage-driver vfs --cgroup-manager cgroupfs --events-backend file "\$@"
EOF
  cat > "$PD/prun" <<EOF
#!/bin/bash
# Options every container gets: see the header.
exec "$PD/pm" \${PRUN_CMD:-run} --runtime "$PD/berth-wrap" --cgroups=no-conmon \\
  --cgroup-parent "/$CGP" --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "\$@"
EOF
  chmod +x "$PD/berth-wrap" "$PD/pm" "$PD/prun"
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$PD/image" true >/dev/null
  tar -C "$PD/image/rootfs" -c . | "$PD/pm" import - localhost/berth-busybox >/dev/null
}

teardown_file() {
  [ -n "${PD:-}" ] && [ -d "$PD" ] || return 0
  "$PD/pm" rm -a -f -t 0 >/dev/null 2>&1 || true
  # Anything podman or the runtime left mounted under the temp dir.
  awk -v d="$PD" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$PD"
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$CGP" 2>/dev/null | while read -r d; do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

setup() {
  [ -z "$DROPIN_SKIP" ] || skip "$DROPIN_SKIP"
  : > "$PD/argv.log"
}

# Each test leaves no container behind: not in podman, not in the runtime's state.
teardown() {
  [ -n "$PD" ] || return 0
  pm rm -a -f -t 0 >/dev/null 2>&1 || true
  "$RUNTIME" --root "$PD/state" list -q 2>/dev/null | while read -r c; do
    "$RUNTIME" --root "$PD/state" delete --force "$c" >/dev/null 2>&1 || true
  done
}

pm() { "$PD/pm" "$@"; }
prun() { "$PD/prun" "$@"; }
pexec() { pm exec "$@"; }
IMG=localhost/berth-busybox

# Shown when a test fails: what podman asked of the runtime.
show_argv() { echo "--- runtime argv log:"; sed 's/[0-9a-f]\{64\}/<ID>/g' "$PD/argv.log"; }

# no_leftovers CID: the runtime has no state, no cgroup and no process of the container.
# podman's cleanup after an exit runs asynchronously (conmon's exit command): wait up to 5 s.
no_leftovers() {
  local cid=$1 i
  for i in $(seq 50); do
    [ ! -e "$PD/state/$cid" ] && ! pgrep -f "$cid" >/dev/null && break
    sleep 0.1
  done
  [ ! -e "$PD/state/$cid" ] || { echo "runtime state of $cid left behind"; return 1; }
  if find /sys/fs/cgroup -maxdepth 4 -type d -name "libpod-$cid*" 2>/dev/null | grep -q .; then
    echo "cgroup of $cid left behind"; return 1
  fi
  ! pgrep -f "$cid" >/dev/null || { echo "processes of $cid left:"; pgrep -af "$cid"; return 1; }
}

@test "podman run --rm: output and exit code 0 through create/start/delete" {
  run prun --rm "$IMG" echo hello-from-berth
  show_argv
  [ "$status" -eq 0 ]
  [ "$output" = "hello-from-berth" ]
  grep -q '^argv: create --bundle .* --pid-file ' "$PD/argv.log"
  grep -q '^argv: start ' "$PD/argv.log"
  grep -q '^argv: delete --force ' "$PD/argv.log"
  [ -z "$("$RUNTIME" --root "$PD/state" list -q)" ]
  [ -z "$(pm ps -a -q)" ]
}

@test "podman run: the container's exit code is propagated" {
  run prun --rm "$IMG" sh -c 'exit 42'
  [ "$status" -eq 42 ]
}

@test "podman run: a command that does not exist exits 127 with runc's message" {
  run -127 prun --rm "$IMG" no-such-command
  show_argv
  [ "$status" -eq 127 ]
  [[ "$output" == *'executable file not found in $PATH'* ]]
}

@test "podman run: after a failed create, podman's 'delete --force' cleanup does not fail" {
  # berth removes a container whose create failed itself; podman then runs
  # `delete --force ID` and prints the runtime's error. runc's delete --force of an unknown id
  # succeeds silently.
  run -127 --separate-stderr prun --rm "$IMG" no-such-command
  show_argv
  echo "stderr: $stderr"
  [ "$status" -eq 127 ]
  [[ "$stderr" != *"does not exist"* ]]
}

@test "podman run -it: the container gets a terminal; its exit code comes back" {
  command -v script >/dev/null || skip "needs script(1)"
  # (A moment before the output: podman attaches to conmon after the start, and under load a
  # program that prints at once can be done before it has — podman's race, seen in CI.)
  run script -qec "$PD/prun --rm -it $IMG sh -c 'sleep 0.5; tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 5'" /dev/null
  show_argv
  [ "$status" -eq 5 ]
  [[ "$output" == *"/dev/pts/0"* ]]
  [[ "$output" == *"both-ttys"* ]]
  grep -q '^argv: create --bundle .* --console-socket ' "$PD/argv.log"
}

@test "podman run -i: stdin reaches the container" {
  run bash -c "echo piped-in | $PD/prun --rm -i $IMG cat"
  [ "$status" -eq 0 ]
  [ "$output" = "piped-in" ]
}

@test "podman run --memory 64m: the limit is applied to the container's cgroup" {
  run prun --rm --memory 64m "$IMG" sh -c \
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
  show_argv
  [ "$status" -eq 0 ]
  [ "$output" = "67108864" ]

  local cid
  cid=$(prun -d --memory 64m "$IMG" sleep 100)
  [ "$(pm inspect -f '{{.HostConfig.Memory}}' "$cid")" = "67108864" ]
  local cg
  cg=$(find /sys/fs/cgroup/memory -maxdepth 3 -type d -name "libpod-$cid" | head -1)
  [ -n "$cg" ] || skip "no v1 memory hierarchy on this host"
  [ "$(cat "$cg/memory.limit_in_bytes")" = "67108864" ]
}

@test "podman exec into a running container: output, exit code, tty" {
  local cid
  cid=$(prun -d "$IMG" sleep 1000)
  [ "$(pm inspect -f '{{.State.Status}}' "$cid")" = "running" ]

  run pexec "$cid" sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "'
  show_argv
  [ "$status" -eq 0 ]
  [ "$output" = "in-exec
sleep 1000 " ]
  grep -q "^argv: exec --pid-file .* --process .* --detach $cid" "$PD/argv.log"

  run pexec "$cid" sh -c 'exit 7'
  [ "$status" -eq 7 ]

  run -127 pexec "$cid" no-such-command
  [ "$status" -eq 127 ]

  if command -v script >/dev/null; then
    run script -qec "$PD/pm exec -it $cid sh -c 'tty; [ -t 0 ] && echo exec-tty'" /dev/null
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"exec-tty"* ]]
    grep -q "^argv: exec .* --tty --console-socket .* $cid" "$PD/argv.log"
  fi
}

@test "podman stop -t 1: PID 1 ignores SIGTERM, is killed after the timeout (exit 137)" {
  local cid
  cid=$(prun -d "$IMG" sleep 1000)
  local start=$SECONDS
  run pm stop -t 1 "$cid"
  show_argv
  [ "$status" -eq 0 ]
  (( SECONDS - start < 8 ))
  [ "$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")" = "exited 137" ]
  grep -q "^argv: kill $cid 15" "$PD/argv.log"
  grep -q "^argv: kill $cid 9" "$PD/argv.log"
  # podman deletes the runtime's container once it has stopped.
  no_leftovers "$cid"

  # A stopped container starts again.
  run pm start "$cid"
  [ "$status" -eq 0 ]
  [ "$(pm inspect -f '{{.State.Status}}' "$cid")" = "running" ]
}

@test "podman stop: a process that handles SIGTERM exits with its own status" {
  local cid
  cid=$(prun -d "$IMG" sh -c 'trap "echo got-term; exit 3" TERM; while true; do sleep 0.1; done')
  sleep 0.3
  run pm stop -t 10 "$cid"
  [ "$status" -eq 0 ]
  [ "$(pm inspect -f '{{.State.ExitCode}}' "$cid")" = "3" ]
  run pm logs "$cid"
  [ "$output" = "got-term" ]
}

@test "podman rm -f removes a running container and everything the runtime made" {
  local cid
  cid=$(prun -d "$IMG" sleep 1000)
  [ -d "$PD/state/$cid" ]
  run pm rm -f -t 0 "$cid"
  show_argv
  [ "$status" -eq 0 ]
  [ -z "$(pm ps -a -q)" ]
  no_leftovers "$cid"
}

@test "podman rm -f succeeds when the runtime no longer knows the container" {
  # As after a reboot that emptied the runtime's state dir, or a runtime that cleaned up
  # itself: podman calls `delete --force ID`, which runc answers with exit 0.
  local cid
  cid=$(PRUN_CMD=create prun "$IMG" sleep 100)
  pm init "$cid" >/dev/null
  "$RUNTIME" --root "$PD/state" delete --force "$cid"
  run pm rm -f -t 0 "$cid"
  show_argv
  [ "$status" -eq 0 ]
  [ -z "$(pm ps -a -q)" ]
}

@test "podman kill, pause/unpause and top" {
  local cid
  cid=$(prun -d "$IMG" sleep 1000)
  run pm pause "$cid"
  [ "$status" -eq 0 ]
  [ "$(pm inspect -f '{{.State.Status}}' "$cid")" = "paused" ]
  run pm unpause "$cid"
  [ "$status" -eq 0 ]
  [ "$(pm inspect -f '{{.State.Status}}' "$cid")" = "running" ]
  grep -q "^argv: pause $cid" "$PD/argv.log"
  grep -q "^argv: resume $cid" "$PD/argv.log"

  run pm top "$cid" pid args
  [ "$status" -eq 0 ]
  [[ "$output" == *"sleep 1000"* ]]

  run pm kill -s KILL "$cid"
  [ "$status" -eq 0 ]
  pm wait "$cid" >/dev/null
  [ "$(pm inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")" = "exited 137" ]
  no_leftovers "$cid"
}

@test "podman run: user, read-only rootfs, pids limit, capabilities, seccomp, mounts" {
  run prun --rm --user 1000:1000 --read-only --pids-limit 50 --cap-drop all --cap-add chown \
    --tmpfs /scratch -v "$PD/image:/mnt:ro" -w /mnt -e FOO=bar --hostname berth-host "$IMG" sh -c '
      id -u; echo $FOO; hostname; pwd
      cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max
      grep -E "^(CapEff|Seccomp):" /proc/self/status | tr -s "\t" " "
      touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-ro
      touch /scratch/x && echo tmpfs-writable
      ls /mnt/config.json'
  echo "$output"
  [ "$status" -eq 0 ]
  # podman puts added capabilities in the ambient set for a non-root user: CAP_CHOWN stays.
  [ "$output" = "1000
bar
berth-host
/mnt
50
CapEff: 0000000000000001
Seccomp: 2
rootfs-ro
tmpfs-writable
/mnt/config.json" ]
}

@test "podman run --uidmap: the container runs in a user namespace" {
  run prun --rm --uidmap 0:100000:65536 --gidmap 0:100000:65536 "$IMG" sh -c \
    'id -u; tr -s " " < /proc/self/uid_map'
  [ "$status" -eq 0 ]
  [ "$output" = "0
 0 100000 65536" ]
}
