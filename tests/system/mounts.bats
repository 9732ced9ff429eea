#!/usr/bin/env bats
# mounts, root.readonly, maskedPaths, readonlyPaths and rootfsPropagation: checked from inside
# the container (mountinfo, reads and writes) and from the host (nothing leaks out).

load helpers

run_ok() {
  run "$@"
  echo "status=$status output=$output" >&2
  [ "$status" -eq 0 ]
}

# Umounts everything the test mounted on the host below TEST_DIR (deepest first).
host_umount_all() {
  local i
  for i in $(seq 20); do
    awk -v d="$TEST_DIR" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | grep -q . || return 0
    awk -v d="$TEST_DIR" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | uniq | xargs -r -n1 umount -l 2>/dev/null
  done
}

# A shared mount of the bundle's rootfs on the host, so propagation can be observed.
share_rootfs() {
  mount --bind "$BUNDLE/rootfs" "$BUNDLE/rootfs"
  mount --make-shared "$BUNDLE/rootfs"
}

# Peer group id of a host mount point.
host_peer_group() { awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) if ($i ~ /^shared:/) { sub("shared:", "", $i); print $i } }' /proc/self/mountinfo; }

@test "bind mounts: ro refuses writes, rw writes reach the host" {
  mkdir "$TEST_DIR/ro" "$TEST_DIR/rw"
  echo original > "$TEST_DIR/ro/f"
  set_config '.mounts += [{"destination": "/mnt/ro", "type": "bind", "source": $ro, "options": ["bind", "ro"]},
                          {"destination": "/mnt/rw", "type": "bind", "source": $rw, "options": ["bind", "rw"]}]' \
    --arg ro "$TEST_DIR/ro" --arg rw "$TEST_DIR/rw"
  set_args sh -c 'cat /mnt/ro/f; echo x > /mnt/ro/new && echo WROTE-RO; echo from-container > /mnt/rw/new; echo end'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = original ]
  [[ "$output" == *"Read-only file system"* ]]
  [[ "$output" != *WROTE-RO* ]]
  [ "${lines[-1]}" = end ]
  [ ! -e "$TEST_DIR/ro/new" ]
  [ "$(cat "$TEST_DIR/rw/new")" = from-container ]
  assert_clean "$ID"
}

@test "rbind carries submounts, bind does not" {
  mkdir -p "$TEST_DIR/src/sub"
  echo top > "$TEST_DIR/src/top"
  mount -t tmpfs -o size=1m tmpfs "$TEST_DIR/src/sub"
  echo deep > "$TEST_DIR/src/sub/f"
  set_config '.mounts += [{"destination": "/rec", "type": "bind", "source": $s, "options": ["rbind"]},
                          {"destination": "/nonrec", "type": "bind", "source": $s, "options": ["bind"]}]' \
    --arg s "$TEST_DIR/src"
  set_args sh -c 'cat /rec/top /nonrec/top; cat /rec/sub/f; ls -A /nonrec/sub | wc -l'
  run rt run --bundle "$BUNDLE" "$ID"
  umount "$TEST_DIR/src/sub"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = top ]
  [ "${lines[1]}" = top ]
  [ "${lines[2]}" = deep ]
  [ "${lines[3]}" = 0 ]
  assert_clean "$ID"
}

@test "recursive mount options: rro makes submounts read-only, ro only the top; rnosuid/rnoexec/rnoatime reach submounts" {
  mkdir -p "$TEST_DIR/src/sub"
  mount -t tmpfs -o size=1m tmpfs "$TEST_DIR/src/sub"
  set_config '.mounts += [{"destination": "/top", "type": "bind", "source": $s, "options": ["rbind", "ro"]},
                          {"destination": "/rec", "type": "bind", "source": $s, "options": ["rbind", "ro", "rro"]},
                          {"destination": "/attr", "type": "bind", "source": $s, "options": ["rbind", "rnosuid", "rnoexec", "rnoatime", "rnosymfollow"]}]' \
    --arg s "$TEST_DIR/src"
  set_args sh -c 'echo a > /top/sub/a && echo TOP-SUB-WRITABLE; echo b > /rec/sub/b || echo REC-SUB-REFUSED; echo c > /rec/c || echo REC-TOP-REFUSED; grep " /attr/sub " /proc/self/mountinfo'
  run rt run --bundle "$BUNDLE" "$ID"
  ls -A "$TEST_DIR/src/sub" > "$TEST_DIR/sub-files"
  umount "$TEST_DIR/src/sub"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *TOP-SUB-WRITABLE* ]]
  [[ "$output" == *REC-SUB-REFUSED* ]]
  [[ "$output" == *REC-TOP-REFUSED* ]]
  [ "$(cat "$TEST_DIR/sub-files")" = a ]  # /rec/sub/b never landed
  attr=$(echo "$output" | grep " /attr/sub ")
  for o in nosuid noexec noatime nosymfollow; do [[ "$attr" == *"$o"* ]]; done
  assert_clean "$ID"
}

@test "recursive mount options: an atime option replaces the one before, rrw undoes rro, and features lists them" {
  mkdir -p "$TEST_DIR/src/sub"
  mount -t tmpfs -o size=1m,noatime tmpfs "$TEST_DIR/src/sub"
  set_config '.mounts += [{"destination": "/m", "type": "bind", "source": $s, "options": ["rbind", "rro", "rrw", "rnoatime", "rstrictatime"]}]' \
    --arg s "$TEST_DIR/src"
  set_args sh -c 'echo x > /m/sub/x && echo SUB-WRITABLE; grep " /m/sub " /proc/self/mountinfo'
  run rt run --bundle "$BUNDLE" "$ID"
  umount "$TEST_DIR/src/sub"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *SUB-WRITABLE* ]]
  line=$(echo "$output" | grep " /m/sub ")
  [[ "$line" != *noatime* ]]
  [[ "$line" != *relatime* ]]  # strictatime shows as neither
  run rt features
  [ "$status" -eq 0 ]
  for o in rro rrw rnosuid rnoexec rnoatime rstrictatime rnosymfollow nosymfollow; do
    echo "$output" | jq -e --arg o "$o" '.mountOptions | index($o)' >/dev/null
  done
  assert_clean "$ID"
}

@test "bind mount of a single file, onto a path that does not exist yet" {
  echo file-content > "$TEST_DIR/single"
  set_config '.mounts += [{"destination": "/opt/x/y/single.conf", "type": "bind", "source": $f, "options": ["rbind", "ro"]}]' \
    --arg f "$TEST_DIR/single"
  set_args sh -c 'cat /opt/x/y/single.conf; stat -c %F /opt/x/y/single.conf'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = file-content ]
  [ "${lines[1]}" = "regular file" ]
  # The mount point was created as an empty file inside the rootfs, nowhere else.
  [ -f "$BUNDLE/rootfs/opt/x/y/single.conf" ]
  [ ! -s "$BUNDLE/rootfs/opt/x/y/single.conf" ]
  [ "$(cat "$TEST_DIR/single")" = file-content ]
}

@test "tmpfs with size, mode and nosuid/noexec/nodev" {
  set_config '.mounts += [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "nodev", "size=4m", "mode=1750"]},
                          {"destination": "/plain", "type": "tmpfs", "source": "tmpfs", "options": ["size=8m"]}]'
  set_args sh -c 'stat -c %a /scratch; awk "\$5 == \"/scratch\" {print \$6; print \$NF}" /proc/self/mountinfo; awk "\$5 == \"/plain\" {print \$6}" /proc/self/mountinfo; cp /bin/busybox /scratch/busybox; /scratch/busybox true || echo noexec-ok; rm /scratch/busybox; dd if=/dev/zero of=/scratch/big bs=1k count=5000 2>&1 | grep -c "No space"; cp /bin/busybox /plain/busybox; /plain/busybox true && echo exec-ok'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = 1750 ]
  [[ ",${lines[1]}," == *,nosuid,* ]]
  [[ ",${lines[1]}," == *,nodev,* ]]
  [[ ",${lines[1]}," == *,noexec,* ]]
  [[ ",${lines[2]}," == *,size=4096k,* ]]
  [[ ",${lines[2]}," == *,mode=1750,* ]]
  [[ ",${lines[3]}," != *,noexec,* ]]
  [[ "${lines[4]}" == *"/scratch/busybox: Permission denied" ]]
  [ "${lines[5]}" = noexec-ok ]
  [ "${lines[6]}" = 1 ]
  [ "${lines[7]}" = exec-ok ]
}

@test "nosuid and nodev are enforced, not just shown" {
  # A setuid-root program on a nosuid mount does not raise the euid; a device node on a nodev
  # mount cannot be opened. (busybox drops setuid itself, so a tiny static program is used.)
  command -v gcc >/dev/null || skip "needs gcc to build a static setuid helper"
  mkdir "$TEST_DIR/suid"
  printf '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("euid=%%d\\n", (int)geteuid()); return 0; }\n' > "$TEST_DIR/euid.c"
  gcc -static -o "$TEST_DIR/suid/euid" "$TEST_DIR/euid.c"
  chmod 4755 "$TEST_DIR/suid/euid"
  mknod -m 666 "$TEST_DIR/suid/zero" c 1 5
  set_config '.mounts += [{"destination": "/suid", "type": "bind", "source": $d, "options": ["bind", "nosuid", "nodev"]}]
    | .process.user = {"uid": 1000, "gid": 1000} | .process.noNewPrivileges = false' --arg d "$TEST_DIR/suid"
  set_args sh -c '/suid/euid; head -c1 /suid/zero >/dev/null && echo OPENED-DEV; awk "\$5 == \"/suid\" {print \$6}" /proc/self/mountinfo'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "${lines[0]}" = euid=1000 ]
  [[ "$output" != *OPENED-DEV* ]]
  [[ "$output" == *"Permission denied"* ]]
  [[ ",${lines[-1]}," == *,nosuid,* && ",${lines[-1]}," == *,nodev,* ]]

  # Control: without the options the setuid bit works and the device opens (the test can tell).
  set_config '.mounts[-1].options = ["bind"]'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "${lines[0]}" = euid=0 ]
  [[ "$output" == *OPENED-DEV* ]]
}

@test "mount targets are created as needed, deep inside the rootfs" {
  set_config '.mounts += [{"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}]'
  set_args sh -c 'awk "\$5 == \"/a/b/c\" {print \$9}" /proc/self/mountinfo; echo ok > /a/b/c/f && cat /a/b/c/f'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = tmpfs ]
  [ "${lines[1]}" = ok ]
  [ -d "$BUNDLE/rootfs/a/b/c" ]
  # The tmpfs was the container's: nothing written to the rootfs directory.
  [ ! -e "$BUNDLE/rootfs/a/b/c/f" ]
}

@test "maskedPaths hide files and directories; readonlyPaths refuse writes" {
  echo top-secret > "$BUNDLE/rootfs/secret-file"
  mkdir "$BUNDLE/rootfs/secret-dir" "$BUNDLE/rootfs/data"
  echo hidden > "$BUNDLE/rootfs/secret-dir/inner"
  echo existing > "$BUNDLE/rootfs/data/old"
  set_config '.linux.maskedPaths += ["/secret-file", "/secret-dir", "/does-not-exist"] | .linux.readonlyPaths += ["/data"]'
  set_args sh -c 'echo "file=[$(cat /secret-file)]"; echo "dir=[$(ls -A /secret-dir)]"; echo "keys=$(wc -c < /proc/keys)"; touch /secret-dir/x 2>&1; cat /data/old; echo new > /data/new; echo 1 > /proc/sys/kernel/domainname; echo end'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "file=[]" ]
  [ "${lines[1]}" = "dir=[]" ]
  [ "${lines[2]}" = "keys=0" ]
  [[ "$output" == *"touch: /secret-dir/x: Read-only file system"* ]]
  [[ "$output" == *existing* ]]
  [[ "$output" == *"can't create /data/new: Read-only file system"* ]]
  [[ "$output" == *"can't create /proc/sys/kernel/domainname: Read-only file system"* ]]
  [ ! -e "$BUNDLE/rootfs/data/new" ]
  [ "$(cat "$BUNDLE/rootfs/secret-file")" = top-secret ]

  # Control: without the lists the same commands see and write the data.
  set_config '.linux.maskedPaths = [] | .linux.readonlyPaths = []'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = "file=[top-secret]" ]
  [ "${lines[1]}" = "dir=[inner]" ]
  [ -e "$BUNDLE/rootfs/data/new" ]
}

@test "root.readonly: / refuses writes, a tmpfs on /tmp still takes them" {
  set_config '.root.readonly = true | .mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}]'
  set_args sh -c 'touch /rootfile; echo data > /tmp/f && cat /tmp/f; awk "\$5 == \"/\" {print \$6}" /proc/self/mountinfo'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" == *"touch: /rootfile: Read-only file system"* ]]
  [[ "$output" == *data* ]]
  [[ ",${lines[-1]}," == *,ro,* ]]
  [ ! -e "$BUNDLE/rootfs/rootfile" ]
  # Only the container's view is read-only, not the host directory.
  touch "$BUNDLE/rootfs/hostfile"
}

@test "--no-pivot runs the container with the rootfs as /" {
  echo marker-in-rootfs > "$BUNDLE/rootfs/etc/marker"
  set_args sh -c 'cat /etc/marker; hostname; ls /work 2>/dev/null | wc -l; ls / | wc -l; cat /proc/self/mountinfo | wc -l'
  run_ok rt run --no-pivot --bundle "$BUNDLE" "$ID"
  [ "${lines[0]}" = marker-in-rootfs ]
  [ "${lines[1]}" = berth ]
  [ "${lines[2]}" = 0 ]
  [ "${lines[3]}" -eq "$(ls "$BUNDLE/rootfs" | wc -l)" ]
  assert_clean "$ID"
}

@test "host mounts are not visible inside, with pivot_root and with --no-pivot" {
  mkdir "$TEST_DIR/hostonly"
  mount -t tmpfs -o size=1m tmpfs "$TEST_DIR/hostonly"
  set_args sh -c 'awk "{print \$5}" /proc/self/mountinfo; ls -A /'
  run rt run --bundle "$BUNDLE" "$ID"
  local out1=$output st1=$status
  run rt run --no-pivot --bundle "$BUNDLE" "$ID"
  local out2=$output st2=$status
  umount "$TEST_DIR/hostonly"
  echo "$out1"; echo ---; echo "$out2"
  [ "$st1" -eq 0 ]
  [ "$st2" -eq 0 ]
  [[ "$out1" != *"$TEST_DIR"* && "$out2" != *"$TEST_DIR"* ]]
  [[ "$out1" != *hostonly* && "$out2" != *hostonly* ]]
  # Every mount point shown is one the config asked for (or below one: masks, ro paths).
  ! printf '%s\n' "$out1" | grep '^/' | grep -Ev '^/($|proc|dev|sys)' || false
}

@test "rootfsPropagation on a host without shared mounts: private has no peer, shared has one" {
  set_args awk '$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "." }' /proc/self/mountinfo
  set_config '.linux.rootfsPropagation = "private"'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [ "$output" = "." ]
  set_config '.linux.rootfsPropagation = "shared"'
  run_ok rt run --bundle "$BUNDLE" "$ID"
  [[ "$output" =~ ^shared:[0-9]+\ \.$ ]]
}

# run_with_late_mount PROPAGATION: runs the container detached with that rootfsPropagation,
# mounts a tmpfs with a marker at rootfs/late on the host once it runs, and waits for it to
# finish. Sets RUN_RC, LEAKED (host mounts under TEST_DIR beyond the test's own) and leaves
# the container's output in $TEST_DIR/out. Host mounts other than the shared rootfs are gone.
run_with_late_mount() {
  local before
  before=$(grep -c "$TEST_DIR" /proc/self/mountinfo)
  set_config '.linux.rootfsPropagation = $p' --arg p "$1"
  RUN_RC=0
  "$RUNTIME" --root "$ROOT" run -d --bundle "$BUNDLE" "$ID" > "$TEST_DIR/out" 2>&1 || RUN_RC=$?
  mount -t tmpfs -o size=1m tmpfs "$BUNDLE/rootfs/late"
  echo propagated > "$BUNDLE/rootfs/late/marker"
  [ "$RUN_RC" -ne 0 ] || wait_status "$ID" stopped || true
  LEAKED=$(( $(grep -c "$TEST_DIR" /proc/self/mountinfo) - before - 1 ))
  rt delete --force "$ID" 2>/dev/null || true
  # Back to just the shared rootfs (a leak may have stacked mounts anywhere below it).
  host_umount_all
  share_rootfs
  echo "propagation=$1 rc=$RUN_RC leaked=$LEAKED output:" >&2
  cat "$TEST_DIR/out" >&2
}

@test "rootfsPropagation rslave/slave: host mounts propagate in; container mounts never leak out" {
  mkdir "$BUNDLE/rootfs/late"
  share_rootfs
  local peer
  peer=$(host_peer_group "$BUNDLE/rootfs")
  [ -n "$peer" ]
  set_config '.process.capabilities.bounding += ["CAP_SYS_ADMIN"] | .process.capabilities.effective += ["CAP_SYS_ADMIN"] | .process.capabilities.permitted += ["CAP_SYS_ADMIN"]'
  set_args sh -c 'awk "\$5 == \"/\" {print \$7}" /proc/self/mountinfo; mkdir -p /inside; mount -t tmpfs tmpfs /inside && awk "\$5 == \"/inside\" {print \"inside-mounted\"}" /proc/self/mountinfo; for i in $(seq 100); do [ -e /late/marker ] && break; sleep 0.1; done; cat /late/marker; echo end'
  local p fails=0
  for p in rslave slave; do
    run_with_late_mount "$p"
    [ "$RUN_RC" -eq 0 ] && [ "$LEAKED" -eq 0 ] && grep -qx "master:$peer" "$TEST_DIR/out" &&
      grep -qx propagated "$TEST_DIR/out" && grep -qx inside-mounted "$TEST_DIR/out" || { echo "FAILED for $p" >&2; fails=$((fails + 1)); }
  done
  host_umount_all
  [ "$fails" -eq 0 ]
  assert_clean "$ID"
}

@test "rootfsPropagation rprivate/private: host mounts do not propagate in, nothing leaks out" {
  mkdir "$BUNDLE/rootfs/late"
  share_rootfs
  set_args sh -c 'awk "\$5 == \"/\" { for (i = 7; \$i != \"-\"; i++) printf \"%s \", \$i; print \".\" }" /proc/self/mountinfo; sleep 1; ls -A /late | wc -l'
  local p fails=0
  for p in rprivate private; do
    run_with_late_mount "$p"
    [ "$RUN_RC" -eq 0 ] && [ "$LEAKED" -eq 0 ] && [ "$(head -1 "$TEST_DIR/out")" = "." ] &&
      [ "$(tail -1 "$TEST_DIR/out")" = 0 ] || { echo "FAILED for $p" >&2; fails=$((fails + 1)); }
  done
  host_umount_all
  [ "$fails" -eq 0 ]
  assert_clean "$ID"
}

@test "rootfsPropagation shared: / gets its own peer group, slave to the host's" {
  share_rootfs
  local peer
  peer=$(host_peer_group "$BUNDLE/rootfs")
  set_config '.linux.rootfsPropagation = "shared"'
  set_args awk '$5 == "/" { for (i = 7; $i != "-"; i++) printf "%s ", $i; print "." }' /proc/self/mountinfo
  run rt run --bundle "$BUNDLE" "$ID"
  host_umount_all
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^shared:([0-9]+)\ master:$peer\ \.$ ]]
  [ "${BASH_REMATCH[1]}" != "$peer" ]
  assert_clean "$ID"
}

@test "propagation options on a bind mount: rslave receives host mounts, rprivate does not, rshared is shared" {
  mkdir -p "$TEST_DIR/src/late"
  mount --bind "$TEST_DIR/src" "$TEST_DIR/src"
  mount --make-shared "$TEST_DIR/src"
  local peer
  peer=$(host_peer_group "$TEST_DIR/src")
  set_config '.mounts += [{"destination": "/slave", "type": "bind", "source": $s, "options": ["rbind", "rslave"]},
                          {"destination": "/private", "type": "bind", "source": $s, "options": ["rbind", "rprivate"]},
                          {"destination": "/shared", "type": "bind", "source": $s, "options": ["rbind", "rshared"]}]' \
    --arg s "$TEST_DIR/src"
  set_args sh -c 'for d in /slave /private /shared; do awk -v d=$d "\$5 == d { printf \"%s \", d; for (i = 7; \$i != \"-\"; i++) printf \"%s \", \$i; print \".\" }" /proc/self/mountinfo; done; for i in $(seq 100); do [ -e /slave/late/marker ] && break; sleep 0.1; done; echo "slave=$(cat /slave/late/marker)"; echo "private=$(ls -A /private/late | wc -l)"'
  "$RUNTIME" --root "$ROOT" run -d --bundle "$BUNDLE" "$ID" > "$TEST_DIR/out" 2>&1 || { cat "$TEST_DIR/out"; host_umount_all; false; }
  mount -t tmpfs -o size=1m tmpfs "$TEST_DIR/src/late"
  echo propagated > "$TEST_DIR/src/late/marker"
  wait_status "$ID" stopped || true
  rt delete --force "$ID"
  host_umount_all
  cat "$TEST_DIR/out"
  grep -qx "/slave master:$peer ." "$TEST_DIR/out"
  grep -qx "/private ." "$TEST_DIR/out"
  grep -Eqx "/shared shared:[0-9]+ (master:$peer )?\." "$TEST_DIR/out"
  grep -qx "slave=propagated" "$TEST_DIR/out"
  grep -qx "private=0" "$TEST_DIR/out"
  assert_clean "$ID"
}

@test "rootfsPropagation shared: an rshared bind carries the container's mounts to the host, and only it" {
  # (Docker's -v SRC:DST:rshared, the CRI's bidirectional propagation.)
  mkdir -p "$TEST_DIR/src/a" "$TEST_DIR/src/b" "$TEST_DIR/src/c"
  mount --bind "$TEST_DIR/src" "$TEST_DIR/src"
  mount --make-shared "$TEST_DIR/src"
  share_rootfs
  local peer host
  peer=$(host_peer_group "$TEST_DIR/src")
  set_config '.linux.rootfsPropagation = "shared"
    | .process.capabilities.bounding += ["CAP_SYS_ADMIN"] | .process.capabilities.effective += ["CAP_SYS_ADMIN"]
    | .process.capabilities.permitted += ["CAP_SYS_ADMIN"]
    | .mounts += [{"destination": "/shared", "type": "bind", "source": $s, "options": ["rbind", "rshared"]},
                  {"destination": "/private", "type": "bind", "source": $s, "options": ["rbind", "rprivate"]},
                  {"destination": "/plain", "type": "bind", "source": $s, "options": ["rbind"]}]' --arg s "$TEST_DIR/src"
  # (one line: set_args takes an argument per line)
  set_args sh -c 'awk "\$5 == \"/shared\" {print \$7}" /proc/self/mountinfo; mount -t tmpfs tmpfs /shared/a && mount -t tmpfs tmpfs /private/b && mount -t tmpfs tmpfs /plain/c && mkdir -p /inside && mount -t tmpfs tmpfs /inside && echo end'
  run rt run --bundle "$BUNDLE" "$ID"
  host=$(cat /proc/self/mountinfo)
  host_umount_all
  echo "$output"
  [ "$status" -eq 0 ]
  # The bind is a peer of its host source, and what is mounted under it reached the host.
  [ "${lines[0]}" = "shared:$peer" ]
  [ "${lines[-1]}" = end ]
  grep -q " $TEST_DIR/src/a " <<<"$host"
  # Not through an rprivate bind nor one that asks for nothing (rslave), nor anything of the
  # container's own tree (its /proc, /dev, /inside).
  ! grep -q " $TEST_DIR/src/b " <<<"$host" || false
  ! grep -q " $TEST_DIR/src/c " <<<"$host" || false
  ! grep -q " $BUNDLE/rootfs/" <<<"$host" || false
  assert_clean "$ID"
}

@test "a mount destination through a symlink pointing out of the rootfs stays inside the rootfs" {
  local hostdir=$TEST_DIR/hostdir
  mkdir "$hostdir"
  ln -s "$hostdir" "$BUNDLE/rootfs/escape"
  ln -s "../../../../../../../../..$hostdir" "$BUNDLE/rootfs/escape-rel"
  set_config '.mounts += [{"destination": "/escape/x", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
                          {"destination": "/escape-rel/y", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]},
                          {"destination": "/escape/file", "type": "bind", "source": "/etc/hostname", "options": ["bind", "ro"]}]'
  set_args sh -c 'echo hi > /escape/x/f; echo hi > /escape-rel/y/f; awk "{print \$5}" /proc/self/mountinfo; sleep 1'
  "$RUNTIME" --root "$ROOT" run -d --bundle "$BUNDLE" "$ID" > "$TEST_DIR/out" 2>&1 && started=1 || started=0
  # While the container lives: no mount on the host path, nothing created there.
  ! grep -q " $hostdir" /proc/self/mountinfo || false
  [ -z "$(ls -A "$hostdir")" ]
  wait_status "$ID" stopped || true
  cat "$TEST_DIR/out"
  [ -z "$(ls -A "$hostdir")" ]
  ! grep -q " $hostdir" /proc/self/mountinfo || false
  if [ "$started" = 1 ]; then
    # The mounts landed on the symlink target as resolved inside the rootfs.
    grep -qx "$hostdir/x" "$TEST_DIR/out"
    grep -qx "$hostdir/y" "$TEST_DIR/out"
    [ -d "$BUNDLE/rootfs$hostdir/x" ]
    [ -d "$BUNDLE/rootfs$hostdir/y" ]
    [ -f "$BUNDLE/rootfs$hostdir/file" ]
  fi
  rt delete --force "$ID" 2>/dev/null || true
  assert_clean "$ID"
}

@test "a mount on a symlink destination pointing out of the rootfs stays inside the rootfs" {
  local hostdir=$TEST_DIR/hostdir
  mkdir "$hostdir"
  ln -s "$hostdir" "$BUNDLE/rootfs/escape"
  set_config '.mounts += [{"destination": "/escape", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}]'
  set_args sh -c 'echo hi > /escape/f; sleep 1'
  rt run -d --bundle "$BUNDLE" "$ID" || true
  ! grep -q " $hostdir" /proc/self/mountinfo || false
  [ -z "$(ls -A "$hostdir")" ]
  wait_status "$ID" stopped || true
  [ -z "$(ls -A "$hostdir")" ]
  rt delete --force "$ID" 2>/dev/null || true
  assert_clean "$ID"
}

@test "a bind on a destination that is a symlink lands where the link leads inside the rootfs: absolute, climbing, dangling, a directory with ro" {
  local hostdir=$TEST_DIR/hostdir
  mkdir -p "$hostdir" "$TEST_DIR/srcdir" "$BUNDLE/rootfs/usr/zone"
  echo from-host > "$TEST_DIR/srcdir/f"
  echo image-zone > "$BUNDLE/rootfs/usr/zone/UTC"
  ln -s /usr/zone/UTC "$BUNDLE/rootfs/etc/lt"                      # an image's /etc/localtime
  ln -s "../../../../../../..$hostdir/made" "$BUNDLE/rootfs/etc/climb"  # leads nowhere yet, climbs
  ln -s ../run/resolve/stub.conf "$BUNDLE/rootfs/etc/rc"            # systemd-resolved's
  mkdir -p "$BUNDLE/rootfs/opt"
  ln -s /opt "$BUNDLE/rootfs/dirlink"
  set_config '.mounts += [{"destination": "/etc/lt", "type": "bind", "source": "'"$TEST_DIR"'/srcdir/f", "options": ["bind", "ro"]},
                          {"destination": "/etc/climb", "type": "bind", "source": "'"$TEST_DIR"'/srcdir/f", "options": ["rbind", "rprivate"]},
                          {"destination": "/etc/rc", "type": "bind", "source": "'"$TEST_DIR"'/srcdir/f", "options": ["bind"]},
                          {"destination": "/dirlink", "type": "bind", "source": "'"$TEST_DIR"'/srcdir", "options": ["rbind", "ro", "rprivate"]}]'
  set_args sh -c 'cat /etc/lt /usr/zone/UTC /etc/climb /etc/rc /dirlink/f /opt/f; touch /opt/x 2>/dev/null && echo writable || echo read-only'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'from-host\n%.0s' 1 2 3 4 5 6; echo read-only)" ]
  # Outside the rootfs nothing was made or mounted; the dangling ones were made inside it.
  [ -z "$(ls -A "$hostdir")" ]
  [ -f "$BUNDLE/rootfs$hostdir/made" ]
  [ -f "$BUNDLE/rootfs/run/resolve/stub.conf" ]
  [ "$(cat "$BUNDLE/rootfs/usr/zone/UTC")" = image-zone ]
  ! grep -q " $hostdir" /proc/self/mountinfo || false
  assert_clean "$ID"
}

@test "/proc or /sys as a symlink in the rootfs makes create fail" {
  rm -rf "$BUNDLE/rootfs/proc"
  mkdir "$BUNDLE/rootfs/fakeproc"
  ln -s /fakeproc "$BUNDLE/rootfs/proc"
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"ordinary directory"* ]]
  [ -z "$(ls -A "$BUNDLE/rootfs/fakeproc")" ]
  assert_clean "$ID"

  rm "$BUNDLE/rootfs/proc"
  mkdir "$BUNDLE/rootfs/proc"
  rm -rf "$BUNDLE/rootfs/sys"
  ln -s /fakeproc "$BUNDLE/rootfs/sys"
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"ordinary directory"* ]]
  assert_clean "$ID"
}

@test "nothing but procfs on /proc, and under it only lxcfs's files — also through a symlink in the rootfs" {
  local src=$TEST_DIR/fakeproc
  mkdir -p "$src/self" && echo deny > "$src/self/setgroups" && echo fake > "$TEST_DIR/cpuinfo"
  for dst in /proc /proc/self /proc/sys/kernel; do
    set_config '.mounts += [{"destination": $d, "type": "bind", "source": $s, "options": ["rbind"]}]' --arg s "$src" --arg d "$dst"
    run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
    echo "$dst: status=$status stderr=$stderr"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"mount \`$dst\`"*"/proc"* ]]
    assert_clean "$ID"
    set_config '.mounts |= .[:-1]'
  done
  # A symlink of the image that leads a bind onto /proc.
  ln -s /proc "$BUNDLE/rootfs/toproc"
  set_config '.mounts += [{"destination": "/toproc", "type": "bind", "source": $s, "options": ["rbind"]}]' --arg s "$src"
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"nothing but procfs may be mounted on /proc"* ]]
  assert_clean "$ID"
  # lxcfs's files may be bound (runc's list).
  set_config '.mounts |= .[:-1] | .mounts += [{"destination": "/proc/cpuinfo", "type": "bind", "source": $f, "options": ["bind"]}] | .process.args = ["cat", "/proc/cpuinfo"]' --arg f "$TEST_DIR/cpuinfo"
  run rt run --bundle "$BUNDLE" "$ID"
  [ "$status" -eq 0 ]
  [ "$output" = fake ]
}

@test "idmap bind mounts: host files appear owned by the container's users, writes land as host ids" {
  local src=$TEST_DIR/data
  mkdir -p "$src/sub" "$BUNDLE/rootfs/data" "$BUNDLE/rootfs/plain"
  echo hi > "$src/root-file"
  touch "$src/u1000"
  chown 1000:1000 "$src/u1000"
  chmod 755 "$TEST_DIR" "$BUNDLE"
  set_config '.linux.namespaces += [{"type": "user"}]
    | .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    | .mounts += [{"destination": "/data", "type": "bind", "source": $s, "options": ["bind", "idmap"]},
                  {"destination": "/plain", "type": "bind", "source": $s, "options": ["bind"]}]' --arg s "$src"
  set_args sh -c 'stat -c "%u:%g" /data/root-file /data/u1000 /plain/root-file; echo new > /data/created && echo CREATED; (echo x > /plain/nope) 2>/dev/null || echo PLAIN-DENIED'
  run rt run --bundle "$BUNDLE" "$ID"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "0:0" ]
  [ "${lines[1]}" = "1000:1000" ]
  [ "${lines[2]}" = "65534:65534" ]
  [ "${lines[3]}" = CREATED ]
  [ "${lines[4]}" = PLAIN-DENIED ]
  # Written by the container's root through the idmapped mount: owned by host root.
  [ "$(stat -c %u:%g "$src/created")" = "0:0" ]
  ! grep -q "$src" /proc/self/mountinfo || false
  assert_clean "$ID"
}

@test "idmap with the mount's own mappings, ridmap, ro, and clear errors" {
  local src=$TEST_DIR/data
  mkdir -p "$src/sub" "$BUNDLE/rootfs/data"
  touch "$src/root-file" "$src/sub/f"
  # A submount below the source: kept (and idmapped) by ridmap.
  mount -t tmpfs tmpfs "$src/sub"
  touch "$src/sub/in-tmpfs"
  set_config '.mounts += [{"destination": "/data", "type": "bind", "source": $s, "options": ["rbind", "ridmap", "ro"],
                           "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 2000}],
                           "gidMappings": [{"containerID": 0, "hostID": 7000, "size": 2000}]}]' --arg s "$src"
  set_args sh -c 'stat -c "%u:%g" /data/root-file /data/sub/in-tmpfs; touch /data/x 2>/dev/null || echo RO'
  run rt run --bundle "$BUNDLE" "$ID"
  umount "$src/sub"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "5000:7000" ]
  [ "${lines[1]}" = "5000:7000" ]
  [ "${lines[2]}" = RO ]

  # Mappings without the option, idmap on a non-bind mount, idmap with nothing to map with.
  set_config '.mounts[-1].options = ["rbind"]'
  expect_failure "mappings need the idmap or ridmap option" rt run --bundle "$BUNDLE" "$ID"
  set_config '.mounts[-1] = {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}'
  expect_failure "idmap is supported for bind mounts only" rt run --bundle "$BUNDLE" "$ID"
  set_config '.mounts[-1] = {"destination": "/data", "type": "bind", "source": $s, "options": ["bind", "idmap"]}' --arg s "$src"
  expect_failure "needs uidMappings/gidMappings or a user namespace" rt run --bundle "$BUNDLE" "$ID"
}
