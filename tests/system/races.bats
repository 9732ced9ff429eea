#!/usr/bin/env bats
# Races against container setup. An attacker container swaps two names in a volume it shares
# with a victim (renameat2 RENAME_EXCHANGE, as fast as it can) while the victim is created
# over and over. A runtime that resolves a path and then uses it by name can be steered out
# of the victim's rootfs (CVE-2021-30465) or into masking with a procfs file (the 2025
# maskedPaths class). BERTH_RACE_RUNS sets how many victims are created (default 200).

load helpers

RACE_RUNS=${BERTH_RACE_RUNS:-200}
SWAP_LOOP=${BERTH_SWAP_LOOP:?BERTH_SWAP_LOOP must point to the swap_loop helper}

# start_attacker SHARED NAME1 NAME2: a container swapping SHARED/NAME1 and SHARED/NAME2.
start_attacker() {
  local ab=$TEST_DIR/attacker
  BERTH_RUNTIME=$RUNTIME "$SRC/scripts/make-bundle.sh" "$ab" /swap_loop /shared "$2" "$3" 3600
  cp "$SWAP_LOOP" "$ab/rootfs/swap_loop"
  jq --arg s "$1" '.mounts += [{"destination": "/shared", "type": "bind", "source": $s, "options": ["rbind"]}]' \
    "$ab/config.json" > "$ab/c" && mv "$ab/c" "$ab/config.json"
  rt run -d --bundle "$ab" "$ID-attacker" </dev/null >/dev/null 2>&1
  # Make sure the swapping is under way: both kinds of file show up under NAME1.
  local i kinds=""
  for i in $(seq 1 200); do kinds+=" $(stat -c %F "$1/$2" 2>/dev/null)"; done
  [[ "$kinds" == *symbolic* ]]
  [[ "$kinds" == *" $4"* ]]
}

@test "mount targets in a volume another container swaps with a symlink never leave the rootfs (CVE-2021-30465)" {
  local shared=$TEST_DIR/shared victim=$TEST_DIR/victim-host
  mkdir -p "$shared/dir" "$victim"
  ln -s "$victim" "$shared/link"
  start_attacker "$shared" dir link directory
  # The victim mounts the volume, then ten tmpfs mounts below its swapped name.
  set_config '.mounts += [{"destination": "/vol", "type": "bind", "source": $s, "options": ["rbind"]}]
    + [range(10) | {"destination": "/vol/dir/m\(.)", "type": "tmpfs", "source": "tmpfs"}]' --arg s "$shared"
  set_args true
  local i ok=0 failed=0
  for i in $(seq 1 "$RACE_RUNS"); do
    if rt run --bundle "$BUNDLE" "$ID" >/dev/null 2>"$TEST_DIR/err"; then ok=$((ok + 1)); else failed=$((failed + 1)); cat "$TEST_DIR/err" >> "$TEST_DIR/errs"; fi
    rt delete --force "$ID" >/dev/null 2>&1 || true
    # Nothing may ever be mounted on, or created in, the host directory.
    if grep -q "$victim" /proc/self/mountinfo || [ -n "$(ls -A "$victim")" ]; then
      echo "run $i escaped:" >&2
      grep "$victim" /proc/self/mountinfo >&2 || ls -la "$victim" >&2
      false
    fi
  done
  echo "# $RACE_RUNS victims: $ok ran, $failed refused" >&3
  sort "$TEST_DIR/errs" 2>/dev/null | sed "s/[0-9]\+/N/g" | sort | uniq -c | sed "s/^/# /" >&3
  [ "$ok" -gt 0 ]
  assert_clean "$ID"
}

@test "a /dev/null swapped with a symlink to core_pattern is never used for masking (CVE-2025-31133)" {
  local shared=$TEST_DIR/shared-dev before
  mkdir -p "$shared"
  mknod "$shared/null" c 1 3
  chmod 666 "$shared/null"
  ln -s /proc/sys/kernel/core_pattern "$shared/evil"
  before=$(cat /proc/sys/kernel/core_pattern)
  start_attacker "$shared" null evil "character special file"
  # The victim's /dev is the shared directory; it tries to write through a masked path.
  set_config '.mounts |= map(select(.destination | startswith("/dev") | not))
    | .mounts += [{"destination": "/dev", "type": "bind", "source": $s, "options": ["rbind"]}]' --arg s "$shared"
  set_args sh -c 'echo "|/tmp/berth-race-pwned" > /proc/kcore'
  local i ok=0 refused=0 now
  for i in $(seq 1 "$RACE_RUNS"); do
    if rt run --bundle "$BUNDLE" "$ID" >/dev/null 2>"$TEST_DIR/err"; then
      ok=$((ok + 1))
    elif grep -q "not the null device" "$TEST_DIR/err"; then
      refused=$((refused + 1))
    else
      ok=$((ok + 1))  # the container ran; its write to the masked /proc/kcore failed
    fi
    rt delete --force "$ID" >/dev/null 2>&1 || true
    now=$(cat /proc/sys/kernel/core_pattern)
    if [ "$now" != "$before" ]; then
      echo "$before" > /proc/sys/kernel/core_pattern
      echo "run $i: core_pattern was changed to $now" >&2
      false
    fi
  done
  echo "# $RACE_RUNS victims: $ok masked with the real /dev/null, $refused refused" >&3
  [ "$ok" -gt 0 ]
  [ "$refused" -gt 0 ]
  assert_clean "$ID"
}
