#!/usr/bin/env bats
# Hostile containers and hostile input (the hardening issue): one case per attack, each shown
# to fail before its fix. The attacker tools are static binaries built with the tests.

load helpers
load image_helpers
load engine_helpers

EXE_ATTACK=${BERTH_EXE_ATTACK:?BERTH_EXE_ATTACK must point to the exe-attack helper}
SYSCALL_PROBE=${BERTH_SYSCALL_PROBE:?BERTH_SYSCALL_PROBE must point to the syscall-probe helper}

setup() {
  _berth_setup
  import_busybox
  # "attack": busybox, the two tools, and /evil, a program whose interpreter is
  # /proc/self/exe — whatever binary execs it runs itself in the container.
  local r=$TEST_DIR/attack-root
  mkdir -p "$r"
  cp -a "$BUNDLE/rootfs/." "$r/"
  cp "$EXE_ATTACK" "$r/attack"
  cp "$SYSCALL_PROBE" "$r/probe"
  printf '#!/proc/self/exe\n' > "$r/evil"
  chmod 755 "$r/evil"
  tar -C "$r" -cf "$TEST_DIR/attack.tar" .
  e import "$TEST_DIR/attack.tar" attack >/dev/null
}

teardown() {
  [ ! -f "$TEST_DIR/registry.pid" ] || kill "$(cat "$TEST_DIR/registry.pid")" 2>/dev/null || true
  stop_registry
  ! mountpoint -q "$TEST_DIR/small" || umount "$TEST_DIR/small"
  _engine_teardown
}

# attack_through EXEC_COMMAND…: runs the attacker in container v, then the given exec of
# /evil, and prints the attacker's report.
attack_through() {
  e exec -d v sh -c '/attack 5 > /tmp/report 2>&1'
  wait_for e exec v grep -q watching /tmp/report
  local i
  # Each of these brings the binary in for a few milliseconds: several chances to catch it.
  for i in $(seq 1 8); do "$@" >/dev/null 2>&1 || true; done
  report_done
}

# Waits for the attacker in container v to finish (it watches, then tries each catch), and
# prints its report.
report_done() {
  local i
  for i in $(seq 1 150); do
    e exec v grep -q '^done' /tmp/report && break
    sleep 0.1
  done
  e exec v cat /tmp/report
}

# bats test_tags=release-only
@test "CVE-2019-5736 through the shim: exec of #!/proc/self/exe cannot reach berth-shim's file" {
  # A sanitized shim is a dynamic executable: in a busybox root it cannot even start, so
  # there is nothing to catch (the release suite runs this).
  [ -z "${BERTH_SANITIZED:-}" ] || skip "the sanitized shim is dynamic"
  e run -d --name v --network none attack sleep 1000 >/dev/null
  out=$(attack_through e exec v /evil)
  echo "$out"
  # The attacker saw a binary from outside the container (the shim's), and could not open it
  # for writing: a read-only view, not the host's file ("Text file busy" before the fix: the
  # host file, writable once no shim runs it).
  [[ "$out" == *"caught "* ]]
  [[ "$out" != *"write: OK"* ]]
  [[ "$out" != *"Text file busy"* ]]
  [[ "$out" == *"Read-only file system"* || "$out" == *"Operation not permitted"* ]]
  # The shim itself runs from that view: another device than the file on disk.
  shim=$(pgrep -f "berth-shim $TEST_DIR/" | head -1)
  [ "$(stat -L -c %d:%i "/proc/$shim/exe")" != "$(stat -c %d:%i "$(dirname "$BERTH")/berth-shim")" ]
}

@test "CVE-2019-5736 through the shim: exec -t too" {
  e run -d --name v --network none attack sleep 1000 >/dev/null
  out=$(attack_through script -qec "\"$BERTH\" --root $BROOT --state $TEST_DIR/run exec -t v /evil" /dev/null)
  echo "$out"
  [[ "$out" == *"caught "* ]]
  [[ "$out" != *"write: OK"* ]]
  [[ "$out" != *"Text file busy"* ]]
}

# The attacker's verdict: it caught a binary from outside the container and could not write to
# it ("Text file busy" before the shim's fix: the host's file, writable once nothing runs it).
refused_everywhere() {
  grep -q '^caught [0-9]' <<<"$1" && [[ "$1" != *"write: OK"* ]] && [[ "$1" != *"Text file busy"* ]]
}

# bats test_tags=release-only
@test "CVE-2019-5736 through the shim: run whose init is #!/proc/self/exe (in the attacker's PID namespace)" {
  [ -z "${BERTH_SANITIZED:-}" ] || skip "the sanitized shim is dynamic"
  e run -d --name v --network none attack sleep 1000 >/dev/null
  # The init of a new container execs /evil: the kernel runs the shim's binary (the process
  # the init was forked from) in the container, where the attacker waits for it.
  out=$(attack_through e run --rm --network none --pid container:v attack /evil)
  echo "$out"
  refused_everywhere "$out"
}

# bats test_tags=release-only
@test "CVE-2019-5736 through the shim: each restart of a restart policy too" {
  [ -z "${BERTH_SANITIZED:-}" ] || skip "the sanitized shim is dynamic"
  e run -d --name v --network none attack sleep 1000 >/dev/null
  e exec -d v sh -c '/attack 6 > /tmp/report 2>&1'
  wait_for e exec v grep -q watching /tmp/report
  e run -d --name w --network none --pid container:v --restart on-failure:3 attack /evil >/dev/null
  # The first run and three restarts (100, 200, 400 ms apart), each bringing the binary in.
  wait_for_status() { [ "$(e inspect -f '{{.State.Status}}' w)" = exited ] && [ "$(e inspect -f '{{.RestartCount}}' w)" = 3 ]; }
  wait_for wait_for_status
  out=$(report_done)
  echo "$out"
  refused_everywhere "$out"
  # Restarts were caught, not only the first run.
  [ "$(grep -c '^caught' <<<"$out")" -ge 2 ]
}

@test "CVE-2019-5736 through an external runtime (--runtime runc): no binary of the host enters" {
  e run -d --name v --network none attack sleep 1000 >/dev/null
  e exec -d v sh -c '/attack 5 > /tmp/report 2>&1'
  wait_for e exec v grep -q watching /tmp/report
  # runc's init runs from a sealed copy of runc and cannot exec it as /evil's interpreter at
  # all; berth's shim only runs runc, outside the container. The attacker catches nothing.
  for i in 1 2 3; do
    run e run --rm --network none --runtime runc --pid container:v attack /evil
    echo "$status: $output"
    [ "$status" -ne 0 ]
    [[ "$output" == *"exec /evil"* ]]
  done
  out=$(report_done)
  echo "$out"
  [[ "$out" == *"caught nothing"* ]]
}

@test "a container whose shim is killed dies at once, before any berth command" {
  e run -d --name v --network none busybox sleep 1000 >/dev/null
  pid=$(e inspect -f '{{.State.Pid}}' v)
  [ -d "/proc/$pid" ]
  pkill -9 -f "berth-shim $TEST_DIR/"
  wait_for process_gone "$pid"
  run e inspect -f '{{.State.Status}}' v
  [ "$output" = exited ]
}

@test "a container of an external runtime (--runtime runc) dies with its shim too: its guard deletes it" {
  e run -d --name r --network none --runtime runc busybox sleep 1000 >/dev/null
  pid=$(e inspect -f '{{.State.Pid}}' r)
  [ -d "/proc/$pid" ]
  dir=$(dirname "$(ls "$TEST_DIR"/run/*/containers/*/shim.pid)")
  # One guard per such container, named so that killing every berth-shim spares it.
  pgrep -f "berth-guard $dir" >/dev/null
  pkill -9 -f "berth-shim $TEST_DIR/"
  wait_for process_gone "$pid"
  grep -q 'the shim is gone' "$dir/shim.log"
  # (The guard's `runc delete --force` ends the container, then the guard ends.)
  no_guard() { ! pgrep -f "berth-guard $TEST_DIR/" >/dev/null; }
  wait_for no_guard
  [ "$(e inspect -f '{{.State.Status}}' r)" = exited ]
  [ "$(e inspect -f '{{.State.ExitCode}}' r)" = 137 ]
  e rm r
  [ -z "$(ls "$TEST_DIR/run/default/runtime" 2>/dev/null | grep -v '^@')" ]
  # Shim and guard both killed: berth's next look deletes the container through runc (the
  # runtime library cannot read runc's state: before, it stayed up, shown as exited).
  e run -d --name r2 --network none --runtime runc busybox sleep 1000 >/dev/null
  pid=$(e inspect -f '{{.State.Pid}}' r2)
  pkill -9 -f "berth-(shim|guard) $TEST_DIR/"
  sleep 0.2
  [ -d "/proc/$pid" ]
  [ "$(e inspect -f '{{.State.Status}}' r2)" = exited ]
  wait_for process_gone "$pid"
  e rm r2
  [ -z "$(ls "$TEST_DIR/run/default/runtime" 2>/dev/null | grep -v '^@')" ]
  # A container that ends normally takes its guard with it, without a forced delete.
  e run --rm --network none --runtime runc busybox true
  wait_for no_guard
}

@test "--pid host and --pid container:NAME: the host's or another container's PID namespace; bad values refused" {
  e run -d --name v --network none busybox sleep 1000 >/dev/null
  run e run --rm --network none --pid container:v busybox ps -o comm
  echo "$output"
  [[ "$output" == *sleep* ]]
  [ "$(e run --rm --network none --pid host busybox readlink /proc/self/ns/pid)" = "$(readlink /proc/self/ns/pid)" ]
  [ "$(e inspect -f '{{.HostConfig.PidMode}}' v)" = "" ]
  e create --name j --network none --pid container:v busybox true >/dev/null
  [[ "$(e inspect -f '{{.HostConfig.PidMode}}' j)" == "container:$(e inspect -f '{{.Id}}' v)" ]]
  for bad in bogus container:nope; do
    run e run --rm --network none --pid "$bad" busybox true
    echo "$bad → $status: $output"
    [ "$status" -eq 125 ]
    [ "${#lines[@]}" -eq 1 ]
  done
  e stop -t 0 v >/dev/null
  run e start j
  [ "$status" -ne 0 ]
  [[ "$output" == *"PID namespace of container v: it is not running"* ]]
}

@test "--ipc shareable/container:NAME/host/none, --uts host, --cgroup-parent: the namespaces a pod's containers share" {
  e run -d --name donor --network none --ipc shareable busybox sh -c 'echo from-donor > /dev/shm/note; exec sleep 1000' >/dev/null
  e run -d --name private --network none busybox sleep 1000 >/dev/null
  note_written() { [ "$(e exec donor cat /dev/shm/note 2>/dev/null)" = from-donor ]; }
  wait_for note_written
  local donor_ipc
  donor_ipc=$(e exec donor readlink /proc/self/ns/ipc)
  # The joiner is in the donor's IPC namespace with the donor's /dev/shm, both ways.
  run e run --rm --network none --ipc container:donor busybox sh -c 'readlink /proc/self/ns/ipc; cat /dev/shm/note; echo back > /dev/shm/reply'
  echo "$output"
  [ "${lines[0]}" = "$donor_ipc" ]
  [ "${lines[1]}" = from-donor ]
  [ "$(e exec donor cat /dev/shm/reply)" = back ]
  [ "$(e inspect -f '{{.HostConfig.IpcMode}}' private)" = private ]
  # Docker's rule: only a shareable IPC namespace can be joined.
  run e run --rm --network none --ipc container:private busybox true
  echo "$output"
  [ "$status" -eq 125 ]
  [[ "$output" == *"not shareable"* ]]
  [ "$(e run --rm --network none --ipc host busybox readlink /proc/self/ns/ipc)" = "$(readlink /proc/self/ns/ipc)" ]
  [ "$(e run --rm --network none busybox readlink /proc/self/ns/ipc)" != "$(readlink /proc/self/ns/ipc)" ]
  [ "$(e run --rm --network none --ipc none busybox sh -c 'grep -c " /dev/shm " /proc/mounts')" = 0 ]
  # UTS: the host's hostname, which --hostname cannot then change.
  [ "$(e run --rm --network none --uts host busybox hostname)" = "$(hostname)" ]
  for bad in "--uts host --hostname x" "--ipc bogus" "--ipc container:" "--uts container:donor" "--cgroup-parent ../escape"; do
    run e run --rm --network none $bad busybox true
    echo "$bad → $status: $output"
    [ "$status" -eq 125 ]
    [ "${#lines[@]}" -eq 1 ]
  done
  # The container's cgroup goes under the parent given.
  local parent=berth-test-$$
  e run -d --name cg --network none --cgroup-parent "$parent" busybox sleep 1000 >/dev/null
  local pid id
  pid=$(e inspect -f '{{.State.Pid}}' cg)
  id=$(e inspect -f '{{.Id}}' cg)
  grep -q ":/$parent/$id\$" "/proc/$pid/cgroup"
  e rm -f cg >/dev/null
  find /sys/fs/cgroup -maxdepth 3 -type d -name "$parent" -exec rmdir {} + 2>/dev/null || true
  # The shareable /dev/shm is the donor's own host-side mount: gone with it.
  grep -q " $TEST_DIR/run/default/containers/[0-9a-f]*/shm " /proc/self/mountinfo
  e rm -f donor private >/dev/null
  ! grep -q " $TEST_DIR/run/default/containers/[0-9a-f]*/shm " /proc/self/mountinfo || false
}

@test "image mount is nosuid and nodev: an image's setuid file and device node do nothing on the host; its own mount point is 0700" {
  [ "$(uname -m)" = x86_64 ] || skip "syscall numbers are x86_64's"
  local r=$TEST_DIR/suid-root
  mkdir -p "$r"
  cp -a "$BUNDLE/rootfs/." "$r/"
  # A setuid-root program that keeps its privilege (busybox drops it): it prints its euid.
  cp "$SYSCALL_PROBE" "$r/suid-euid"
  chmod 4755 "$r/suid-euid"
  mknod -m 666 "$r/null" c 1 3
  tar -C "$r" -cf "$TEST_DIR/suid.tar" .
  e import "$TEST_DIR/suid.tar" suid >/dev/null
  mkdir "$TEST_DIR/mnt"
  e image mount suid "$TEST_DIR/mnt"
  [ -u "$TEST_DIR/mnt/suid-euid" ]
  [[ "$(findmnt -no OPTIONS "$TEST_DIR/mnt")" == *nosuid*nodev* ]]
  # A host user runs the image's setuid-root file (geteuid = 107): it stays that user.
  run setpriv --reuid 65534 --regid 65534 --clear-groups "$TEST_DIR/mnt/suid-euid" 107
  echo "$output"
  [ "$output" = ok=65534 ]
  # The image's 0666 device node opens nothing.
  run sh -c "echo x > '$TEST_DIR/mnt/null'"
  [ "$status" -ne 0 ]
  e image unmount "$TEST_DIR/mnt"
  # Without DIR (podman's form): berth's own mount point, under a 0700 directory no other host
  # user can enter; nosuid,nodev too; unmount by image name removes it.
  run e image mount suid
  [ "$status" -eq 0 ]
  own=$output
  [[ "$own" == "$BROOT/mounts/"* ]]
  [ "$(stat -c %a "$BROOT/mounts")" = 700 ]
  [ -u "$own/suid-euid" ]
  [[ "$(findmnt -no OPTIONS "$own")" == *nosuid*nodev* ]]
  [ "$(e image mount suid)" = "$own" ]   # again: where it is
  run setpriv --reuid 65534 --regid 65534 --clear-groups ls "$own"
  [ "$status" -ne 0 ]
  e image unmount suid
  [ ! -e "$own" ]
  [ "$(test_mounts)" -eq 0 ]
  # In a container the same image's setuid file still works (its rootfs is not a host view).
  run e run --rm --network none -u 65534 suid /suid-euid 107
  echo "$output"
  [ "$output" = ok ]
}

@test "mounts over /proc, --cpus nan or below 0.01, line breaks in --add-host/--dns*: refused with one line, nothing left" {
  mkdir -p "$TEST_DIR/fakeproc"
  nl=$'\n'
  for flags in "-v $TEST_DIR/fakeproc:/proc" "--tmpfs /proc" "-v $TEST_DIR/fakeproc:/proc/sys" \
               "--mount type=bind,src=$TEST_DIR/fakeproc,dst=/proc/" "--cpus nan" "--cpus 0.001" \
               "--cpus=-1" "--dns 1.2.3.4x" "--add-host=a_b:1.2.3.4x"; do
    run e run --rm --network none $flags busybox true
    echo "$flags → $status: $output"
    [ "$status" -eq 125 ]
    [ "${#lines[@]}" -eq 1 ]
  done
  for flag in "--add-host=evil:1.2.3.4${nl}6.6.6.6 bank.example" "--add-host=a b:1.2.3.4" \
              "--dns-search=x${nl}nameserver 6.6.6.6" "--dns-option=ndots:1${nl}nameserver 6.6.6.6" \
              "--hostname=h${nl}6.6.6.6 evil" "--domainname=d 6.6.6.6" "--link=a:b${nl}6.6.6.6 db"; do
    run e run --rm --network none "$flag" busybox true
    echo "$flag → $status: $output"
    [ "$status" -eq 125 ]
    [ "${#lines[@]}" -eq 1 ]
  done
  # An image's VOLUME /proc (a fake /proc/self/setgroups "deny" would have kept the caller's
  # supplementary groups) or VOLUME / (Docker refuses it): refused the same way.
  e create --name vp --network none busybox true >/dev/null
  e commit --change 'VOLUME /proc' vp hostile:volproc >/dev/null
  e commit --change 'VOLUME ["/"]' vp hostile:volroot >/dev/null
  e rm vp >/dev/null
  for img in hostile:volproc hostile:volroot; do
    run e run --rm --network none "$img" true
    echo "$img → $status: $output"
    [ "$status" -eq 125 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == *"invalid mount destination"* ]]
  done
  [ -z "$(e volume ls -q)" ]
  [ -z "$(e ps -aq)" ]
  [ -z "$(ls "$BROOT/containers")" ]
  [ "$(host_traces | tr '\n' ' ')" = "0 0 0 " ]
  # What is allowed still works.
  run e run --rm --network none --cpus 0.5 --add-host db:10.0.0.5 --dns-search example.org busybox \
    sh -c 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max; grep db /etc/hosts'
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == 50000 ]]
  [[ "$output" == *"10.0.0.5"*db* ]]
}

@test "default seccomp profile is an allow list: EPERM for what it leaves out, ENOSYS for newer syscalls" {
  probe() { e run --rm --network none "$@" | tr -d '\r'; }
  # x86_64 numbers: 39 getpid, 135 personality, 272 unshare, 41 socket, 461 lsm_list_modules,
  # 462 mseal, 467 open_tree_attr.
  [ "$(uname -m)" = x86_64 ] || skip "syscall numbers are x86_64's"
  [[ "$(probe attack /probe 39)" == ok=* ]]   # getpid
  # What shells do all day (rmdir was once missing from the list).
  run e run --rm --network none busybox sh -c 'mkdir -p /tmp/a/b && rm -r /tmp/a && echo x > /tmp/f && mv /tmp/f /etc/f && echo ok'
  [ "$output" = ok ]
  [ "$(probe attack /probe 461 0 0 0)" = EPERM ]    # not on Docker's list
  [ "$(probe attack /probe 467)" = ENOSYS ]          # newer than the list: libc falls back
  [ "$(probe attack /probe 1000)" = ENOSYS ]
  [ "$(probe attack /probe 462 0 0 0)" = ok ]        # mseal: newer than libseccomp, on the list
  [ "$(probe attack /probe 135 0x400000)" = EPERM ]  # personality(READ_IMPLIES_EXEC)
  [ "$(probe attack /probe 135 0xffffffff)" = ok ]   # the query
  [ "$(probe attack /probe 272 0x10000000)" = EPERM ] # unshare(CLONE_NEWUSER)
  [ "$(probe attack /probe 41 40 1 0)" = EPERM ]     # socket(AF_VSOCK)
  [ "$(probe attack /probe 41 38 5 0)" = EPERM ]     # socket(AF_ALG)
  # Without the profile, the kernel answers.
  [ "$(probe --security-opt seccomp=unconfined attack /probe 461 0 0 0)" != EPERM ]
  [ "$(probe --security-opt seccomp=unconfined attack /probe 467)" != ENOSYS ]
  # A capability opens its group: CAP_SYS_TIME's settimeofday(NULL, NULL) is allowed (ok).
  [ "$(probe attack /probe 164 0 0)" = EPERM ]
  [ "$(probe --cap-add SYS_TIME attack /probe 164 0 0)" = ok ]
}

@test "every process berth starts in a container begins with default signal dispositions, none blocked" {
  # The shim ignores SIGINT and SIGHUP; that must not reach the container (Ctrl-C, kill -INT).
  run e run --rm --network none busybox grep -E '^Sig(Ign|Blk)' /proc/self/status
  echo "$output"
  [ "${lines[0]}" = $'SigBlk:\t0000000000000000' ]
  [ "${lines[1]}" = $'SigIgn:\t0000000000000000' ]
  run e run --rm --network none busybox sh -c 'kill -INT $$; echo survived'
  [ "$status" -eq 130 ]
  [[ "$output" != *survived* ]]
  e run -d --name v --network none busybox sleep 1000 >/dev/null
  run e exec v grep -E '^SigIgn' /proc/self/status
  [ "$output" = $'SigIgn:\t0000000000000000' ]
  run e run --rm --network none --runtime runc busybox grep -E '^SigIgn' /proc/self/status
  [ "$output" = $'SigIgn:\t0000000000000000' ]
}

@test "a registry that sends more than a layer's descriptor says is stopped at the first byte too many; an absurd child manifest size is refused before the fetch" {
  /usr/bin/python3 "$SRC/tests/system/lying_registry.py" "$TEST_DIR/port" 3>&- &
  echo $! > "$TEST_DIR/registry.pid"
  local root=$TEST_DIR/pulls
  wait_for test -s "$TEST_DIR/port"
  local reg=127.0.0.1:$(cat "$TEST_DIR/port")
  run timeout 60 "$BERTH" --root "$root" --state "$TEST_DIR/run" pull "$reg/lie/blob:1"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"the registry sent more than the 1000 bytes its descriptor says"* ]]
  # Nothing of the 64 MiB stays (before the fix: all of it, in the ingest), no image.
  [ -z "$(find "$root" -type f -size +64k ! -name 'metadata.db*')" ]
  [ -z "$("$BERTH" --root "$root" --state "$TEST_DIR/run" images -q)" ]
  run timeout 60 "$BERTH" --root "$root" --state "$TEST_DIR/run" pull "$reg/lie/index:1"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"a size of 1099511627776 bytes"* ]]
}

@test "a container's 2100-level directory tree: commit, export and cp refuse it with one line, rm removes it all" {
  snaps=$(find "$BROOT/snapshots/overlay" -mindepth 1 -maxdepth 1 -type d | wc -l)
  # Grown from the top (mkdir x; mv d x/d; mv x d) so that no path the shell uses is long.
  e run --name deep --network none busybox sh -c 'cd /tmp && mkdir d && for i in $(seq 2100); do mkdir x && mv d x/d && mv x d || exit 1; done'
  run e commit deep deep:1
  echo "$output"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"too deep to archive"* ]]
  run e export -o "$TEST_DIR/deep.tar" deep
  [ "$status" -ne 0 ]
  [[ "$output" == *"too deep to archive"* ]]
  # cp out of it: refused as well (before: one fd pair per level, "Too many open files" past
  # 1024, a recursion per level), and no part of the copy stays on the host.
  run e cp deep:/tmp/d "$TEST_DIR/deep-out"
  echo "$output"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"too deep to copy"* ]]
  [ ! -e "$TEST_DIR/deep-out" ]
  # No temporary mount of its layers stays; the image was not made.
  [ "$(test_mounts)" -eq 0 ]
  [ -z "$(e images -q deep:1 2>/dev/null)" ]
  e rm deep
  [ -z "$(ls "$BROOT/containers")" ]
  [ "$(find "$BROOT/snapshots/overlay" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq "$snaps" ]
}

@test "a pull that runs out of space names the layer, downloading or unpacking, and leaves nothing" {
  start_registry
  # 20 MiB that do not compress: the download alone does not fit in 16 MiB.
  mkdir -p "$TEST_DIR/rand" "$TEST_DIR/bomb"
  head -c 20M /dev/urandom > "$TEST_DIR/rand/data"
  tar -C "$TEST_DIR/rand" -c . | gzip -1 > "$TEST_DIR/rand.tar.gz"
  e import "$TEST_DIR/rand.tar.gz" "$REGISTRY/rand:1" >/dev/null
  e push "$REGISTRY/rand:1" >/dev/null
  # 64 MiB of zeros in ~64 KiB of gzip: the download fits, the unpack does not.
  head -c 64M /dev/zero > "$TEST_DIR/bomb/zeros"
  tar -C "$TEST_DIR/bomb" -c . | gzip -1 > "$TEST_DIR/bomb.tar.gz"
  e import "$TEST_DIR/bomb.tar.gz" "$REGISTRY/bomb:1" >/dev/null
  e push "$REGISTRY/bomb:1" >/dev/null
  mkdir -p "$TEST_DIR/small"
  mount -t tmpfs -o size=16m tmpfs "$TEST_DIR/small"
  sb() { "$BERTH" --root "$TEST_DIR/small/root" --state "$TEST_DIR/run-small" "$@"; }
  big() { find "$TEST_DIR/small/root" -type f -size +1M ! -name 'metadata.db*'; }
  run sb pull "$REGISTRY/rand:1"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"no space left to download layer 1 of 1 (sha256:"*"under $TEST_DIR/small/root"* ]]
  [ -z "$(big)" ]   # the partial download went with the failure: the space is free again
  run sb pull "$REGISTRY/bomb:1"
  echo "$output"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"no space left to unpack layer 1 of 1 (sha256:"*"under $TEST_DIR/small/root"* ]]
  [ -z "$(sb images -q)" ]
  [ -z "$(big)" ]
  [ "$(find "$TEST_DIR/small/root/snapshots" -mindepth 2 -maxdepth 2 -type d | wc -l)" -eq 0 ]
  # Once the space is there, the same pulls work: nothing half-done is in the way.
  mount -o remount,size=128m "$TEST_DIR/small"
  sb pull "$REGISTRY/bomb:1" >/dev/null
  sb pull "$REGISTRY/rand:1" >/dev/null
  [ "$(sb images -q | wc -l)" -eq 2 ]
  umount "$TEST_DIR/small"
}

@test "a layer that inflates past --max-layer-size or past the free space: refused, the layer named, nothing left" {
  # 64 MiB of zeros in ~64 KiB of gzip.
  mkdir -p "$TEST_DIR/bomb"
  head -c 64M /dev/zero > "$TEST_DIR/bomb/zeros"
  tar -C "$TEST_DIR/bomb" -c . | gzip -1 > "$TEST_DIR/bomb.tar.gz"
  snaps() { find "$1/snapshots" -mindepth 2 -maxdepth 2 -type d 2>/dev/null | wc -l; }
  before=$(snaps "$BROOT")
  big() { find "$BROOT" -type f -size +1M ! -name 'metadata.db*' | sort; }
  big_before=$(big)
  run e --max-layer-size 16m import "$TEST_DIR/bomb.tar.gz" bomb:1
  echo "$output"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"more than 16777216 bytes uncompressed"*"layer size limit"* ]]
  [ -z "$(e images -q bomb:1 2>/dev/null)" ]
  [ "$(snaps "$BROOT")" -eq "$before" ]
  [ "$(big)" = "$big_before" ]   # no blob, no ingest, no unpacked file of it
  [[ "$(e --max-layer-size 1x images 2>&1)" == *"invalid --max-layer-size"* ]]
  # Without the limit it imports; loaded into a root on a 16 MiB tmpfs, its unpack runs out of
  # space: the error says which layer and where, and the load leaves nothing.
  e import "$TEST_DIR/bomb.tar.gz" bomb:1 >/dev/null
  e save -o "$TEST_DIR/bomb.tar" bomb:1
  mkdir -p "$TEST_DIR/small"
  mount -t tmpfs -o size=16m tmpfs "$TEST_DIR/small"
  run "$BERTH" --root "$TEST_DIR/small/root" --state "$TEST_DIR/run-small" load -i "$TEST_DIR/bomb.tar"
  echo "$output"
  small_images=$("$BERTH" --root "$TEST_DIR/small/root" --state "$TEST_DIR/run-small" images -q)
  small_snaps=$(snaps "$TEST_DIR/small/root")
  umount "$TEST_DIR/small"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"no space left to unpack layer 1 of 1 (sha256:"*"under $TEST_DIR/small/root"* ]]
  [ -z "$small_images" ]
  [ "$small_snaps" -eq 0 ]
}

@test "/etc/passwd or /etc/group that is a FIFO or a device node: the engine never opens it (no hang holding the lock, no host device read)" {
  # An image whose /etc/passwd is a FIFO (it would block the engine forever, holding the
  # container's lock) and /etc/group a host device node (/dev/kmsg to the engine).
  mkdir -p "$TEST_DIR/pw" && cp -a "$BUNDLE/rootfs/." "$TEST_DIR/pw/"
  rm "$TEST_DIR/pw/etc/passwd" "$TEST_DIR/pw/etc/group"
  mkfifo "$TEST_DIR/pw/etc/passwd"
  mknod "$TEST_DIR/pw/etc/group" c 1 11
  tar -C "$TEST_DIR/pw" -cf "$TEST_DIR/pw.tar" .
  e import "$TEST_DIR/pw.tar" hostile:pw >/dev/null
  # A user by number needs no lookup result: it runs; by name: the lookup finds nothing.
  run timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" run --rm --network none -u 0:0 hostile:pw true
  [ "$status" -eq 0 ]
  run timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" run --rm --network none -u root hostile:pw true
  [ "$status" -eq 125 ]
  [[ "$output" == *"unable to find user root"* ]]
  # The same made by the container's root at run time, then exec -u by name.
  e run -d --name pwdev --network none busybox sh -c 'rm /etc/passwd; mknod /etc/passwd c 1 11; mkfifo /etc/group.x; sleep 60' >/dev/null
  for i in $(seq 50); do e exec pwdev test -c /etc/passwd && break; sleep 0.1; done
  run timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" exec -u root pwdev true
  [ "$status" -eq 126 ]
  [[ "$output" == *"unable to find user root"* ]]
  # Nothing is stuck: the container's lock is free.
  timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" rm -f pwdev >/dev/null
  [ -z "$(e ps -aq)" ]
}

@test "a network alias with a line break never reaches a peer's /etc/hosts or the DNS server's answers" {
  e network create hn >/dev/null
  run e run -d --name poison --network hn --network-alias $'x\n6.6.6.6 db' busybox sleep 60
  [ "$status" -eq 125 ]
  [ "$output" = 'berth: invalid network alias "x\n6.6.6.6 db": no spaces or line breaks' ]
  # A created container: connect refuses before the endpoint is recorded.
  e network create hn2 >/dev/null
  e create --name later --network hn busybox sleep 60 >/dev/null
  run e network connect --alias $'y\n7.7.7.7 db' hn2 later
  [ "$status" -eq 1 ]
  [[ "$output" == *"invalid network alias"* ]]
  [ "$(e inspect -f '{{json .NetworkSettings.Networks}}' later | jq -r 'keys | join(",")')" = hn ]
  e rm -f later >/dev/null
  e network rm hn hn2 >/dev/null
  [ -z "$(e ps -aq)" ]
}

@test "cp of a stopped container: a FIFO at a bind's mount point is refused, not opened; a copy killed mid-way leaves a view that rm and system check --repair clear" {
  echo hostcfg > "$TEST_DIR/hostfile"
  e run --name ff --network none -v "$TEST_DIR/hostfile:/cfg/app.conf" busybox sh -c 'mv /cfg /cfg2 && mkdir /cfg && mkfifo /cfg/app.conf'
  run timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" cp ff:/etc/hostname "$TEST_DIR/out1"
  [ "$status" -eq 1 ]
  [[ "$output" == *"the mount point /cfg/app.conf in container ff is not a regular file"* ]]
  timeout -s KILL 20 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" rm -f ff >/dev/null
  [ "$(cat "$TEST_DIR/hostfile")" = hostcfg ]
  # A copy out of a stopped container killed while it streams: its view stays mounted until
  # the next command under the container's lock (check says so, --repair and rm clear it).
  e run --name big --network none busybox sh -c 'head -c 200000000 /dev/zero > /big'
  for attempt in 1 2; do
    mkfifo "$TEST_DIR/slow.$attempt"
    "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" cp big:/big - > "$TEST_DIR/slow.$attempt" &
    cp_pid=$!
    exec 7< "$TEST_DIR/slow.$attempt"
    head -c 100000 <&7 >/dev/null
    for i in $(seq 50); do grep -q " $TEST_DIR/run/.*/tmp-$cp_pid " /proc/self/mountinfo && break; sleep 0.1; done
    grep -q " $TEST_DIR/run/.*/tmp-$cp_pid " /proc/self/mountinfo
    kill -KILL "$cp_pid"
    wait "$cp_pid" || true
    exec 7<&-
    grep -q " $TEST_DIR/run/.*/tmp-$cp_pid " /proc/self/mountinfo
    if [ "$attempt" = 1 ]; then
      run e system check
      [ "$status" -eq 1 ]
      [[ "$output" == *"a view of its files is mounted"* ]]
      run -0 e system check --repair
      [[ "$output" == *"unmounted the view a killed copy or export left"* ]]
    else
      e rm -f big >/dev/null
    fi
    ! grep -q " $TEST_DIR/run/.*/tmp-$cp_pid " /proc/self/mountinfo || false
  done
  [ -z "$(e ps -aq)" ]
  [ "$(test_mounts)" -eq 0 ]
}

@test "an /etc/group that lists the user 700000 times: exec -u refuses at once (NGROUPS_MAX), no minute of engine CPU" {
  e run -d --name g1 --network none busybox sleep 60 >/dev/null
  e exec g1 sh -c 'awk "BEGIN{for(i=1;i<=700000;i++) printf \"g%d:x:%d:root\n\", i, i+1000}" > /etc/group'
  SECONDS=0
  run timeout -s KILL 60 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" exec -u root g1 id
  [ "$status" -eq 126 ]
  [[ "$output" == *"user root is in more than 65536 groups (NGROUPS_MAX)"* ]]
  [ "$SECONDS" -lt 15 ]
  e rm -f g1 >/dev/null
}

@test "cp out of a container: no device node or setuid bit of its making lands on the host, its /proc and /sys are not read, a host device is never replaced" {
  e run -d --name cpd --network none busybox sh -c 'mkdir /data; mknod /data/vda b 1 3; chmod 666 /data/vda; cp /bin/busybox /data/suidsh; chmod 4755 /data/suidsh; echo f > /data/f; touch /ready; sleep 60' >/dev/null
  for i in $(seq 50); do e exec cpd test -e /ready && break; sleep 0.1; done
  e cp cpd:/data "$TEST_DIR/out"
  [ "$(cat "$TEST_DIR/out/f")" = f ]
  [ ! -e "$TEST_DIR/out/vda" ]
  [ "$(stat -c %a "$TEST_DIR/out/suidsh")" = 755 ]
  # -a keeps the owners and the setuid bit (the user asked for the source's), still no device.
  e cp -a cpd:/data "$TEST_DIR/out-a"
  [ "$(stat -c %a "$TEST_DIR/out-a/suidsh")" = 4755 ]
  [ ! -e "$TEST_DIR/out-a/vda" ]
  # The container's /proc and /sys are its view of the kernel: not copied, not in a tar of /.
  run e cp cpd:/proc/1/status "$TEST_DIR/status"
  [ "$status" -ne 0 ]
  [[ "$output" == *"kernel filesystem"* ]]
  [ ! -e "$TEST_DIR/status" ]
  run e cp cpd:/sys/kernel "$TEST_DIR/sys"
  [ "$status" -ne 0 ]
  [ ! -e "$TEST_DIR/sys" ]
  e cp cpd:/ - > "$TEST_DIR/root.tar"
  tar -tf "$TEST_DIR/root.tar" | grep -q '^\./data/f$'
  ! tar -tf "$TEST_DIR/root.tar" | grep -qE '^\./(proc|sys)/.' || false
  # A device at the destination is not replaced (cp c:/f /dev/null used to remove the
  # host's null device and leave a regular file there).
  mknod "$TEST_DIR/null" c 1 3
  run e cp cpd:/data/f "$TEST_DIR/null"
  [ "$status" -ne 0 ]
  [[ "$output" == *"not replaced"* ]]
  [ -c "$TEST_DIR/null" ]
  e rm -f cpd >/dev/null
}
