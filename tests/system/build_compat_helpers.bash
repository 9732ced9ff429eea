# Helpers for build_compat.bats: a private dockerd (its own data root, exec root, pid file,
# socket and containerd namespaces, no bridge, no iptables) whose classic builder builds the
# corpus next to berth, and the build + inspect + export of one case on either side.

DOCKERD_BIN=${DOCKERD_BIN:-/usr/sbin/dockerd}
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}   # the 20.10 client: its builder is the classic one
CORPUS=$SRC/tests/system/build-corpus

# d ARGS…: the docker client against the private daemon, the classic builder.
d() { DOCKER_BUILDKIT=0 "$DOCKER_CLI" -H "unix://$DD/docker.sock" "$@"; }

# start_compat_dockerd: starts dockerd under $TEST_DIR/docker and waits until it answers.
start_compat_dockerd() {
  DD=$TEST_DIR/docker
  mkdir -p "$DD"
  # The key path: not /etc/docker/key.json, the host's.
  printf '{"deprecated-key-path": "%s"}\n' "$DD/key.json" > "$DD/daemon.json"
  setsid "$DOCKERD_BIN" --config-file "$DD/daemon.json" --data-root "$DD/data" \
    --exec-root "$DD/exec" --pidfile "$DD/dockerd.pid" -H "unix://$DD/docker.sock" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false --userland-proxy=false \
    --exec-opt native.cgroupdriver=cgroupfs \
    --containerd-namespace berth-compat --containerd-plugins-namespace berth-compat-plugins \
    > "$DD/dockerd.log" 2>&1 < /dev/null 3>&- &
  DOCKERD_STARTED=1
  local i
  for i in $(seq 150); do
    d version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "dockerd did not start:" >&2
  tail -20 "$DD/dockerd.log" >&2
  return 1
}

# stop_compat_dockerd: removes its containers, stops it (and the containerd it started), and
# waits until both are gone.
stop_compat_dockerd() {
  [ -n "${DOCKERD_STARTED:-}" ] || return 0
  DOCKERD_STARTED=
  d ps -aq 2>/dev/null | xargs -r "$DOCKER_CLI" -H "unix://$DD/docker.sock" rm -fv >/dev/null 2>&1 || true
  local pid cpid i
  pid=$(cat "$DD/dockerd.pid" 2>/dev/null || true)
  cpid=$(cat "$DD/exec/containerd/containerd.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  for i in $(seq 150); do
    { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; } &&
      { [ -z "$cpid" ] || ! kill -0 "$cpid" 2>/dev/null; } && break
    sleep 0.2
  done
  # Still there after 30 s: killed (only the daemons this test started, by their pid).
  for p in $pid $cpid; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  # Shims of the berth-compat namespace (none should remain once the containers are gone).
  pgrep -f "containerd-shim.* -address $DD/" | xargs -r kill -KILL 2>/dev/null
  return 0
}

# compat_prepare CASE: the case's context under $CTXS (its meta files left out, its setup.sh
# run on the copy).
compat_prepare() {
  local name=$1 ctx=$CTXS/$1
  cp -a "$CORPUS/$name" "$ctx"
  rm -f "$ctx/setup.sh" "$ctx/args" "$ctx/expect-fail" "$ctx/difference"
  if [ -x "$CORPUS/$name/setup.sh" ]; then
    "$CORPUS/$name/setup.sh" "$ctx" > "$CTXS/$name.setup.log" 2>&1 ||
      { echo "setup.sh of $name failed:" >&2; cat "$CTXS/$name.setup.log" >&2; return 1; }
  fi
}

# compat_args CASE: the case's extra build flags, one per line ("--flag value" is two words).
compat_args() {
  local line
  ARGS=()
  [ -f "$CORPUS/$1/args" ] || return 0
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    if [[ "$line" == *" "* ]]; then ARGS+=("${line%% *}" "${line#* }"); else ARGS+=("$line"); fi
  done < "$CORPUS/$1/args"
}

# compat_build SIDE CASE: builds the case on docker or berth, then writes what
# build_compare.py reads into $RESULTS/CASE/SIDE.
compat_build() {
  local side=$1 name=$2 out=$RESULTS/$2/$1 tag=compat/$2 rc=0 c
  local -a X
  if [ "$side" = docker ]; then X=(d); else X=(e); fi
  mkdir -p "$out"
  compat_args "$name"
  "${X[@]}" build --network none -t "$tag" "${ARGS[@]}" "$CTXS/$name" > "$out/log" 2>&1 || rc=$?
  echo "$rc" > "$out/status"
  [ "$rc" -eq 0 ] || return 0
  "${X[@]}" image inspect --format '{{json .Config}}' "$tag" > "$out/config.json" 2> "$out/stderr" ||
    echo "image inspect: $(cat "$out/stderr")" >> "$out/error"
  "${X[@]}" image inspect --format '{{json .Author}}' "$tag" > "$out/author.json" 2> "$out/stderr" ||
    echo "image inspect .Author: $(cat "$out/stderr")" >> "$out/error"
  c=compat-$side-$name
  if "${X[@]}" create --name "$c" "$tag" true > /dev/null 2> "$out/stderr"; then
    "${X[@]}" export "$c" -o "$out/fs.tar" 2> "$out/stderr" ||
      echo "export: $(cat "$out/stderr")" >> "$out/error"
    "${X[@]}" rm -v "$c" > /dev/null 2> "$out/stderr" ||
      echo "rm -v: $(cat "$out/stderr")" >> "$out/error"
  else
    echo "create: $(cat "$out/stderr")" >> "$out/error"
  fi
}

# compat_build_all SIDE CASE…: every case, one after the other.
compat_build_all() {
  local side=$1 name; shift
  for name in "$@"; do compat_build "$side" "$name"; done
}
