#!/usr/bin/env bats
# save/load and cross-checks with independent tools: an image built by umoci (several layers:
# deletions, hardlinks, symlinks, setuid, xattrs, a fifo), carried by skopeo as oci-archive
# and docker-archive, loaded by berth; the root filesystem berth shows must equal the one
# `umoci unpack` makes. And what berth saves, skopeo reads.

load helpers
load image_helpers


setup() {
  _berth_setup
  build_umoci_image
}

teardown() {
  umount "$TEST_DIR/mnt" 2>/dev/null || true
  _berth_teardown
}

@test "an umoci image via skopeo oci-archive and docker-archive unpacks exactly like umoci unpack" {
  tree_listing "$TEST_DIR/reference/rootfs" > "$TEST_DIR/want"
  grep -q "data/replaced/new" "$TEST_DIR/want"
  ! grep -q "data/gone" "$TEST_DIR/want" || false
  grep -q "^hardlinks data/file data/hardlink" "$TEST_DIR/want"
  grep -q "user.berth=xattr-value" "$TEST_DIR/want"
  skopeo copy -q "oci:$TEST_DIR/layout:v2" "oci-archive:$TEST_DIR/oci.tar:test/umoci:v2"
  skopeo copy -q "oci:$TEST_DIR/layout:v2" "docker-archive:$TEST_DIR/docker.tar:test/umoci-docker:v2"
  run b load -i "$TEST_DIR/oci.tar"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: test/umoci:v2" ]
  run b load -i "$TEST_DIR/docker.tar"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "Loaded image: test/umoci-docker:v2" ]
  mkdir -p "$TEST_DIR/mnt"
  for img in test/umoci:v2 test/umoci-docker:v2; do
    b image mount "$img" "$TEST_DIR/mnt"
    tree_listing "$TEST_DIR/mnt" > "$TEST_DIR/got"
    b image unmount "$TEST_DIR/mnt"
    diff "$TEST_DIR/want" "$TEST_DIR/got"
  done
  # The same with the copying native driver.
  "$BERTH" --root "$TEST_DIR/native" --storage-driver native load -i "$TEST_DIR/oci.tar"
  "$BERTH" --root "$TEST_DIR/native" --storage-driver native image mount test/umoci:v2 "$TEST_DIR/mnt"
  tree_listing "$TEST_DIR/mnt" > "$TEST_DIR/got"
  "$BERTH" --root "$TEST_DIR/native" --storage-driver native image unmount "$TEST_DIR/mnt"
  diff "$TEST_DIR/want" "$TEST_DIR/got"
  ! grep -q "$TEST_DIR/mnt" /proc/self/mountinfo || false
}

@test "berth save is read back by skopeo (both layouts) and by berth load into another store" {
  skopeo copy -q "oci:$TEST_DIR/layout:v2" "oci-archive:$TEST_DIR/oci.tar:test/umoci:v2"
  b load -i "$TEST_DIR/oci.tar"
  local id
  id=$(b images -q --no-trunc)
  b save -o "$TEST_DIR/saved.tar" test/umoci:v2
  [ -z "$(ls "$TEST_DIR" | grep saved.tar.tmp)" ]
  # skopeo reads it as an OCI archive and as a Docker archive; the layers are the same.
  skopeo inspect "oci-archive:$TEST_DIR/saved.tar" | jq -e '.Layers | length == 2'
  skopeo inspect "docker-archive:$TEST_DIR/saved.tar" | jq -e '.Layers | length == 2'
  skopeo copy -q "docker-archive:$TEST_DIR/saved.tar" "oci:$TEST_DIR/back:x"
  # And berth loads its own archive into an empty store with the same image id.
  "$BERTH" --root "$TEST_DIR/other" load -i "$TEST_DIR/saved.tar"
  [ "$("$BERTH" --root "$TEST_DIR/other" images -q --no-trunc)" = "$id" ]
}

@test "load: bad archives fail clearly and leave nothing behind" {
  head -c 3000 /dev/urandom > "$TEST_DIR/garbage.tar"
  run --separate-stderr b load -i "$TEST_DIR/garbage.tar"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"load:"* ]]
  # A blob whose bytes do not match the digest in its name.
  skopeo copy -q "oci:$TEST_DIR/layout:v2" "oci:$TEST_DIR/bad:v2"
  local blob
  blob=$(find "$TEST_DIR/bad/blobs/sha256" -type f -size +100k | head -1)
  chmod u+w "$blob"
  printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
  (cd "$TEST_DIR/bad" && tar -cf "$TEST_DIR/bad.tar" .)
  run --separate-stderr b load -i "$TEST_DIR/bad.tar"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"digest mismatch"* ]]
  # A member that climbs out of the archive.
  /usr/bin/python3 - "$TEST_DIR/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    ti = tarfile.TarInfo("../../evil"); ti.size = 2
    t.addfile(ti, io.BytesIO(b"x\n"))
PY
  run --separate-stderr b load -i "$TEST_DIR/evil.tar"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"leaves the archive"* ]]
  [ -z "$(find "$BROOT/content/blobs" -type f 2>/dev/null)" ]
  [ -z "$(ls -A "$BROOT/content/ingest" 2>/dev/null)" ]
  [ -z "$(b images -q)" ]
}

@test "an opaque directory and a whiteout in a hand-made layer: berth shows what umoci unpack shows" {
  /usr/bin/python3 - "$TEST_DIR" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
L = f"{d}/opq"
os.makedirs(f"{L}/blobs/sha256")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{L}/blobs/sha256/{h}", "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
def layer(entries):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(kind), 0o644
                t.addfile(ti, io.BytesIO(kind))
    return raw.getvalue()
l1 = layer([("d", "dir"), ("d/a", b"a\n"), ("d/sub", "dir"), ("d/sub/deep", b"deep\n"), ("keep", b"k\n"), ("gone", b"g\n")])
l2 = layer([("d", "dir"), ("d/.wh..wh..opq", b""), ("d/c", b"c\n"), (".wh.gone", b"")])
layers, diff_ids = [], []
for tar in (l1, l2):
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    layers.append(dict(blob(gzip.compress(tar)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"), "layers": layers}).encode())
open(f"{L}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
           annotations={"org.opencontainers.image.ref.name": "test/opq:1"})]}, open(f"{L}/index.json", "w"))
PY
  umoci unpack --image "$TEST_DIR/opq:test/opq:1" "$TEST_DIR/opq-ref"
  tree_listing "$TEST_DIR/opq-ref/rootfs" > "$TEST_DIR/want"
  # The opaque dir hides the lower layer's a and sub/, the whiteout removes gone.
  [ "$(grep -c '^d/' "$TEST_DIR/want")" -eq 1 ]
  grep -q '^d/c ' "$TEST_DIR/want"
  ! grep -q '^gone ' "$TEST_DIR/want" || false
  (cd "$TEST_DIR/opq" && tar -cf "$TEST_DIR/opq.tar" .)
  mkdir -p "$TEST_DIR/mnt"
  for driver in overlay native; do
    "$BERTH" --root "$TEST_DIR/$driver" --storage-driver $driver load -i "$TEST_DIR/opq.tar"
    "$BERTH" --root "$TEST_DIR/$driver" --storage-driver $driver image mount test/opq:1 "$TEST_DIR/mnt"
    tree_listing "$TEST_DIR/mnt" > "$TEST_DIR/got"
    "$BERTH" --root "$TEST_DIR/$driver" --storage-driver $driver image unmount "$TEST_DIR/mnt"
    diff "$TEST_DIR/want" "$TEST_DIR/got"
  done
}
