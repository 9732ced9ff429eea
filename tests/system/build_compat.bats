#!/usr/bin/env bats
# berth build against Docker's classic builder: every case of build-corpus/ (a Dockerfile and
# its context) is built by a private dockerd 20.10 (DOCKER_BUILDKIT=0) and by berth, from the
# same busybox image, and build_compare.py compares the two images: the config fields, and the
# root filesystem of a container created from each (type, mode, owner, size, link target,
# content). A case with an `expect-fail` file must fail on both; one with a `difference` file
# documents a difference that is reported, not failed. See build-corpus/README.md.

load helpers
load image_helpers
load engine_helpers
load build_compat_helpers

setup() {
  [ -x "$DOCKERD_BIN" ] || skip "no dockerd at $DOCKERD_BIN: nothing to compare berth build with"
  [ -x "$DOCKER_CLI" ] || skip "no docker client at $DOCKER_CLI: nothing to compare berth build with"
  _berth_setup
  import_busybox
  start_compat_dockerd
  # The same image on both sides, busybox:latest, id for id.
  e save busybox -o "$TEST_DIR/busybox.tar"
  d load -i "$TEST_DIR/busybox.tar" >/dev/null
  [ "$(d image inspect busybox:latest --format '{{.Id}}')" = "$(e image inspect busybox:latest --format '{{.Id}}')" ]
  CTXS=$TEST_DIR/contexts
  RESULTS=$TEST_DIR/results
  mkdir -p "$CTXS" "$RESULTS"
}

teardown() {
  [ -n "${TEST_DIR:-}" ] || return 0   # skipped before setup made anything
  stop_compat_dockerd
  # BUILD_COMPAT_KEEP=DIR keeps the builds' logs, configs and exports for a look afterwards.
  if [ -n "${BUILD_COMPAT_KEEP:-}" ] && [ -d "${RESULTS:-}" ]; then
    mkdir -p "$BUILD_COMPAT_KEEP" && cp -a "$RESULTS/." "$BUILD_COMPAT_KEEP/"
  fi
  _engine_teardown
}

@test "build corpus: berth build makes what docker's classic builder makes, case by case" {
  local -a cases=()
  local c
  for c in "$CORPUS"/[0-9][0-9]-*/; do
    c=$(basename "$c")
    [ -f "$CORPUS/$c/Dockerfile" ] && cases+=("$c")
  done
  echo "${#cases[@]} cases"
  [ "${#cases[@]}" -ge 60 ]
  for c in "${cases[@]}"; do compat_prepare "$c"; done
  # Docker's builds in the background, berth's meanwhile: the two do not share anything.
  compat_build_all docker "${cases[@]}" 3>&- &
  local docker_loop=$!
  compat_build_all berth "${cases[@]}"
  wait "$docker_loop"
  run /usr/bin/python3 "$SRC/tests/system/build_compare.py" "$CORPUS" "$RESULTS" "${cases[@]}"
  echo "$output"
  # Neither side keeps a container of the comparison (the classic builder keeps the
  # container of a failed RUN: not ours).
  [ -z "$(e ps -aq)" ]
  [ -z "$(d ps -aq --filter name=compat-)" ]
  [ "$status" -eq 0 ]
}
