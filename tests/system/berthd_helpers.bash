# Helpers for the berthd tests: one berthd per test file (its own --root, --state and
# socket), the real docker CLI (Debian's docker.io client, or BERTH_DOCKER_CLI) pointed at it,
# a busybox image, and a teardown that checks nothing is left on the host.
bats_require_minimum_version 1.5.0

BERTH=${BERTH:?BERTH must point to the berth binary}
BERTHD=${BERTHD:-$(dirname "$BERTH")/berthd}
DOCKER_CLI=${BERTH_DOCKER_CLI:-/usr/bin/docker}
SRC=${BERTH_SRC:-$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)}

# d ARGS: the docker CLI against this file's berthd; e ARGS: berth's CLI on the same store.
d() { DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" "$@"; }
e() { "$BERTH" --root "$DD/root" --state "$DD/run" "$@"; }
# api METHOD PATH [curl args]: a raw request; prints the body, then the status on its own line.
api() {
  local m=$1 p=$2; shift 2
  curl -s --unix-socket "$DD/d.sock" -X "$m" -w '\n%{http_code}\n' "$@" "http://d$p"
}

start_berthd() {
  "$BERTHD" --root "$DD/root" --state "$DD/run" -H "unix://$DD/d.sock" --config-file "$DD/daemon.json" \
    "$@" > "$DD/berthd.log" 2>&1 3>&- &
  BERTHD_PID=$!
  echo "$BERTHD_PID" > "$DD/berthd.test-pid"
  local i
  for i in $(seq 1 100); do
    curl -s --unix-socket "$DD/d.sock" -o /dev/null http://d/_ping && return 0
    sleep 0.05
  done
  echo "berthd did not start:" >&2
  cat "$DD/berthd.log" >&2
  return 1
}

# No zombie child under the daemon (what it starts is reaped when it ends), within 10 s.
no_zombie_under_berthd() {
  local zombies i
  for i in $(seq 1 100); do
    zombies=$(ps --ppid "$(cat "$DD/berthd.test-pid")" -o stat= | grep -c '^Z' || true)
    [ "$zombies" = 0 ] && break
    sleep 0.1
  done
  ps --ppid "$(cat "$DD/berthd.test-pid")" -o pid=,stat=,args= || true
  [ "$zombies" = 0 ]
}

stop_berthd() {
  local pid
  pid=$(cat "$DD/berthd.test-pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$DD/berthd.test-pid"
  # Under the sanitizers, berthd reports a leak or a memory error in its log at exit.
  if grep -q "Sanitizer" "$DD/berthd.log" 2>/dev/null; then
    cat "$DD/berthd.log" >&2
    return 1
  fi
}

berthd_setup_file() {
  DD=$(mktemp -d /tmp/berthd-test.XXXXXX)
  export DD
  mkdir -p "$DD/docker-config"
  BERTH_RUNTIME=${BERTH_RUNTIME:-$(dirname "$BERTH")/berth-runtime} "$SRC/scripts/make-bundle.sh" "$DD/bundle" true >/dev/null
  tar -C "$DD/bundle/rootfs" -cf "$DD/rootfs.tar" .
  e import "$DD/rootfs.tar" busybox:latest >/dev/null
  start_berthd
}

# track_pid PID: a process a test started (a second berthd) that teardown kills if the test
# failed before it could.
track_pid() { echo "$1" >> "$DD/extra-pids"; }

berthd_teardown_file() {
  [ -n "${DD:-}" ] || return 0
  if [ -f "$DD/extra-pids" ]; then
    while read -r p; do kill -9 "$p" 2>/dev/null || true; done < "$DD/extra-pids"
  fi
  if [ -S "$DD/d.sock" ]; then
    for c in $(e ps -aq --no-trunc 2>/dev/null); do e rm -f "$c" >/dev/null 2>&1 || true; done
  fi
  stop_berthd
  for c in $(e ps -aq --no-trunc 2>/dev/null); do e rm -f "$c" >/dev/null 2>&1 || true; done
  pkill -9 -f "berth-shim $DD/" 2>/dev/null || true
  if [ -d "$DD/root/networks" ]; then
    for n in $(e network ls --format '{{.Name}}' 2>/dev/null); do
      [ "$n" = host ] || [ "$n" = none ] || e network rm -f "$n" >/dev/null 2>&1 || true
    done
  fi
  grep -q " $DD" /proc/self/mountinfo && awk -v d="$DD" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$DD"
}

# wait_for CMD...: retries for up to 10 s.
wait_for() {
  local i
  for i in $(seq 1 200); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  "$@"
}

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# raw BYTES [close_after_send]: BYTES (printf escapes) on a new connection; prints what comes
# back within 2 s. With close_after_send=1 the client hangs up right after sending.
raw() {
  /usr/bin/python3 - "$DD/d.sock" "$1" "${2:-0}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
if sys.argv[3] == "1":
    s.close(); sys.exit(0)
s.settimeout(2)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
except socket.timeout:
    pass
sys.stdout.write(out.decode(errors="replace"))
PY
}
