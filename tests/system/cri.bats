#!/usr/bin/env bats
# berthd's Kubernetes CRI (runtime.v1) on its gRPC socket: pods with pinned namespaces and a
# CNI network (Debian's bridge + host-local + portmap plugins), containers in them, ExecSync,
# the kubelet's log format, images — through a gRPC client of the test's own (python3-grpcio,
# stubs generated from src/cri/api.proto), and a berthd restart in the middle of a pod's life.

load berthd_helpers

CRI_BRIDGE=berthcri0

cri_py() { /usr/bin/python3 - "$@"; }

setup_file() {
  /usr/bin/python3 -c 'import grpc, google.protobuf, pytest' 2>/dev/null || skip "python3-grpcio, python3-protobuf or python3-pytest is not installed"
  command -v grpc_python_plugin >/dev/null || skip "grpc_python_plugin (protobuf-compiler-grpc) is not installed"
  DD=$(mktemp -d /tmp/berthd-test.XXXXXX)
  export DD
  mkdir -p "$DD/docker-config" "$DD/net.d" "$DD/ipam" "$DD/logs" "$DD/py"
  BERTH_RUNTIME=${BERTH_RUNTIME:-$(dirname "$BERTH")/berth-runtime} "$SRC/scripts/make-bundle.sh" "$DD/bundle" true >/dev/null
  tar -C "$DD/bundle/rootfs" -cf "$DD/rootfs.tar" .
  # The CRI's images are those of its namespace (k8s.io).
  e --namespace k8s.io import "$DD/rootfs.tar" busybox:latest >/dev/null
  e import "$DD/rootfs.tar" busybox:latest >/dev/null
  cat > "$DD/net.d/10-berth-cri-test.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "berth-cri-test", "plugins": [
  {"type": "bridge", "bridge": "$CRI_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$DD/ipam", "ranges": [[{"subnet": "10.231.7.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  protoc --proto_path="$SRC/src" --python_out="$DD/py" --grpc_out="$DD/py" \
    --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$SRC/src/cri/api.proto"
  touch "$DD/py/cri/__init__.py"
  export CRI_SOCK="$DD/run/cri.sock" CRI_PY="$DD/py" CRI_LOGS="$DD/logs" CRI_SUBNET_PREFIX="10.231.7."
  export BERTH_CLI="$BERTH --root $DD/root --state $DD/run --namespace k8s.io"
  # gVisor as a runtime handler (RuntimeClass "gvisor") where runsc is installed.
  if command -v runsc >/dev/null; then
    echo '{"runtimes": {"gvisor": {"path": "runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}}}' > "$DD/daemon.json"
    export CRI_GVISOR=1
  fi
  start_berthd --cni-conf-dir "$DD/net.d"
  wait_for test -S "$CRI_SOCK"
}

teardown_file() {
  [ -n "${DD:-}" ] || return 0
  # Pods a failed test left: removed through the CRI (CNI DEL, namespaces) while berthd runs.
  if [ -S "${CRI_SOCK:-/nonexistent}" ]; then
    cri_py <<'PY' || true
import os, sys
sys.path.insert(0, os.environ["CRI_PY"])
import grpc
from cri import api_pb2 as pb, api_pb2_grpc as rpc
rt = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"]))
for p in rt.ListPodSandbox(pb.ListPodSandboxRequest()).items:
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=p.id))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=p.id))
PY
  fi
  for c in $(e --namespace k8s.io ps -aq --no-trunc 2>/dev/null); do e --namespace k8s.io rm -f "$c" >/dev/null 2>&1 || true; done
  berthd_teardown_file
  ip link del "$CRI_BRIDGE" 2>/dev/null || true
  # The cgroup parents the pods' containers went under.
  for d in /sys/fs/cgroup/*/berth-cri-test /sys/fs/cgroup/berth-cri-test /sys/fs/cgroup/unified/berth-cri-test; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}

@test "cri: berthd loads gRPC (berthd-cri.so) at the first CRI connection, not before" {
  local pid
  pid=$(cat "$DD/berthd.test-pid")
  # An idle berthd: the CRI socket is berthd's own, no gRPC or protobuf in its memory.
  ! grep -q -e libgrpc -e libprotobuf -e berthd-cri "/proc/$pid/maps" || false
  grep -q "its server loads at the first connection" "$DD/berthd.log"
  run -0 cri_py <<'PY'
import os, sys
sys.path.insert(0, os.environ["CRI_PY"])
import grpc
from cri import api_pb2 as pb, api_pb2_grpc as rpc
rt = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"]))
print(rt.Version(pb.VersionRequest()).runtime_name)
PY
  [ "$output" = berth ]
  grep -q berthd-cri.so "/proc/$pid/maps"
  grep -q "CRI server loaded (first connection); streaming on 127.0.0.1:" "$DD/berthd.log"
  # The socket keeps its mode, and later connections reach the same server.
  [ "$(stat -c %a "$CRI_SOCK")" = 660 ]
}

@test "cri: the project's CRI scenarios through a gRPC client (pods, containers, ExecSync, exec/attach/port-forward streams, logs, images, bad requests)" {
  run -0 /usr/bin/python3 -m pytest -q -p no:cacheprovider "$SRC/tests/system/cri_test.py" || { echo "$output"; false; }
  echo "# cri_test.py: ${lines[-1]}" >&3
  # Nothing of the pods is left on the host: no namespace files, no veth on the bridge, no
  # address still taken.
  [ -z "$(ls "$DD/run/k8s.io/cri/pods" 2>/dev/null)" ]
  [ -z "$(ip -br link show master "$CRI_BRIDGE" 2>/dev/null)" ]
  [ -z "$(ls "$DD/ipam/berth-cri-test" 2>/dev/null | grep -v -e lock -e last_reserved)" ]
}

@test "cri: pods and containers outlive a berthd restart, and the Docker API does not see them" {
  run -0 cri_py <<'PY'
import os, sys, uuid
sys.path.insert(0, os.environ["CRI_PY"])
import grpc
from cri import api_pb2 as pb, api_pb2_grpc as rpc
rt = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"]))
uid = str(uuid.uuid4())
cfg = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="survivor", namespace="default", uid=uid),
                          hostname="survivor", log_directory=os.environ["CRI_LOGS"] + "/" + uid)
pod = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
c = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, sandbox_config=cfg, config=pb.ContainerConfig(
    metadata=pb.ContainerMetadata(name="main"), image=pb.ImageSpec(image="busybox"),
    command=["sleep", "1000"], log_path="main.log"))).container_id
rt.StartContainer(pb.StartContainerRequest(container_id=c))
open(os.environ["DD"] + "/survivor", "w").write(pod + " " + c + "\n")
PY
  read -r pod ctr < "$DD/survivor"
  # The Docker API serves the default namespace: the CRI's container is not there.
  run -0 d ps -aq --no-trunc
  [[ "$output" != *"$ctr"* ]]
  # A GetContainerEvents stream open at shutdown ends at once, cleanly (not after gRPC's grace).
  cri_py > "$DD/follower" <<'PY' &
import os, sys, time
sys.path.insert(0, os.environ["CRI_PY"])
import grpc
from cri import api_pb2 as pb, api_pb2_grpc as rpc
rt = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"]))
print("following", flush=True)
try:
    for e in rt.GetContainerEvents(pb.GetEventsRequest()):
        pass
    print("ended OK")
except grpc.RpcError as e:
    print("ended", e.code())
PY
  local follower=$!
  wait_for grep -q following "$DD/follower"
  sleep 0.3
  local t0=$SECONDS
  stop_berthd
  wait "$follower"
  cat "$DD/follower"
  grep -q "ended OK" "$DD/follower"
  ((SECONDS - t0 <= 2))
  start_berthd --cni-conf-dir "$DD/net.d"
  wait_for test -S "$CRI_SOCK"
  run -0 cri_py "$pod" "$ctr" <<'PY'
import os, sys
sys.path.insert(0, os.environ["CRI_PY"])
import grpc
from cri import api_pb2 as pb, api_pb2_grpc as rpc
pod, ctr = sys.argv[1], sys.argv[2]
rt = rpc.RuntimeServiceStub(grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"]))
st = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod)).status
assert st.state == pb.SANDBOX_READY, st
cs = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=ctr)).status
assert cs.state == pb.CONTAINER_RUNNING, cs
r = rt.ExecSync(pb.ExecSyncRequest(container_id=ctr, cmd=["hostname"], timeout=5))
assert r.stdout == b"survivor\n", r
rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
assert not rt.ListContainers(pb.ListContainersRequest()).containers
PY
}

@test "cri: the pod log format is read back by berth logs (k8s-file)" {
  run -0 e run --rm --log-driver k8s-file --log-opt path="$DD/k8s.log" busybox sh -c 'echo one; printf two; echo three >&2'
  grep -q ' stdout F one$' "$DD/k8s.log"
  grep -q ' stdout P two$' "$DD/k8s.log"
  grep -q ' stderr F three$' "$DD/k8s.log"
  run -0 e run -d --log-driver k8s-file busybox sh -c 'echo hello-k8s-file; sleep 100'
  id=$output
  wait_for sh -c "'$BERTH' --root '$DD/root' --state '$DD/run' logs $id | grep -q hello-k8s-file"
  run -0 e inspect -f '{{.HostConfig.LogConfig.Type}} {{.LogPath}}' "$id"
  [[ "$output" == "k8s-file /"*"/ctr.log" ]]
  e rm -f "$id" >/dev/null
  run -125 e run --rm --log-driver k8s-file --log-opt path=relative.log busybox true
  [[ "$output" == *"absolute file path"* ]]
  # A fifo (or any other non-file) there: refused at create, not a shim stuck in its open.
  mkfifo "$DD/log.fifo"
  local before
  before=$(e ps -aq | wc -l)
  run -125 timeout 10 "$BERTH" --root "$DD/root" --state "$DD/run" run -d --log-driver k8s-file --log-opt path="$DD/log.fifo" busybox true
  [ "$output" = "berth: --log-opt path \`$DD/log.fifo\`: not a regular file" ]
  run e create --log-driver k8s-file --log-opt path=/dev/null busybox true
  [ "$status" -ne 0 ]
  [[ "$output" == *"not a regular file"* ]]
  [ "$(e ps -aq | wc -l)" = "$before" ]
  ! pgrep -f "berth-shim $DD/run" || false
  rm "$DD/log.fifo"
}
