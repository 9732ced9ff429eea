# Shared setup for berth-runtime system tests (bats).
bats_require_minimum_version 1.5.0
# Each test gets its own state root and bundle in a temp dir, a unique container id, and a
# teardown that deletes every container it made, even when the test failed.

RUNTIME=${BERTH_RUNTIME:?BERTH_RUNTIME must point to the berth-runtime binary}
SRC=${BERTH_SRC:-$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)}

setup() { _berth_setup; }

# The common part of every test's setup (files with a setup of their own call it first):
# a temp dir with the runtime's state root, berth's root and a busybox bundle.
_berth_setup() {
  TEST_DIR=$(mktemp -d /tmp/berth-test.XXXXXX)
  ROOT=$TEST_DIR/state
  BROOT=$TEST_DIR/berth
  BUNDLE=$TEST_DIR/bundle
  ID="bt-${BATS_TEST_NUMBER}-$$-$RANDOM"
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$BUNDLE" true
}

teardown() { _berth_teardown; }

_berth_teardown() {
  if [ -d "$ROOT" ]; then
    for c in $("$RUNTIME" --root "$ROOT" list -q 2>/dev/null); do
      "$RUNTIME" --root "$ROOT" delete --force "$c" >/dev/null 2>&1 || true
    done
    # Directories without state (a crashed create) are removed by delete as well.
    for d in "$ROOT"/*/; do
      [ -d "$d" ] && "$RUNTIME" --root "$ROOT" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
    done
  fi
  # Nothing may stay mounted under the test dir.
  grep -q " $TEST_DIR" /proc/self/mountinfo && awk -v d="$TEST_DIR" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$TEST_DIR"
  # The host's /dev/null is the null device still (a test that replaced it — a cp, a mount
  # gone wrong — is named here, not by the next suite's failures).
  if [ ! -c /dev/null ]; then
    echo "the host's /dev/null is no longer the null device" >&2
    rm -f /dev/null && mknod -m 666 /dev/null c 1 3
    return 1
  fi
}

rt() { "$RUNTIME" --root "$ROOT" "$@"; }

# set_config JQ_FILTER [jq args...]: edits the bundle's config.json in place.
set_config() {
  local filter=$1; shift
  local tmp
  tmp=$(mktemp)
  # Rewritten in place, so that the file keeps its owner and mode.
  jq "$@" "$filter" "$BUNDLE/config.json" > "$tmp" && cat "$tmp" > "$BUNDLE/config.json"
  rm -f "$tmp"
}

set_args() {
  local args
  args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
  set_config '.process.args = $a' --argjson a "$args"
}

state_field() { rt state "$1" | jq -r ".$2"; }

# wait_status ID STATUS: polls `state` for up to 5 s.
wait_status() {
  local i
  for i in $(seq 1 100); do
    [ "$(state_field "$1" status 2>/dev/null)" = "$2" ] && return 0
    sleep 0.05
  done
  echo "container $1 did not reach $2 (now: $(state_field "$1" status 2>&1))" >&2
  return 1
}

# assert_clean ID: no state dir, no cgroup dir and no mount of this container remain.
assert_clean() {
  local id=$1
  [ ! -e "$ROOT/$id" ] || { echo "state dir $ROOT/$id left behind" >&2; return 1; }
  if find /sys/fs/cgroup -maxdepth 4 -type d -name "$id" 2>/dev/null | grep -q .; then
    echo "cgroup of $id left behind:" >&2
    find /sys/fs/cgroup -maxdepth 4 -type d -name "$id" >&2
    return 1
  fi
  if grep -q "$BUNDLE" /proc/self/mountinfo; then
    echo "mounts of $BUNDLE left behind" >&2
    return 1
  fi
}

# expect_failure PATTERN CMD...: exit 1, a single stderr line matching PATTERN, nothing left.
expect_failure() {
  local pattern=$1; shift
  run --separate-stderr "$@"
  echo "status=$status stderr=$stderr" >&2
  [ "$status" -eq 1 ]
  [ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
  [[ "$stderr" == *$pattern* ]]
  assert_clean "$ID"
  ! pgrep -f "$ID" >/dev/null || false
}
