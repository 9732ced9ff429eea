#!/usr/bin/env bats
# Attacks from inside a container against the runtime. Each would succeed against a naive
# runtime (one that leaves its process dumpable, leaks fds, or follows symlinks in the image).

load helpers

@test "the runtime process inside a created container cannot be reached through /proc (CVE-2019-5736 class)" {
  # While a container is `created`, its pid 1 is still the runtime binary. A naive runtime
  # leaves it dumpable, so any container process could open /proc/1/exe (the host binary)
  # and, once the runtime exits, write through that handle.
  local before
  before=$(sha256sum "$RUNTIME" | cut -d' ' -f1)
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$ID"
  run rt exec "$ID" sh -c 'ls -l /proc/1/exe; cat /proc/1/exe > /dev/null && echo READ-OK; echo x >> /proc/1/exe && echo WRITE-OK; readlink /proc/1/fd/0 && echo FD-OK; cat /proc/1/environ >/dev/null && echo ENV-OK'
  echo "$output"
  [[ "$output" != *READ-OK* ]]
  [[ "$output" != *WRITE-OK* ]]
  [[ "$output" != *FD-OK* ]]
  [[ "$output" != *ENV-OK* ]]
  [ "$(sha256sum "$RUNTIME" | cut -d' ' -f1)" = "$before" ]
  rt delete "$ID"
  assert_clean "$ID"
}

@test "only stdio and preserved fds reach the container (CVE-2024-21626 class)" {
  # The caller holds fds 3..9 open on a host directory and file; a naive runtime passes
  # them on, and /proc/self/fd/N would then lead out of the rootfs.
  set_args sh -c 'ls /proc/self/fd | tr "\n" " "'
  run rt run --bundle "$BUNDLE" "$ID" 3</ 4</etc/passwd 5</ 6</ 7</ 8</ 9</
  [ "$status" -eq 0 ]
  # 0 1 2 and the one ls itself opens to list the directory.
  [ "$(echo "$output" | wc -w)" -eq 4 ]
  # And as the working directory, a leaked fd is refused.
  set_config '.process.cwd = "/proc/self/fd/5"'
  run rt run --bundle "$BUNDLE" "$ID" 5</
  [ "$status" -eq 1 ]
  assert_clean "$ID"
}

@test "a symlinked /dev in the image does not redirect device setup to the host" {
  local outside=$TEST_DIR/outside
  mkdir -p "$outside"
  rm -rf "$BUNDLE/rootfs/dev"
  ln -s "$outside" "$BUNDLE/rootfs/dev"
  set_config '.mounts |= map(select(.destination | startswith("/dev") | not))'
  set_args true
  run rt run --bundle "$BUNDLE" "$ID"
  # Whatever the outcome, nothing may have been created in the host directory.
  [ -z "$(ls -A "$outside")" ]
  assert_clean "$ID"
}

@test "a /dev/null symlink to a procfs file is not used for masking (CVE-2025-31133 class)" {
  # With /dev bind-mounted from the bundle, the image controls /dev/null.
  mkdir -p "$TEST_DIR/devdir"
  ln -s /proc/sys/kernel/core_pattern "$TEST_DIR/devdir/null"
  set_config '.mounts |= map(select(.destination | startswith("/dev") | not)) | .mounts += [{"destination": "/dev", "type": "bind", "source": $d, "options": ["rbind"]}]' --arg d "$TEST_DIR/devdir"
  set_args sh -c 'echo "|/tmp/pwn" > /proc/kcore; cat /proc/sys/kernel/core_pattern'
  local before
  before=$(cat /proc/sys/kernel/core_pattern)
  run --separate-stderr rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == */dev/null* ]]
  [ "$(cat /proc/sys/kernel/core_pattern)" = "$before" ]
  assert_clean "$ID"
}

@test "mount targets that are symlinks out of the rootfs land inside it (CVE-2021-30465 class)" {
  local outside=$TEST_DIR/host-target
  mkdir -p "$outside"
  ln -s "$outside" "$BUNDLE/rootfs/escape"
  set_config '.mounts += [{"destination": "/escape/sub", "type": "tmpfs", "source": "tmpfs"}]'
  set_args sh -c 'grep -c " /escape/sub\| '"$outside"'/sub " /proc/self/mountinfo'
  run rt run --bundle "$BUNDLE" "$ID"
  [ -z "$(ls -A "$outside")" ]
  ! grep -q "$outside" /proc/self/mountinfo || false
  assert_clean "$ID"
}

@test "a container that makes the runtime exec /proc/self/exe cannot overwrite the runtime binary (CVE-2019-5736)" {
  # The classic exploit: the image's program is "#!/proc/self/exe", so the runtime's own
  # exec inside the container runs the runtime binary as a container process. Another
  # container process opens /proc/<pid>/exe, waits until no process executes the binary any
  # more, and writes through /proc/self/fd/N. The runtime under attack is a private copy.
  local victim=$TEST_DIR/berth-runtime-victim
  cp "$RUNTIME" "$victim"
  local before
  before=$(sha256sum "$victim" | cut -d' ' -f1)
  printf '#!/proc/self/exe\n' > "$BUNDLE/rootfs/evil"
  chmod 755 "$BUNDLE/rootfs/evil"
  set_args sleep 100
  rt run -d --bundle "$BUNDLE" "$ID" </dev/null >/dev/null 2>&1
  # The runtime-in-the-container fails ("unknown command") and blocks writing that to a
  # full pipe: it stays alive until the attacker is ready.
  mkfifo "$TEST_DIR/pipe"
  sleep 1000 < "$TEST_DIR/pipe" 3>&- &
  local holder=$!
  exec 4> "$TEST_DIR/pipe"
  head -c 65536 /dev/zero >&4
  "$victim" --root "$ROOT" exec -d --pid-file "$TEST_DIR/evil.pid" "$ID" /evil </dev/null >/dev/null 2>&4
  exec 4>&-
  local hostpid cpid
  hostpid=$(cat "$TEST_DIR/evil.pid")
  cpid=$(awk '/^NSpid/ {print $NF}' "/proc/$hostpid/status")
  run rt exec "$ID" sh -c "exec 3</proc/$cpid/exe || { echo NO-HANDLE; exit 0; }; kill -9 $cpid; sleep 0.5; echo PWNED > /proc/self/fd/3 && echo WROTE; echo done"
  kill "$holder" 2>/dev/null || true
  echo "$output"
  [[ "$output" == *done* || "$output" == *NO-HANDLE* ]]
  [[ "$output" != *WROTE* ]]
  [ "$(sha256sum "$victim" | cut -d' ' -f1)" = "$before" ]
  rt delete --force "$ID"
  assert_clean "$ID"
}

@test "a mount over a /proc/sys file cannot redirect the runtime's sysctl write (CVE-2025-52881 class)" {
  # The config (or a racing container on a shared volume) puts a different procfs file over
  # the sysctl the runtime is about to write. A runtime that writes through the container's
  # /proc (even one that checks the file is on procfs) writes the host-global file instead.
  # Here that file is the harmless, global fs.lease-break-time.
  local host_file=/proc/sys/fs/lease-break-time before
  before=$(cat "$host_file")
  local value=$((before + 17))
  set_config '.linux.sysctl = {"kernel.domainname": $v} | .mounts += [{"destination": "/proc/sys/kernel/domainname", "type": "bind", "source": $f, "options": ["bind"]}]' --arg v "$value" --arg f "$host_file"
  set_args true
  run rt run --bundle "$BUNDLE" "$ID"
  local after
  after=$(cat "$host_file")
  echo "$before" > "$host_file"
  echo "status=$status output=$output host: $before -> $after"
  # Such a mount is refused outright now (runc's rule: below /proc only lxcfs's files); the
  # sysctl itself goes through a private procfs all the same (a race on a shared volume could
  # still put a procfs file there after the check).
  [ "$status" -eq 1 ]
  [[ "$output" == *"cannot be mounted inside /proc"* ]]
  [ "$after" = "$before" ]
  assert_clean "$ID"
}
