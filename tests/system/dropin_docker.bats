#!/usr/bin/env bats
# berth-runtime as a Docker runtime (`dockerd --add-runtime berth=...`, `docker run --runtime
# berth`): dockerd → containerd → containerd-shim-runc-v2 drive it exactly as they drive runc,
# with --root/--log/--log-format json and create/start/kill/delete/exec/pause/resume/update/ps.
#
# Needs the Debian package `docker.io` (brings dockerd, containerd with
# containerd-shim-runc-v2, runc, tini as docker-init) and `util-linux` (script(1)). Skipped when
# dockerd, containerd or the docker client is missing. BERTH_DOCKER may name another client.
#
# Isolation: this file starts its own dockerd (which starts its own containerd) with every
# directory under one temp dir: --data-root, --exec-root, --pidfile, the API socket, a
# --config-file (so /etc/docker/daemon.json is not read and the trust key is not written to
# /etc/docker), its own containerd namespaces, no bridge and no iptables. Containers go under
# the cgroup parent /$CGP. teardown_file stops dockerd and containerd, unmounts and removes the
# temp dir and removes the /$CGP cgroup trees. (containerd's shims still put their sockets in
# the hard-wired /run/containerd/s; they are removed when the shims exit.)

load helpers

# bats 1.8 cannot skip from setup_file: it records why, and setup() skips every test.
setup_file() {
  export DROPIN_SKIP="" DD="" CGP="" DOCKER=""
  local b
  for b in dockerd containerd containerd-shim-runc-v2; do
    command -v "$b" >/dev/null || { DROPIN_SKIP="$b is not installed (apt-get install docker.io)"; return 0; }
  done
  DOCKER=$(command -v "${BERTH_DOCKER:-docker}") ||
    { DROPIN_SKIP="the docker client is not installed (apt-get install docker.io)"; return 0; }
  [ "$(id -u)" -eq 0 ] || { DROPIN_SKIP="needs root"; return 0; }
  DD=$(mktemp -d /tmp/berth-dropin-docker.XXXXXX)
  CGP="berth-dropin-docker-$$"
  cat > "$DD/berth-wrap" <<EOF
#!/bin/bash
{ printf 'argv:'; printf ' %q' "\$@"; printf ' tty_stdin=%s\n' "\$([ -t 0 ] && echo yes || echo no)"; } >> "$DD/argv.log"
exec "$RUNTIME" "\$@"
EOF
  chmod +x "$DD/berth-wrap"
  printf '{"deprecated-key-path": "%s"}\n' "$DD/key.json" > "$DD/daemon.json"
  setsid dockerd --config-file "$DD/daemon.json" --data-root "$DD/data" --exec-root "$DD/exec" \
    --pidfile "$DD/dockerd.pid" -H "unix://$DD/docker.sock" \
    --containerd-namespace berth-dropin --containerd-plugins-namespace berth-dropin-plugins \
    --add-runtime "berth=$DD/berth-wrap" --cgroup-parent "/$CGP" \
    --exec-opt native.cgroupdriver=cgroupfs --bridge none --iptables=false --ip6tables=false \
    --ip-masq=false --userland-proxy=false \
    > "$DD/dockerd.log" 2>&1 < /dev/null &
  local i
  for i in $(seq 150); do
    "$DOCKER" -H "unix://$DD/docker.sock" version >/dev/null 2>&1 && break
    sleep 0.2
  done
  if ! "$DOCKER" -H "unix://$DD/docker.sock" version >/dev/null 2>&1; then
    echo "dockerd did not come up; its log:"; cat "$DD/dockerd.log"; return 1
  fi
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$DD/image" true >/dev/null
  tar -C "$DD/image/rootfs" -c . | "$DOCKER" -H "unix://$DD/docker.sock" import - berth-busybox:latest >/dev/null
}

teardown_file() {
  [ -n "${DD:-}" ] && [ -d "$DD" ] || return 0
  local ids i
  ids=$(dk ps -a -q 2>/dev/null) && [ -z "$ids" ] || dk rm -f $ids >/dev/null 2>&1 || true
  if [ -s "$DD/dockerd.pid" ]; then
    local pid
    pid=$(cat "$DD/dockerd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # dockerd stops its containerd; kill any process still running from our temp dir (by pid).
  for i in $(seq 25); do pgrep -f "$DD" >/dev/null || break; sleep 0.2; done
  for pid in $(pgrep -f "$DD"); do kill -KILL "$pid" 2>/dev/null || true; done
  awk -v d="$DD" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$DD"
  find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "$CGP" 2>/dev/null | while read -r d; do
    find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

setup() {
  [ -z "$DROPIN_SKIP" ] || skip "$DROPIN_SKIP"
  : > "$DD/argv.log"
}

teardown() {
  [ -n "$DD" ] || return 0
  local ids
  ids=$(dk ps -a -q 2>/dev/null)
  [ -z "$ids" ] || dk rm -f $ids >/dev/null 2>&1 || true
}

dk() { "$DOCKER" -H "unix://$DD/docker.sock" "$@"; }
drun() { dk run --runtime berth --network none "$@"; }
IMG=berth-busybox

# Shown when a test fails: what containerd's shim asked of the runtime.
show_argv() { echo "--- runtime argv log:"; sed 's/[0-9a-f]\{64\}/<ID>/g' "$DD/argv.log"; }

# The runtime's state root, as containerd-shim-runc-v2 passes it.
state_root() { echo "$DD/exec/runtime-runc/berth-dropin"; }

# no_leftovers CID: no runtime state, no cgroup and no process of the container remain.
no_leftovers() {
  local cid=$1 i
  for i in $(seq 50); do
    [ ! -e "$(state_root)/$cid" ] && ! pgrep -f "$cid" >/dev/null && break
    sleep 0.1
  done
  [ ! -e "$(state_root)/$cid" ] || { echo "runtime state of $cid left behind"; return 1; }
  if find /sys/fs/cgroup -maxdepth 4 -type d -name "$cid" 2>/dev/null | grep -q .; then
    echo "cgroup of $cid left behind"; return 1
  fi
  ! pgrep -f "$cid" >/dev/null || { echo "processes of $cid left:"; pgrep -af "$cid"; return 1; }
}

@test "docker run --rm: output and exit code 0; the shim passes --root, --log, --log-format json" {
  run drun --rm "$IMG" echo hello-from-berth
  show_argv
  [ "$status" -eq 0 ]
  [ "$output" = "hello-from-berth" ]
  grep -q "^argv: --root $(state_root) --log .*/log.json --log-format json create --bundle .* --pid-file .*/init.pid " "$DD/argv.log"
  grep -q "^argv: --root .* start " "$DD/argv.log"
  grep -q "^argv: --root .* delete " "$DD/argv.log"
  [ -z "$(dk ps -a -q)" ]
}

@test "docker run: the container's exit code is propagated" {
  run drun --rm "$IMG" sh -c 'exit 42'
  [ "$status" -eq 42 ]
}

@test "docker run: a command that does not exist exits 127 with the runtime's message" {
  run -127 drun --rm "$IMG" no-such-command
  show_argv
  [ "$status" -eq 127 ]
  [[ "$output" == *'executable file not found in $PATH'* ]]
}

@test "docker run -it: the container gets a terminal; its exit code comes back" {
  command -v script >/dev/null || skip "needs script(1)"
  run script -qec "$DOCKER -H unix://$DD/docker.sock run --runtime berth --network none --rm -it $IMG sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; exit 5'" /dev/null
  show_argv
  [ "$status" -eq 5 ]
  [[ "$output" == *"/dev/pts/0"* ]]
  [[ "$output" == *"both-ttys"* ]]
  grep -q "^argv: .* create --bundle .* --console-socket " "$DD/argv.log"
}

@test "docker run -i: stdin reaches the container" {
  run bash -c "echo piped-in | $DOCKER -H unix://$DD/docker.sock run --runtime berth --network none --rm -i $IMG cat"
  [ "$status" -eq 0 ]
  [ "$output" = "piped-in" ]
}

@test "docker run --memory 64m: the limit is applied to the container's cgroup" {
  run drun --rm --memory 64m "$IMG" sh -c \
    'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max'
  [ "$status" -eq 0 ]
  [ "$output" = "67108864" ]

  local cid
  cid=$(drun -d --memory 64m "$IMG" sleep 100)
  [ "$(dk inspect -f '{{.HostConfig.Memory}}' "$cid")" = "67108864" ]
  [ -d "/sys/fs/cgroup/memory/$CGP" ] || skip "no v1 memory hierarchy on this host"
  [ "$(cat "/sys/fs/cgroup/memory/$CGP/$cid/memory.limit_in_bytes")" = "67108864" ]
}

@test "docker exec into a running container: output, exit code, tty" {
  local cid
  cid=$(drun -d "$IMG" sleep 1000)
  run dk exec "$cid" sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "'
  show_argv
  [ "$status" -eq 0 ]
  [ "$output" = "in-exec
sleep 1000 " ]
  grep -q "^argv: .* exec --process .* --detach --pid-file .* $cid" "$DD/argv.log"

  run dk exec "$cid" sh -c 'exit 7'
  [ "$status" -eq 7 ]
  run -126 dk exec "$cid" no-such-command
  [ "$status" -eq 126 ] || [ "$status" -eq 127 ]

  run dk exec -u 1000 -w /tmp -e X=1 "$cid" sh -c 'id -u; pwd; echo $X'
  [ "$output" = "1000
/tmp
1" ]

  if command -v script >/dev/null; then
    run script -qec "$DOCKER -H unix://$DD/docker.sock exec -it $cid sh -c 'tty; [ -t 0 ] && echo exec-tty'" /dev/null
    [ "$status" -eq 0 ]
    [[ "$output" == *"/dev/pts/"* ]]
    [[ "$output" == *"exec-tty"* ]]
  fi
}

@test "docker stop -t 1: PID 1 ignores SIGTERM, is killed after the timeout (exit 137)" {
  local cid
  cid=$(drun -d "$IMG" sleep 1000)
  local start=$SECONDS
  run dk stop -t 1 "$cid"
  show_argv
  [ "$status" -eq 0 ]
  (( SECONDS - start < 8 ))
  [ "$(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$cid")" = "exited 137" ]
  grep -q "^argv: .* kill $cid 15" "$DD/argv.log"
  grep -q "^argv: .* kill $cid 9" "$DD/argv.log"
  no_leftovers "$cid"

  run dk start "$cid"
  [ "$status" -eq 0 ]
  [ "$(dk inspect -f '{{.State.Status}}' "$cid")" = "running" ]
}

@test "docker stop: a process that handles SIGTERM exits with its own status" {
  local cid
  cid=$(drun -d "$IMG" sh -c 'trap "echo got-term; exit 3" TERM; while true; do sleep 0.1; done')
  sleep 0.3
  run dk stop -t 10 "$cid"
  [ "$status" -eq 0 ]
  [ "$(dk inspect -f '{{.State.ExitCode}}' "$cid")" = "3" ]
  run dk logs "$cid"
  [ "$output" = "got-term" ]
}

@test "docker rm -f removes a running container and everything the runtime made" {
  local cid
  cid=$(drun -d "$IMG" sleep 1000)
  [ -d "$(state_root)/$cid" ]
  run dk rm -f "$cid"
  show_argv
  [ "$status" -eq 0 ]
  [ -z "$(dk ps -a -q)" ]
  no_leftovers "$cid"
}

@test "docker pause/unpause, top, update and restart" {
  local cid
  cid=$(drun -d "$IMG" sleep 1000)
  run dk pause "$cid"
  [ "$status" -eq 0 ]
  [ "$(dk inspect -f '{{.State.Status}}' "$cid")" = "paused" ]
  run dk unpause "$cid"
  [ "$status" -eq 0 ]
  [ "$(dk inspect -f '{{.State.Status}}' "$cid")" = "running" ]

  run dk top "$cid"
  show_argv
  [ "$status" -eq 0 ]
  [[ "$output" == *"sleep 1000"* ]]
  grep -q "^argv: .* ps --format json $cid" "$DD/argv.log"

  run dk update --memory 128m --memory-swap 256m --pids-limit 60 "$cid"
  echo "update: $output"
  [ "$status" -eq 0 ]
  run dk exec "$cid" sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
  echo "limits: $output"
  [ "$output" = "134217728
60" ]

  run dk restart -t 0 "$cid"
  [ "$status" -eq 0 ]
  [ "$(dk inspect -f '{{.State.Status}} {{.RestartCount}}' "$cid")" = "running 0" ]
}

@test "docker run: user, read-only rootfs, pids limit, capabilities, seccomp, mounts, init" {
  run drun --rm --user 1000:1000 --read-only --pids-limit 50 --cap-drop all --cap-add chown \
    --tmpfs /scratch -v "$DD/image:/mnt:ro" -w /mnt -e FOO=bar --hostname berth-host \
    --ulimit nofile=512:512 "$IMG" sh -c '
      id -u; echo $FOO; hostname; pwd; ulimit -n
      cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max
      grep -E "^Seccomp:" /proc/self/status | tr -s "\t" " "
      touch /x 2>/dev/null && echo rootfs-writable || echo rootfs-ro
      touch /scratch/x && echo tmpfs-writable
      ls /mnt/config.json'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "1000
bar
berth-host
/mnt
512
50
Seccomp: 2
rootfs-ro
tmpfs-writable
/mnt/config.json" ]

  if [ -x /usr/sbin/docker-init ] || [ -x /usr/bin/docker-init ] || [ -x /usr/bin/tini ]; then
    run drun --rm --init "$IMG" cat /proc/1/cmdline
    [ "$status" -eq 0 ]
    [[ "$output" == *init* ]]
  fi
}
