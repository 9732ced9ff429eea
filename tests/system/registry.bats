#!/usr/bin/env bats
# pull and push against a real registry (Debian's docker-registry on 127.0.0.1), cross-checked
# with skopeo, an independent client: what berth pushes skopeo reads, what skopeo pushes berth
# pulls, and the root filesystem berth unpacks equals umoci's.

load helpers
load image_helpers

setup() {
  _berth_setup
  tar -C "$BUNDLE/rootfs" -cf "$TEST_DIR/rootfs.tar" .
}

teardown() {
  stop_registry
  umount "$TEST_DIR/mnt" 2>/dev/null || true
  _berth_teardown
}

@test "push to a registry, read it back with skopeo, pull it into an empty store" {
  start_registry
  local id
  id=$(gzip -c "$TEST_DIR/rootfs.tar" | b import - test/bb:1)
  [ "$(b image inspect -f '{{len .RepoDigests}}' test/bb:1)" = 0 ]  # local only: none (Docker's)
  run b push test/bb:1 "$REGISTRY/test/bb:1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Pushed"* ]]
  [[ "$output" == *"1: digest: sha256:"* ]]
  skopeo inspect --tls-verify=false "docker://$REGISTRY/test/bb:1" | jq -e '.Layers | length == 1'
  # A second push finds every blob there already.
  run b push test/bb:1 "$REGISTRY/test/bb:1"
  [[ "$output" == *"Layer already exists"* ]]
  # Another repository of the same registry: the blobs are mounted, not uploaded again.
  b tag test/bb:1 "$REGISTRY/test/bb:1"
  run b push test/bb:1 "$REGISTRY/test/copy:1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Mounted from test/bb"* ]]
  [[ "$output" != *"Pushed"* ]]
  skopeo inspect --tls-verify=false "docker://$REGISTRY/test/copy:1" | jq -e '.Layers | length == 1'
  # Progress on a terminal: live lines redrawn in place.
  script -qec "$BERTH --root $BROOT push test/bb:1 $REGISTRY/test/tty:1" /dev/null > "$TEST_DIR/tty.out"
  grep -q $'\e\[2K' "$TEST_DIR/tty.out"
  # Pull into another store: same image id, same files.
  run "$BERTH" --root "$TEST_DIR/other" pull "$REGISTRY/test/bb:1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Pull complete"* ]]
  [[ "$output" == *"Status: Downloaded image for $REGISTRY/test/bb:1"* ]]
  [ "$("$BERTH" --root "$TEST_DIR/other" images -q --no-trunc)" = "$id" ]
  [[ "$("$BERTH" --root "$TEST_DIR/other" image inspect -f '{{json .RepoDigests}}' "$REGISTRY/test/bb:1")" == "[\"$REGISTRY/test/bb@sha256:"*'"]' ]]
  mkdir -p "$TEST_DIR/mnt"
  "$BERTH" --root "$TEST_DIR/other" image mount "$REGISTRY/test/bb:1" "$TEST_DIR/mnt"
  cmp "$TEST_DIR/mnt/bin/busybox" "$BUNDLE/rootfs/bin/busybox"
  "$BERTH" --root "$TEST_DIR/other" image unmount "$TEST_DIR/mnt"
  # The scheme that answered (plain http) is remembered for the next command.
  jq -e --arg r "$REGISTRY" '.[$r] == "http"' "$TEST_DIR/other/registry-schemes.json"
  # A warm pull (everything present) downloads nothing.
  run "$BERTH" --root "$TEST_DIR/other" pull "$REGISTRY/test/bb:1"
  [[ "$output" == *"Already exists"* ]]
  [[ "$output" != *"Downloading"* ]]
}

@test "pull what skopeo pushed: a multi-layer umoci image with whiteouts, equal to umoci unpack" {
  start_registry
  build_umoci_image
  skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/layout:v2" "docker://$REGISTRY/test/umoci:v2"
  run b pull -q "$REGISTRY/test/umoci:v2"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$output" = "$REGISTRY/test/umoci:v2" ]
  tree_listing "$TEST_DIR/reference/rootfs" > "$TEST_DIR/want"
  mkdir -p "$TEST_DIR/mnt"
  b image mount "$REGISTRY/test/umoci:v2" "$TEST_DIR/mnt"
  tree_listing "$TEST_DIR/mnt" > "$TEST_DIR/got"
  b image unmount "$TEST_DIR/mnt"
  diff "$TEST_DIR/want" "$TEST_DIR/got"
}

@test "a multi-platform index: the host's platform by default, another with --platform" {
  start_registry
  # Two different images, then an OCI layout whose index names them amd64 and arm64.
  b import "$TEST_DIR/rootfs.tar" test/amd:1 >/dev/null
  mkdir -p "$TEST_DIR/extra" && echo arm > "$TEST_DIR/extra/marker"
  tar -C "$TEST_DIR/extra" -c . | b import - test/arm:1 >/dev/null
  b save -o "$TEST_DIR/both.tar" test/amd:1 test/arm:1
  mkdir -p "$TEST_DIR/multi" && tar -C "$TEST_DIR/multi" -xf "$TEST_DIR/both.tar"
  jq '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
       manifests: [(.manifests[0] | del(.annotations) | .platform = {os: "linux", architecture: "amd64"}),
                   (.manifests[1] | del(.annotations) | .platform = {os: "linux", architecture: "arm64", variant: "v8"})]}' \
    "$TEST_DIR/multi/index.json" > "$TEST_DIR/multi/inner.json"
  local d size
  d=$(sha256sum "$TEST_DIR/multi/inner.json" | cut -d' ' -f1)
  size=$(stat -c %s "$TEST_DIR/multi/inner.json")
  mv "$TEST_DIR/multi/inner.json" "$TEST_DIR/multi/blobs/sha256/$d"
  jq -n --arg d "sha256:$d" --argjson s "$size" '{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' > "$TEST_DIR/multi/index.json"
  skopeo copy -q --all --dest-tls-verify=false "oci:$TEST_DIR/multi:multi" "docker://$REGISTRY/test/multi:1"
  "$BERTH" --root "$TEST_DIR/p1" pull -q "$REGISTRY/test/multi:1"
  "$BERTH" --root "$TEST_DIR/p2" pull -q --platform linux/arm64 "$REGISTRY/test/multi:1"
  [ "$("$BERTH" --root "$TEST_DIR/p1" images -q --no-trunc)" = "$(b images -q --no-trunc test/amd:1)" ]
  [ "$("$BERTH" --root "$TEST_DIR/p2" images -q --no-trunc)" = "$(b images -q --no-trunc test/arm:1)" ]
  run --separate-stderr "$BERTH" --root "$TEST_DIR/p3" pull --platform linux/s390x "$REGISTRY/test/multi:1"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"no manifest for linux/s390x"* ]]
  # run --platform: the image held is of this host's platform; another one is not found (and
  # so pulled, unless --pull never), as Docker's.
  local p1=("$BERTH" --root "$TEST_DIR/p1" --state "$TEST_DIR/p1-run")
  run -0 "${p1[@]}" run --rm --network none --platform "linux/$(dpkg --print-architecture)" "$REGISTRY/test/multi:1" true
  run -0 "${p1[@]}" run --rm --network none --pull never --platform linux "$REGISTRY/test/multi:1" true  # an os alone: this machine's arch
  run -125 "${p1[@]}" run --rm --network none --pull never --platform linux/s390x "$REGISTRY/test/multi:1" true
  [[ "$output" == *"was found but does not match the specified platform: wanted linux/s390x, actual: linux/$(dpkg --print-architecture)"* ]]
  run -125 "${p1[@]}" run --rm --network none --platform linux/s390x "$REGISTRY/test/multi:1" true
  [[ "$output" == *"Unable to find image"*"no manifest for linux/s390x"* ]]
  [ -z "$("${p1[@]}" ps -aq)" ]
}

@test "login with basic auth, pull and push with the stored credentials, logout" {
  start_registry berth s3cret
  export BERTH_AUTH_FILE=$TEST_DIR/auth.json
  b import "$TEST_DIR/rootfs.tar" test/auth:1 >/dev/null
  run --separate-stderr b push test/auth:1 "$REGISTRY/test/auth:1"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"401"* ]]
  run --separate-stderr b login -u berth -p wrong "$REGISTRY"
  [ "$status" -eq 1 ]
  echo s3cret | b login -u berth --password-stdin "$REGISTRY"
  [ "$(stat -c %a "$BERTH_AUTH_FILE")" = 600 ]
  jq -e --arg r "$REGISTRY" '.auths[$r].auth == "YmVydGg6czNjcmV0"' "$BERTH_AUTH_FILE"
  b push -q test/auth:1 "$REGISTRY/test/auth:1"
  "$BERTH" --root "$TEST_DIR/other" pull -q "$REGISTRY/test/auth:1"
  b logout "$REGISTRY"
  run --separate-stderr "$BERTH" --root "$TEST_DIR/third" pull "$REGISTRY/test/auth:1"
  [ "$status" -eq 1 ]
  # On a terminal, login asks for what the flags did not give; the password is not echoed.
  run timeout 20 script -qec "\"$BERTH\" --root $BROOT login $REGISTRY" /dev/null < <(sleep 0.5; printf 'berth\r'; sleep 0.5; printf 's3cret\r')
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Username: berth"*"Password: "*"Login Succeeded"* ]]
  [[ "$output" != *s3cret* ]]
  jq -e --arg r "$REGISTRY" '.auths[$r].auth == "YmVydGg6czNjcmV0"' "$BERTH_AUTH_FILE"
}

@test "pull errors: unknown tag, nobody listening, bad reference — clear, and nothing left" {
  start_registry
  run --separate-stderr b pull "$REGISTRY/test/nothing:here"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
  [[ "$stderr" == *"404"* ]]
  stop_registry
  run --separate-stderr b pull "$REGISTRY/test/bb:1"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
  run --separate-stderr b pull "UPPER/case"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"invalid reference"* ]]
  [ -z "$(find "$BROOT/content/blobs" -type f 2>/dev/null)" ]
  [ -z "$(b images -q)" ]
}

@test "a zstd layer round trip: import, push, skopeo sees zstd, pull elsewhere, same files" {
  start_registry
  zstd -q -c "$TEST_DIR/rootfs.tar" | b import - test/z:1 >/dev/null
  b image inspect test/z:1 | jq -e '.[0].Descriptor.mediaType == "application/vnd.oci.image.manifest.v1+json"'
  b push -q test/z:1 "$REGISTRY/test/z:1"
  skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/z:1" |
    jq -e '.layers[0].mediaType == "application/vnd.oci.image.layer.v1.tar+zstd"'
  "$BERTH" --root "$TEST_DIR/other" pull -q "$REGISTRY/test/z:1"
  mkdir -p "$TEST_DIR/mnt"
  "$BERTH" --root "$TEST_DIR/other" image mount "$REGISTRY/test/z:1" "$TEST_DIR/mnt"
  cmp "$TEST_DIR/mnt/bin/busybox" "$BUNDLE/rootfs/bin/busybox"
  "$BERTH" --root "$TEST_DIR/other" image unmount "$TEST_DIR/mnt"
}

@test "an image imported from a plain tar is pushed with gzip layers, recorded once: same image id, the big blob collected" {
  start_registry
  # busybox and 8 MiB of zeros: the tar is big, its gzip small.
  mkdir -p "$TEST_DIR/big"
  cp -a "$BUNDLE/rootfs/." "$TEST_DIR/big/"
  head -c 8M /dev/zero > "$TEST_DIR/big/zeros"
  tar -C "$TEST_DIR/big" -cf "$TEST_DIR/big.tar" .
  id=$(b import "$TEST_DIR/big.tar" test/plain:1)
  b tag test/plain:1 test/plain:other
  b image inspect test/plain:1 | jq -e '.[0].Descriptor.mediaType == "application/vnd.oci.image.manifest.v1+json"'
  tar_size=$(stat -c %s "$TEST_DIR/big.tar")
  run b push test/plain:1 "$REGISTRY/test/plain:1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"Compressing"* ]]
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/plain:1")
  echo "$raw"
  jq -e '.layers[0].mediaType == "application/vnd.oci.image.layer.v1.tar+gzip"' <<<"$raw"
  [ "$(jq '.layers[0].size' <<<"$raw")" -lt $((tar_size / 4)) ]
  # Locally: the same image (id), both names on the compressed manifest; the plain blob is
  # no longer referenced and a prune takes it; the next push compresses nothing.
  [ "$(b images -q --no-trunc test/plain:1)" = "$id" ]
  [ "$(b image inspect -f '{{.Descriptor.digest}}' test/plain:other)" = "$(b image inspect -f '{{.Descriptor.digest}}' test/plain:1)" ]
  # RepoDigests: Docker's, only what a registry has under that name (pulled, or pushed so)
  [ "$(b images --format '{{.Digest}}' test/plain:1)" = "<none>" ]
  b image prune -f >/dev/null
  [ -z "$(find "$BROOT/content/blobs" -type f -size +4M)" ]
  run b push test/plain:other "$REGISTRY/test/plain:2"
  echo "$output"
  [[ "$output" != *"Compressing"* ]]
  # Pulled elsewhere: the same files.
  "$BERTH" --root "$TEST_DIR/other" pull -q "$REGISTRY/test/plain:1"
  [ "$("$BERTH" --root "$TEST_DIR/other" images -q --no-trunc "$REGISTRY/test/plain:1")" = "$id" ]
  mkdir -p "$TEST_DIR/mnt"
  "$BERTH" --root "$TEST_DIR/other" image mount "$REGISTRY/test/plain:1" "$TEST_DIR/mnt"
  cmp "$TEST_DIR/mnt/zeros" "$TEST_DIR/big/zeros"
  "$BERTH" --root "$TEST_DIR/other" image unmount "$TEST_DIR/mnt"
  # save exports the compressed layer too.
  b save -o "$TEST_DIR/saved.tar" test/plain:1
  [ "$(stat -c %s "$TEST_DIR/saved.tar")" -lt $((tar_size / 2)) ]
}

@test "push --compression-format zstd: a plain-tar image goes out with zstd layers, pulled back the same; a bad format is refused" {
  start_registry
  tar -C "$BUNDLE/rootfs" -cf "$TEST_DIR/rootfs.tar" .
  id=$(b import "$TEST_DIR/rootfs.tar" test/z:1)
  run b push --compression-format xz test/z:1 "$REGISTRY/test/z:1"
  [ "$status" -eq 125 ]
  [[ "$output" == *"--compression-format must be gzip or zstd"* ]]
  b push -q --compression-format zstd test/z:1 "$REGISTRY/test/z:1"
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$REGISTRY/test/z:1")
  jq -e '.layers[0].mediaType == "application/vnd.oci.image.layer.v1.tar+zstd"' <<<"$raw"
  "$BERTH" --root "$TEST_DIR/other" pull -q "$REGISTRY/test/z:1"
  [ "$("$BERTH" --root "$TEST_DIR/other" images -q --no-trunc "$REGISTRY/test/z:1")" = "$id" ]
}

@test "an image whose config lies about its diff_ids fails the pull and leaves nothing" {
  start_registry
  # A valid 2-layer layout (berth save), then its config rewritten with a wrong second diff_id.
  b import "$TEST_DIR/rootfs.tar" test/one:1 >/dev/null
  mkdir -p "$TEST_DIR/extra" && echo x > "$TEST_DIR/extra/x"
  /usr/bin/python3 - "$TEST_DIR" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
L = f"{d}/lie"
os.makedirs(f"{L}/blobs/sha256")
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    open(f"{L}/blobs/sha256/{h}", "wb").write(data)
    return {"digest": "sha256:" + h, "size": len(data)}
layers, diff_ids = [], []
for name in ("a", "b"):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        ti = tarfile.TarInfo(name); ti.size = 2; t.addfile(ti, io.BytesIO(b"x\n"))
    tar = raw.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
    layers.append(dict(blob(gzip.compress(tar)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
diff_ids[1] = "sha256:" + "0" * 64
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode())
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"), "layers": layers}).encode())
open(f"{L}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json",
           annotations={"org.opencontainers.image.ref.name": "lie"})]}, open(f"{L}/index.json", "w"))
PY
  skopeo copy -q --dest-tls-verify=false "oci:$TEST_DIR/lie:lie" "docker://$REGISTRY/test/lie:1"
  local blobs_before snaps_before
  blobs_before=$(find "$BROOT/content/blobs" -type f | wc -l)
  snaps_before=$(find "$BROOT/snapshots/overlay" -mindepth 1 -maxdepth 1 -type d | wc -l)
  run --separate-stderr b pull "$REGISTRY/test/lie:1"
  echo "$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"diff_id mismatch"* ]]
  # The other image is untouched; nothing of the failed pull is left.
  [ "$(find "$BROOT/content/blobs" -type f | wc -l)" -eq "$blobs_before" ]
  [ "$(find "$BROOT/snapshots/overlay" -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq "$snaps_before" ]
  [ "$(b images -q | wc -l)" -eq 1 ]
  [ -z "$(ls -A "$BROOT/content/ingest")" ]
}

@test "run pulls an image it does not have (--pull missing, Docker's default); --pull always, never" {
  start_registry
  gzip -c "$TEST_DIR/rootfs.tar" | b import - test/bb:1 >/dev/null
  b push test/bb:1 "$REGISTRY/test/runme:1" >/dev/null
  # Another store, without the image: run pulls it; stdout is the container's alone.
  r() { "$BERTH" --root "$TEST_DIR/root2" --state "$TEST_DIR/run2" "$@"; }
  run --separate-stderr r run --rm --network none "$REGISTRY/test/runme:1" echo hello
  [ "$status" -eq 0 ]
  [ "$output" = hello ]
  [[ "$stderr" == *"Unable to find image '$REGISTRY/test/runme:1' locally"* ]]
  [[ "$stderr" == *"Downloaded"* ]]
  run --separate-stderr r run --rm --network none "$REGISTRY/test/runme:1" echo again
  [ "$output" = again ]
  [ -z "$stderr" ]
  run --separate-stderr r run --rm --network none --pull always "$REGISTRY/test/runme:1" echo always
  [ "$status" -eq 0 ]
  [ "$output" = always ]
  [[ "$stderr" != *"Unable to find"* ]]
  [ -n "$stderr" ]
  # -q: the pull says nothing.
  run --separate-stderr r run -q --rm --network none --pull always "$REGISTRY/test/runme:1" echo quiet
  [ "$status" -eq 0 ]
  [ "$output" = quiet ]
  [ -z "$stderr" ]
  run --separate-stderr r run --rm --network none --pull never "$REGISTRY/test/other:1" true
  [ "$status" -eq 125 ]
  [[ "$stderr" == *"No such image"* ]]
  run --separate-stderr r run --rm --network none "$REGISTRY/test/nothing:here" true
  [ "$status" -eq 125 ]
  [ "$(echo "$stderr" | grep -c '^berth: ')" -eq 1 ]
  run --separate-stderr r create --network none "$REGISTRY/test/runme:1" true
  [ "$status" -eq 0 ]
  run r run --rm --pull sometimes "$REGISTRY/test/runme:1" true
  [ "$status" -eq 125 ]
  [[ "$output" == *"--pull must be missing, always or never"* ]]
  r rm -f "$(r ps -aq)" >/dev/null
  [ -z "$(r ps -aq)" ]
}

@test "a layer whose snapshot is there but whose blob is not is fetched again: save and push work after" {
  start_registry
  gzip -c "$TEST_DIR/rootfs.tar" | b import - test/bb:1 >/dev/null
  b push test/bb:1 "$REGISTRY/test/bb:1" >/dev/null
  local other=(--root "$TEST_DIR/other")
  "$BERTH" "${other[@]}" pull "$REGISTRY/test/bb:1" >/dev/null
  layer=$(skopeo inspect --tls-verify=false "docker://$REGISTRY/test/bb:1" | jq -r '.Layers[0]' | cut -d: -f2)
  # The blob goes (as after a load of another store's archive, or a collected blob); the
  # unpacked layer stays.
  rm "$TEST_DIR/other/content/blobs/sha256/$layer"
  run "$BERTH" "${other[@]}" save -o "$TEST_DIR/before.tar" "$REGISTRY/test/bb:1"
  [ "$status" -ne 0 ]
  run "$BERTH" "${other[@]}" pull "$REGISTRY/test/bb:1"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" != *"Already exists"* ]]
  [[ "$output" == *"Download complete"* ]]
  [ -f "$TEST_DIR/other/content/blobs/sha256/$layer" ]
  "$BERTH" "${other[@]}" save -o "$TEST_DIR/after.tar" "$REGISTRY/test/bb:1"
  [ -s "$TEST_DIR/after.tar" ]
}
