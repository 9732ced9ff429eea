# Helpers for the engine tests: berth with its own --root and --state, a busybox image with a
# Docker config (made with umoci, loaded as an oci-archive), and a teardown that removes every
# container (shims included) the test made.

BERTH=${BERTH:?BERTH must point to the berth binary}

e() { "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" "$@"; }

# A plain busybox image (no config: every run names its command).
import_busybox() {
  tar -C "$BUNDLE/rootfs" -cf "$TEST_DIR/rootfs.tar" .
  e import "$TEST_DIR/rootfs.tar" busybox:latest >/dev/null
}

# An image "cfg:latest" with Entrypoint/Cmd/Env/WorkingDir/User/StopSignal and an extra user
# (app, uid 1234, in groups app=1234 and extra=2000).
build_config_image() {
  local L=$TEST_DIR/cfg-layout W=$TEST_DIR/cfg-work
  umoci init --layout "$L"
  umoci new --image "$L:cfg"
  umoci unpack --image "$L:cfg" "$W"
  cp -a "$BUNDLE/rootfs/." "$W/rootfs/"
  mkdir -p "$W/rootfs/work" "$W/rootfs/home/app" "$W/rootfs/vol"
  echo seeded > "$W/rootfs/vol/seed"
  chown 1234:1234 "$W/rootfs/vol"
  echo "app:x:1234:1234:app:/home/app:/bin/sh" >> "$W/rootfs/etc/passwd"
  printf 'app:x:1234:\nextra:x:2000:app\n' >> "$W/rootfs/etc/group"
  umoci repack --image "$L:cfg" "$W"
  umoci config --image "$L:cfg" --config.env "FROM_IMAGE=yes" --config.env "PATH=/usr/bin:/bin" \
    --config.workingdir /work --config.entrypoint /bin/sh --config.entrypoint -c \
    --config.cmd 'echo default-cmd' --config.stopsignal SIGUSR1 --config.volume /vol
  tar -C "$L" -cf "$TEST_DIR/cfg.tar" .
  e load -i "$TEST_DIR/cfg.tar" >/dev/null
}

# Removes every container of the test (running ones included), then checks that nothing of
# them is left on the host.
_engine_teardown() {
  if [ -d "$BROOT" ]; then
    for c in $(e ps -aq --no-trunc 2>/dev/null); do
      e rm -f "$c" >/dev/null 2>&1 || true
    done
  fi
  # Shims whose state dir is under this test dir must be gone.
  pkill -9 -f "berth-shim $TEST_DIR/" 2>/dev/null || true
  pkill -f "syslog_listener.py .*$TEST_DIR/" 2>/dev/null || true
  # The test's networks (their bridges and iptables rules are the host's).
  if [ -d "$BROOT/networks" ]; then
    for n in $(e network ls --format '{{.Name}}' 2>/dev/null); do
      [ "$n" = host ] || [ "$n" = none ] || e network rm -f "$n" >/dev/null 2>&1 || true
    done
  fi
  _berth_teardown
}

teardown() { _engine_teardown; }

# The host's view of what containers may leave behind: mounts under the test dir, shims of
# this test, engine cgroups.
# After a foreground `run --rm` returns, its shim still detaches the rootfs mount and removes
# the directories (the records are gone already): wait for this test's shims to finish.
# A start also leaves a `berth network fill` making the network's spares: wait for it too.
settle() {
  local i
  for i in $(seq 1 100); do
    pgrep -f "berth-shim $TEST_DIR/|--state $TEST_DIR/run .*network fill" >/dev/null || return 0
    sleep 0.05
  done
  return 0
}

# Mounts under the test dir but the spares' network namespaces (made ahead, kept by the
# network until `network rm`).
test_mounts() {
  grep " $TEST_DIR" /proc/self/mountinfo | grep -vc " $TEST_DIR/run/networks/spares/" || true
}

host_traces() {
  settle
  test_mounts
  pgrep -f "berth-shim $TEST_DIR/" | wc -l
  # Engine containers have 64-hex ids (the runtime tests use other names); tests run one at a
  # time, so any such cgroup left when none of ours runs is a leak.
  find /sys/fs/cgroup -maxdepth 4 -regextype egrep -regex '.*/berth/[0-9a-f]{64}' -type d 2>/dev/null | wc -l
}

# process_gone PID: the process has ended (gone, or a zombie its parent has not reaped yet).
process_gone() { [ ! -d "/proc/$1" ] || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# wait_for CMD…: retries for up to 5 s.
wait_for() {
  local i
  for i in $(seq 1 100); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
