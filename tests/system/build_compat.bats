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

@test "a berth-built image saved and loaded into dockerd: docker history reads as for the classic builder's own" {
  local ctx=$TEST_DIR/hist
  mkdir -p "$ctx/dir"
  echo one > "$ctx/a.txt"
  echo two > "$ctx/dir/b.txt"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox
ARG V=1
ENV APP=/app MODE="two words"
WORKDIR $APP
COPY a.txt ./
COPY dir /dir/
ADD a.txt /added
RUN echo "$V" > v.txt && echo built > built.txt
LABEL version=1
EXPOSE 8080 53/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/built.txt"]
ONBUILD RUN echo hi
EOF
  d build --network none -t hist:docker "$ctx" > /dev/null
  e build --network none -t hist:berth "$ctx" > /dev/null
  e save hist:berth -o "$TEST_DIR/hist.tar"
  d load -i "$TEST_DIR/hist.tar" > /dev/null
  # COPY/ADD lines carry each builder's own checksum of the sources: compared without it.
  hist() { d history --no-trunc --format '{{.CreatedBy}}|{{.Size}}' "$1" | sed -E 's/(file|dir|multi):[0-9a-f]{64}/\1:SUM/'; }
  [ "$(hist hist:berth | wc -l)" -ge 18 ]   # the busybox layer and the 17 steps
  [[ "$(hist hist:berth)" == *'|1 V=1 /bin/sh -c echo "$V" > v.txt'* ]]
  run diff <(hist hist:docker) <(hist hist:berth)
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(d history -q hist:berth | wc -l)" -eq "$(d history -q hist:docker | wc -l)" ]
  # And it runs in dockerd as it does in berth.
  [ "$(d run --rm --network none hist:berth)" = built ]
  d rmi hist:berth hist:docker > /dev/null
}
