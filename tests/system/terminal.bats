#!/usr/bin/env bats
# process.terminal: the pty master handed over --console-socket, consoleSize, the container's
# controlling terminal, and `run` in the foreground owning the pty itself.

load helpers

# The helpers' teardown, kept so ours can stop the receiver first.
eval "helpers_teardown() $(declare -f teardown | tail -n +2)"
teardown() {
  if [ -n "${RECEIVER_PID:-}" ]; then kill "$RECEIVER_PID" 2>/dev/null || true; fi
  helpers_teardown
}

# The Debian python (has socket.recv_fds), not whatever python3 is first on PATH.
PY=/usr/bin/python3

# start_receiver [INPUT]: listens on $TEST_DIR/console.sock, receives the pty master over
# SCM_RIGHTS, writes INPUT to it, and copies everything the container prints to
# $TEST_DIR/console.out (with CRs dropped) until the container side closes.
start_receiver() {
  cat > "$TEST_DIR/receiver.py" <<'EOF'
import os, socket, sys
sock_path, out_path, data = sys.argv[1], sys.argv[2], sys.argv[3].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sock_path)
s.listen(1)
open(sock_path + ".ready", "w").close()
conn, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(conn, 4096, 1)
conn.close()
with open(out_path + ".meta", "w") as m:
    m.write("fds=%d name=%s isatty=%s\n" % (len(fds), msg.rstrip(b"\0").decode(), os.isatty(fds[0])))
master = fds[0]
if data:
    os.write(master, data)
out = b""
while True:
    try:
        chunk = os.read(master, 4096)
    except OSError:  # EIO: every slave fd is closed
        break
    if not chunk:
        break
    out += chunk
with open(out_path, "wb") as f:
    f.write(out.replace(b"\r", b""))
EOF
  "$PY" "$TEST_DIR/receiver.py" "$TEST_DIR/console.sock" "$TEST_DIR/console.out" "${1:-}" 3>&- &
  RECEIVER_PID=$!
  local i
  for i in $(seq 100); do [ -e "$TEST_DIR/console.sock.ready" ] && return 0; sleep 0.05; done
  echo "receiver did not start" >&2
  return 1
}

# wait_receiver: waits (up to 10 s) for the receiver to finish; fails if it does not.
wait_receiver() {
  local i
  for i in $(seq 200); do
    kill -0 "$RECEIVER_PID" 2>/dev/null || { wait "$RECEIVER_PID"; RECEIVER_PID=; return 0; }
    sleep 0.05
  done
  echo "receiver still running" >&2
  return 1
}

@test "create --console-socket hands over the pty master; the process has a terminal of consoleSize" {
  [ -x "$PY" ] || skip "needs $PY"
  start_receiver
  set_config '.process.terminal = true | .process.consoleSize = {"height": 30, "width": 100}'
  set_args sh -c 'tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-tty; stat -c "%t:%T" /dev/console; cut -d" " -f7 /proc/$$/stat'
  rt create --console-socket "$TEST_DIR/console.sock" --bundle "$BUNDLE" "$ID"
  [ "$(state_field "$ID" status)" = created ]
  rt start "$ID"
  wait_receiver
  cat "$TEST_DIR/console.out.meta" "$TEST_DIR/console.out"
  grep -q "fds=1 .*isatty=True" "$TEST_DIR/console.out.meta"
  mapfile -t out < "$TEST_DIR/console.out"
  [[ "${out[0]}" == /dev/pts/0 || "${out[0]}" == /dev/console ]]
  [ "${out[1]}" = "30 100" ]
  [ "${out[2]}" = all-tty ]
  # /dev/console is the pty slave: major 136 (0x88).
  [[ "${out[3]}" == 88:* ]]
  # The shell's controlling terminal (tty_nr) is that pty: major 136 << 8 | minor.
  [ "${out[4]}" -eq $(( (136 << 8) | 0x${out[3]#88:} )) ]
  wait_status "$ID" stopped
  rt delete "$ID"
  assert_clean "$ID"
}

@test "a /dev the image controls: a planted /dev/console symlink is replaced by the pty, never bound over its target (CVE-2025-52565 class)" {
  [ -x "$PY" ] || skip "needs $PY"
  # /dev bind-mounted from a directory of the bundle's making, its console a symlink to a host
  # file (a naive runtime binds the pty over the symlink's target: the host file); devpts
  # still at /dev/pts.
  local devdir=$TEST_DIR/devdir victim=$TEST_DIR/victim
  mkdir -p "$devdir/pts"
  mknod -m 666 "$devdir/null" c 1 3   # a user-mounted /dev gets no devices made (runc's rule)
  echo untouched > "$victim"
  ln -s "$victim" "$devdir/console"
  start_receiver
  set_config '.process.terminal = true
    | .mounts |= map(select(.destination != "/dev"))
    | .mounts = [{"destination": "/dev", "type": "bind", "source": $d, "options": ["rbind"]}] + .mounts' --arg d "$devdir"
  set_args sh -c 'stat -c "%F %t:%T" /dev/console; tty'
  rt run -d --console-socket "$TEST_DIR/console.sock" --bundle "$BUNDLE" "$ID"
  wait_receiver
  cat "$TEST_DIR/console.out"
  mapfile -t out < "$TEST_DIR/console.out"
  # The console is the pty slave (major 136), a character device, not the symlink's target.
  [[ "${out[0]}" == "character special file 88:"* ]]
  [ "$(cat "$victim")" = untouched ]
  ! grep -q "$victim" /proc/self/mountinfo || false
  wait_status "$ID" stopped
  rt delete "$ID"
  assert_clean "$ID"
}

@test "input written to the pty master reaches the process" {
  [ -x "$PY" ] || skip "needs $PY"
  start_receiver $'hello-through-pty\n'
  set_config '.process.terminal = true'
  set_args sh -c 'read line; echo "got:$line"'
  rt create --console-socket "$TEST_DIR/console.sock" --bundle "$BUNDLE" "$ID"
  rt start "$ID"
  wait_receiver
  cat "$TEST_DIR/console.out"
  # The terminal echoes the input, then the process answers.
  grep -qx "got:hello-through-pty" "$TEST_DIR/console.out"
  wait_status "$ID" stopped
  rt delete "$ID"
}

@test "run --console-socket works like create + start" {
  [ -x "$PY" ] || skip "needs $PY"
  start_receiver
  set_config '.process.terminal = true | .process.consoleSize = {"height": 12, "width": 34}'
  set_args sh -c 'stty size; exit 7'
  run rt run --console-socket "$TEST_DIR/console.sock" --bundle "$BUNDLE" "$ID"
  echo "status=$status output=$output"
  [ "$status" -eq 7 ]
  wait_receiver
  [ "$(cat "$TEST_DIR/console.out")" = "12 34" ]
  assert_clean "$ID"
}

# script(1) with stdin at EOF passes an EOF byte into the pty, which the container's terminal
# echoes as "^@"; drop that and the CRs.
clean_script_output() { printf '%s\n' "$output" | tr -d '\r' | sed 's/\^@//g'; }

@test "run in the foreground with a terminal and no console socket uses the caller's tty" {
  command -v script >/dev/null || skip "needs script(1)"
  set_config '.process.terminal = true | .process.consoleSize = {"height": 25, "width": 81}'
  set_args sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo all-tty; stty size; exit 3'
  run script -qec "\"$RUNTIME\" --root \"$ROOT\" run --bundle \"$BUNDLE\" \"$ID\"" /dev/null < /dev/null
  echo "status=$status output=$output"
  [ "$status" -eq 3 ]
  mapfile -t out < <(clean_script_output)
  [[ "${out[0]}" == /dev/pts/0 || "${out[0]}" == /dev/console ]]
  [ "${out[1]}" = all-tty ]
  # script's own pty reports 0x0 here, so the container keeps consoleSize.
  [ "${out[2]}" = "25 81" ]
  assert_clean "$ID"
}

@test "run in the foreground with a terminal takes the size of the caller's terminal" {
  command -v script >/dev/null || skip "needs script(1)"
  set_config '.process.terminal = true | .process.consoleSize = {"height": 25, "width": 81}'
  # The size is copied once the process runs (and SIGWINCH tells it): look after a moment.
  set_args sh -c 'sleep 0.5; stty size'
  run script -qec "stty rows 40 cols 132; \"$RUNTIME\" --root \"$ROOT\" run --bundle \"$BUNDLE\" \"$ID\"" /dev/null < /dev/null
  echo "status=$status output=$output"
  [ "$status" -eq 0 ]
  clean_script_output | grep -qx "40 132"
  assert_clean "$ID"
}

@test "run in the foreground with a terminal: output lines are not CR-doubled" {
  command -v script >/dev/null || skip "needs script(1)"
  set_config '.process.terminal = true'
  set_args sh -c 'echo line1; echo line2'
  run script -qec "\"$RUNTIME\" --root \"$ROOT\" run --bundle \"$BUNDLE\" \"$ID\"" /dev/null < /dev/null
  printf '%s' "$output" | od -c | head -5
  [ "$status" -eq 0 ]
  # script's EOF byte may be echoed as "^@" anywhere in between: drop it.
  local out=${output//^@/}
  # The container's pty already turns \n into \r\n; the caller's terminal must not add another \r.
  [[ "$out" == *$'line1\r\nline2'* ]]
  [[ "$out" != *$'\r\r\n'* ]]
}

@test "create with terminal=true and no --console-socket fails clearly" {
  set_config '.process.terminal = true'
  set_args true
  run --separate-stderr rt create --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"console-socket"* ]]
  assert_clean "$ID"

  run --separate-stderr rt run -d --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *"console-socket"* ]]
  assert_clean "$ID"
}

@test "a console socket nobody listens on fails create and leaves nothing" {
  set_config '.process.terminal = true'
  set_args true
  run --separate-stderr rt create --console-socket "$TEST_DIR/nobody.sock" --bundle "$BUNDLE" "$ID"
  echo "status=$status stderr=$stderr"
  [ "$status" -eq 1 ]
  [[ "$stderr" == *nobody.sock* ]]
  assert_clean "$ID"
}
