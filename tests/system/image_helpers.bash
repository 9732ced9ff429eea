# Helpers for the image tests: the berth CLI, a local registry, an umoci-built image and a
# tree listing to compare root filesystems with.

BERTH=${BERTH:?BERTH must point to the berth binary}

b() { "$BERTH" --root "$BROOT" "$@"; }

# start_registry [htpasswd-user password]: Debian's docker-registry on 127.0.0.1 at a free
# port, storage in the test dir; sets REGISTRY=127.0.0.1:PORT. With a user, htpasswd auth.
start_registry() {
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REGISTRY=127.0.0.1:$port
  mkdir -p "$TEST_DIR/registry"
  cat > "$TEST_DIR/registry/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TEST_DIR/registry/data
  delete:
    enabled: true
http:
  addr: $REGISTRY
YML
  if [ -n "${1:-}" ]; then
    /usr/bin/python3 -W ignore -c 'import crypt,sys; print(sys.argv[1] + ":" + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))' "$1" "$2" > "$TEST_DIR/registry/htpasswd"
    cat >> "$TEST_DIR/registry/config.yml" <<YML
auth:
  htpasswd:
    realm: berth-test
    path: $TEST_DIR/registry/htpasswd
YML
  fi
  docker-registry serve "$TEST_DIR/registry/config.yml" > "$TEST_DIR/registry/log" 2>&1 3>&- &
  REGISTRY_PID=$!
  local i
  for i in $(seq 1 100); do
    curl -s -o /dev/null "http://$REGISTRY/v2/" && return 0
    sleep 0.05
  done
  echo "registry did not start:" >&2
  cat "$TEST_DIR/registry/log" >&2
  return 1
}

stop_registry() {
  if [ -n "${REGISTRY_PID:-}" ]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
  REGISTRY_PID=
  return 0
}

# An OCI layout at $TEST_DIR/layout with tag v2: busybox plus special files, then a second
# layer that deletes and replaces things.
build_umoci_image() {
  local L=$TEST_DIR/layout W=$TEST_DIR/work
  umoci init --layout "$L"
  umoci new --image "$L:v1"
  umoci unpack --image "$L:v1" "$W"
  cp -a "$BUNDLE/rootfs/." "$W/rootfs/"
  local r=$W/rootfs
  mkdir -p "$r/data/keep" "$r/data/replaced"
  echo content > "$r/data/file"
  ln "$r/data/file" "$r/data/hardlink"
  ln -s ../bin/busybox "$r/data/rel-link"
  ln -s /etc/passwd "$r/data/abs-link"
  cp "$r/bin/busybox" "$r/data/suid" && chmod 4755 "$r/data/suid"
  chown 1000:1000 "$r/data/keep"
  echo gone > "$r/data/gone"
  echo old > "$r/data/replaced/old"
  mkfifo "$r/data/fifo"
  /usr/bin/python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.berth", b"xattr-value")' "$r/data/file"
  umoci repack --refresh-bundle --image "$L:v1" "$W"
  rm "$r/data/gone"
  rm -rf "$r/data/replaced"
  mkdir "$r/data/replaced"
  echo new > "$r/data/replaced/new"
  echo second > "$r/data/second"
  umoci repack --image "$L:v2" "$W"
  umoci unpack --image "$L:v2" "$TEST_DIR/reference"
}

# Lists a tree with everything a rootfs must keep: type, mode, owner, size, link target,
# content hash, user xattrs and hardlink groups.
tree_listing() {
  /usr/bin/python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
inodes = {}
out = []
for dirpath, dirs, files in os.walk(root):
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        extra = ""
        if stat.S_ISLNK(st.st_mode):
            extra = os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                extra = hashlib.sha256(f.read()).hexdigest()[:16]
            if st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
        try:
            xs = sorted(x for x in os.listxattr(p, follow_symlinks=False) if x.startswith("user."))
            xa = ",".join(f"{x}={os.getxattr(p, x, follow_symlinks=False).decode()}" for x in xs)
        except OSError:
            xa = ""
        size = st.st_size if stat.S_ISREG(st.st_mode) else 0
        out.append(f"{rel} {kind:o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid} {size} {extra} {xa}")
for rel in sorted(out):
    print(rel)
for group in sorted(sorted(g) for g in inodes.values()):
    print("hardlinks", " ".join(group))
PY
}

