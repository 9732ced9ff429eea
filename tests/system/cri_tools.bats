#!/usr/bin/env bats
# berthd's CRI through the Kubernetes tools themselves: crictl (the operator's CLI) for a pod's
# whole life, and critest (cri-tools' conformance suite, through scripts/critest.sh). Both are
# cri-tools v1.27.0, built by scripts/cri-tools.sh with Debian's Go from a cri-tools source on
# this machine (CRI_TOOLS_SRC, or a repository with the tag at CRI_TOOLS_GIT). Without one the
# suite is skipped, and says so: no test downloads anything.

load berthd_helpers
load image_helpers

BRIDGE=berthcrt0

setup_file() {
  local out
  # (skip in setup_file fails the file with bats 1.8: each test skips instead, in setup)
  # (its stdout's last line is the tools' directory; a first build may say more on stderr)
  if ! out=$(bash "$SRC/scripts/cri-tools.sh" 2>"$BATS_FILE_TMPDIR/cri-tools.err"); then
    export CRI_TOOLS_MISSING="cri-tools v1.27.0 not built: $(tail -3 "$BATS_FILE_TMPDIR/cri-tools.err")"
    return 0
  fi
  CRICTL_BIN=$(printf '%s\n' "$out" | tail -1)/crictl
  export CRICTL_BIN
  DD=$(mktemp -d /tmp/berthd-test.XXXXXX)
  export DD
  mkdir -p "$DD/docker-config" "$DD/net.d" "$DD/ipam" "$DD/logs"
  BERTH_RUNTIME=${BERTH_RUNTIME:-$(dirname "$BERTH")/berth-runtime} "$SRC/scripts/make-bundle.sh" "$DD/bundle" true >/dev/null
  tar -C "$DD/bundle/rootfs" -cf "$DD/rootfs.tar" .
  cat > "$DD/net.d/10-berth-crictl.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "berth-crictl", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "dataDir": "$DD/ipam", "ranges": [[{"subnet": "10.231.8.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  # A registry for crictl pull: busybox pushed to it by the CLI.
  TEST_DIR=$DD start_registry
  echo "$REGISTRY_PID" > "$DD/registry.pid"
  echo "$REGISTRY" > "$DD/registry.addr"
  e import "$DD/rootfs.tar" "$REGISTRY/test/busybox:1" >/dev/null
  e push "$REGISTRY/test/busybox:1" >/dev/null
  printf '{"insecure-registries": ["%s"]}\n' "$REGISTRY" > "$DD/daemon.json"
  start_berthd --cni-conf-dir "$DD/net.d"
  wait_for test -S "$DD/run/cri.sock"
}

setup() {
  [ -z "${CRI_TOOLS_MISSING:-}" ] || skip "$CRI_TOOLS_MISSING"
}

teardown_file() {
  [ -n "${DD:-}" ] || return 0
  if [ -S "$DD/run/cri.sock" ]; then cri rmp -fa >/dev/null 2>&1 || true; fi
  for c in $(e --namespace k8s.io ps -aq --no-trunc 2>/dev/null); do e --namespace k8s.io rm -f "$c" >/dev/null 2>&1 || true; done
  REGISTRY_PID=$(cat "$DD/registry.pid" 2>/dev/null) stop_registry
  berthd_teardown_file
  ip link del "$BRIDGE" 2>/dev/null || true
  # The cgroup parent the pod's containers went under.
  local d
  for d in /sys/fs/cgroup/*/berth-crictl-test /sys/fs/cgroup/berth-crictl-test; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}

cri() { "$CRICTL_BIN" --runtime-endpoint "unix://$DD/run/cri.sock" --image-endpoint "unix://$DD/run/cri.sock" -t 30s "$@"; }

@test "crictl: pull, runp, create, start, ps, exec, logs, stats, inspect, stopp, rmp, images, rmi" {
  local reg image pod ctr
  reg=$(cat "$DD/registry.addr")
  image=$reg/test/busybox:1
  run -0 cri pull "$image"
  [[ "$output" == "Image is up to date for sha256:"* ]]
  run -0 cri images -q
  [ "${#lines[@]}" -eq 1 ]
  cat > "$DD/pod.json" <<EOF
{"metadata": {"name": "crictl-pod", "namespace": "default", "uid": "u-crictl", "attempt": 0},
 "hostname": "crictl-host", "log_directory": "$DD/logs/crictl-pod", "labels": {"app": "crictl"},
 "linux": {"cgroup_parent": "/berth-crictl-test/pod1"}}
EOF
  cat > "$DD/ctr.json" <<EOF
{"metadata": {"name": "main"}, "image": {"image": "$image"},
 "command": ["sh", "-c", "echo started; echo oops >&2; exec sleep 1000"], "log_path": "main/0.log",
 "labels": {"role": "main"}}
EOF
  pod=$(cri runp "$DD/pod.json")
  run -0 cri pods -q --label app=crictl
  [ "$output" = "$pod" ]
  run -0 cri inspectp "$pod"
  [ "$(jq -r .status.state <<<"$output")" = SANDBOX_READY ]
  [[ "$(jq -r .status.network.ip <<<"$output")" == 10.231.8.* ]]
  ctr=$(cri create "$pod" "$DD/ctr.json" "$DD/pod.json")
  run -0 cri start "$ctr"
  run -0 cri ps -q --state running --pod "$pod"
  [ "$output" = "$ctr" ]
  # exec -s (ExecSync) and exec (the streaming server, SPDY): output and exit codes.
  run -0 cri exec -s "$ctr" hostname
  [ "$output" = crictl-host ]
  # (crictl 1.27 exits 1 for any failure; the code comes in the v4 status, which it prints.)
  run -1 cri exec "$ctr" sh -c 'echo streamed; exit 3'
  [ "${lines[0]}" = streamed ]
  [[ "$output" == *"command terminated with exit code 3"* ]]
  run -0 cri exec -i "$ctr" cat <<<"through stdin"
  [ "$output" = "through stdin" ]
  # logs reads the kubelet's log format at the pod's log path.
  wait_for sh -c "'$CRICTL_BIN' --runtime-endpoint unix://$DD/run/cri.sock logs $ctr 2>&1 | grep -q oops"
  run -0 cri logs "$ctr"
  [[ "$output" == *started* && "$output" == *oops* ]]
  grep -q ' stdout F started$' "$DD/logs/crictl-pod/main/0.log"
  run -0 cri stats -o json "$ctr"
  [ "$(jq -r '.stats[0].attributes.id' <<<"$output")" = "$ctr" ]
  [ "$(jq -r '.stats[0].memory.workingSetBytes.value' <<<"$output")" -gt 0 ]
  run -0 cri statsp -o json "$pod"
  [ "$(jq -r '.stats[0].attributes.id' <<<"$output")" = "$pod" ]
  [ "$(jq -r '.stats[0].linux.network.defaultInterface.name' <<<"$output")" = eth0 ]
  run -0 cri inspect "$ctr"
  [ "$(jq -r .status.state <<<"$output")" = CONTAINER_RUNNING ]
  [ "$(jq -r .status.labels.role <<<"$output")" = main ]
  # stop with a timeout, then the pod; both removed; nothing of the pod left on the host.
  run -0 cri stop -t 1 "$ctr"
  run -0 cri inspect "$ctr"
  [ "$(jq -r .status.state <<<"$output")" = CONTAINER_EXITED ]
  run -0 cri stopp "$pod"
  run -0 cri rmp "$pod"
  run -0 cri pods -q
  [ -z "$output" ]
  [ -z "$(e --namespace k8s.io ps -aq)" ]
  ! grep -q "$pod" /proc/self/mountinfo || false
  [ -z "$(ip -br link show master "$BRIDGE" 2>/dev/null)" ]
  run -0 cri rmi "$image"
  run -0 cri images -q
  [ -z "$output" ]
}

@test "critest v1.27.0: every spec that can pass here passes" {
  # Two specs cannot pass on this host (docs/cri.md says why): the upstream image's digest
  # (no network), MaskedPaths on /bin/ls (busybox's sh runs its own ls, never the file).
  run bash "$SRC/scripts/critest.sh" -ginkgo.skip "public image with digest|should support MaskedPaths"
  echo "$output" | tail -30
  echo "# critest: $(grep -E '^(Ran|SUCCESS|FAIL)' <<<"$output" | tr '\n' ' ')" >&3
  [ "$status" -eq 0 ]
  [[ "$output" == *"SUCCESS!"* ]]
}
