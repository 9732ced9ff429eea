#!/usr/bin/env bats
# berth-runtime under containerd directly: `ctr run --runc-binary berth-runtime` (the
# containerd-shim-runc-v2 path without dockerd). Needs `docker.io` (containerd, ctr, the shim)
# and `podman` (to turn the busybox rootfs into an OCI archive); skipped without them.
# Isolation: its own containerd (config, root, state, socket under one temp dir, CRI plugin off).

load helpers

setup_file() {
  export CSKIP="" CD=""
  local b
  for b in containerd ctr containerd-shim-runc-v2 podman; do
    command -v "$b" >/dev/null || { CSKIP="$b is not installed (apt-get install docker.io podman)"; return 0; }
  done
  CD=$(mktemp -d /tmp/berth-dropin-ctr.XXXXXX)
  printf 'version = 2\nroot = "%s/root"\nstate = "%s/state"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "%s/containerd.sock"\n' \
    "$CD" "$CD" "$CD" > "$CD/config.toml"
  setsid containerd --config "$CD/config.toml" > "$CD/containerd.log" 2>&1 < /dev/null &
  echo $! > "$CD/containerd.pid"
  local i
  for i in $(seq 100); do ctr -a "$CD/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$CD/image" true >/dev/null
  local P=(podman --root "$CD/p-storage" --runroot "$CD/p-run" --tmpdir "$CD/p-tmp"
           --cgroup-manager cgroupfs --events-backend file)
  tar -C "$CD/image/rootfs" -c . | "${P[@]}" import - localhost/berth-busybox >/dev/null 2>&1
  "${P[@]}" save --format oci-archive -o "$CD/image.tar" localhost/berth-busybox >/dev/null 2>&1
  "${P[@]}" system reset -f >/dev/null 2>&1 || true
  # The image is checked with a run through berth-runtime and imported again if need be.
  local n out
  for n in 1 2 3; do
    ctr -a "$CD/containerd.sock" images import --index-name localhost/berth-busybox:latest "$CD/image.tar" >/dev/null 2>&1 || true
    # The unpacked snapshot is referenced by nothing containerd's collector counts: a collection
    # after a `run --rm` removes it, and one that falls between ctr's "is it unpacked" and its
    # prepare fails that run ("parent snapshot … does not exist"). A container that is never
    # run, made before any removal, keeps it.
    ctr -a "$CD/containerd.sock" containers rm keeper >/dev/null 2>&1 || true
    ctr -a "$CD/containerd.sock" containers create localhost/berth-busybox:latest keeper true >/dev/null 2>&1 || true
    out=$(timeout 60 ctr -a "$CD/containerd.sock" run --rm --runc-binary "$RUNTIME" localhost/berth-busybox:latest "probe-$$-$n" true 2>&1) && break
    echo "# containerd's first run (import $n): $out" >&3
    [[ "$out" == *"snapshot"*"does not exist"* ]] || break
  done
}

teardown_file() {
  [ -n "${CD:-}" ] && [ -d "$CD" ] || return 0
  local pid i
  pid=$(cat "$CD/containerd.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for pid in $(pgrep -f "$CD"); do kill -KILL "$pid" 2>/dev/null || true; done
  awk -v d="$CD" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$CD"
}

setup() { [ -z "$CSKIP" ] || skip "$CSKIP"; }

teardown() {
  [ -n "$CD" ] || return 0
  local c
  for c in $(cc containers ls -q 2>/dev/null); do
    [ "$c" != keeper ] || continue
    cc task kill -s KILL "$c" >/dev/null 2>&1 || true
    cc task rm -f "$c" >/dev/null 2>&1 || true
    cc containers rm "$c" >/dev/null 2>&1 || true
  done
}

cc() { timeout 60 ctr -a "$CD/containerd.sock" "$@"; }
crun_() { cc run --runc-binary "$RUNTIME" "$@"; }
IMG=localhost/berth-busybox:latest

@test "ctr run --runc-binary berth-runtime: output and exit codes" {
  run crun_ --rm "$IMG" "c1-$$" echo hello-from-containerd
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = hello-from-containerd ]
  run crun_ --rm "$IMG" "c2-$$" sh -c 'exit 42'
  echo "exit 42 run: status $status, output: $output"   # once in CI: another status (seen 2026-12-07)
  [ "$status" -eq 42 ]
}

@test "ctr task exec and kill through berth-runtime" {
  crun_ -d "$IMG" "c3-$$" sleep 1000
  run cc task exec --exec-id e1 "c3-$$" sh -c 'echo exec-ok; exit 5'
  [ "$status" -eq 5 ]
  [ "$output" = exec-ok ]
  cc task kill -s KILL "c3-$$"
  local i
  for i in $(seq 50); do cc task ls | grep -q "c3-$$.*STOPPED" && break; sleep 0.1; done
  cc task ls | grep -q "c3-$$.*STOPPED"
  cc task rm "c3-$$"
  cc containers rm "c3-$$"
  ! find /sys/fs/cgroup -maxdepth 4 -type d -name "c3-$$" | grep -q . || false
}
