"""bench/cri_client.py: pod start/stop and ExecSync timed over one gRPC connection per runtime,
as the kubelet holds one (no client process per call: what crictl's numbers carry on top).

    /usr/bin/python3 bench/cri_client.py STUBS RUNS IMAGE WORK SIDE=SOCKET[,CGROUP_PARENT] ...

STUBS: a directory with cri/api_pb2*.py (protoc + grpc_python_plugin over src/cri/api.proto).
Per run, the sides take turns (the order alternates): RunPodSandbox, CreateContainer
(`sleep 3600`), StartContainer, then ContainerStatus until Running; after 0.2 s,
StopPodSandbox + RemovePodSandbox. Then RUNS*3 ExecSync `true` in one running container per
side. Prints one JSON object: {SIDE: {"runp": [µs…], "create": […], "start": […], "pod": […],
"stop": […], "exec": […]}}; a side that fails gets "error" and takes no further part."""

import json
import os
import sys
import time
import uuid

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402

from cri import api_pb2 as pb  # noqa: E402
from cri import api_pb2_grpc as rpc  # noqa: E402


def us(t0):
    return int((time.perf_counter() - t0) * 1e6)


def main():
    runs, image, work = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sides = {}
    for arg in sys.argv[5:]:
        name, _, rest = arg.partition("=")
        sock, _, parent = rest.partition(",")
        ch = grpc.insecure_channel("unix://" + sock)
        grpc.channel_ready_future(ch).result(timeout=10)
        sides[name] = {"rt": rpc.RuntimeServiceStub(ch), "parent": parent}
    out = {name: {k: [] for k in ("runp", "create", "start", "pod", "stop", "exec")} for name in sides}

    def pod_config(name, tag):
        uid = str(uuid.uuid4())
        logs = os.path.join(work, "logs", name, tag + "-" + uid)
        os.makedirs(logs, exist_ok=True)
        linux = pb.LinuxPodSandboxConfig(cgroup_parent=sides[name]["parent"]) if sides[name]["parent"] else None
        return pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=tag, namespace="bench", uid=uid, attempt=0),
                                   log_directory=logs, linux=linux)

    def ctr_config():
        return pb.ContainerConfig(metadata=pb.ContainerMetadata(name="c"), image=pb.ImageSpec(image=image),
                                  command=["sleep", "3600"], log_path="c.log", linux=pb.LinuxContainerConfig())

    def pod_up(name, tag, times=None):
        rt = sides[name]["rt"]
        cfg = pod_config(name, tag)
        t0 = time.perf_counter()
        pod = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
        t1 = time.perf_counter()
        cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod, config=ctr_config(), sandbox_config=cfg)).container_id
        t2 = time.perf_counter()
        rt.StartContainer(pb.StartContainerRequest(container_id=cid))
        t3 = time.perf_counter()
        st = rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status.state
        if st != pb.CONTAINER_RUNNING:
            raise RuntimeError("container %s is not running after StartContainer (state %d)" % (cid, st))
        if times is not None:
            times["runp"].append(int((t1 - t0) * 1e6))
            times["create"].append(int((t2 - t1) * 1e6))
            times["start"].append(int((t3 - t2) * 1e6))
            times["pod"].append(int((t3 - t0) * 1e6))
        return pod, cid

    def pod_down(name, pod, times=None):
        rt = sides[name]["rt"]
        t0 = time.perf_counter()
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod))
        rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod))
        if times is not None:
            times["stop"].append(us(t0))

    def fail(name, what, e):
        detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
        out[name]["error"] = "%s: %s" % (what, detail)

    names = list(sides)
    for name in names:  # warm-up, not timed
        try:
            for i in range(2):
                pod, _ = pod_up(name, "gwarm-%d" % i)
                pod_down(name, pod)
        except Exception as e:  # noqa: BLE001
            fail(name, "warm-up", e)
    for i in range(runs):
        for name in (names if i % 2 == 0 else names[::-1]):
            if "error" in out[name]:
                continue
            try:
                pod, _ = pod_up(name, "g%d" % i, out[name])
                time.sleep(0.2)
                pod_down(name, pod, out[name])
                time.sleep(0.2)
            except Exception as e:  # noqa: BLE001
                fail(name, "pod run %d" % i, e)
    for name in names:
        if "error" in out[name]:
            continue
        rt = sides[name]["rt"]
        try:
            pod, cid = pod_up(name, "gexec")
            for i in range(3 + runs * 3):
                t0 = time.perf_counter()
                r = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=["true"], timeout=10))
                if r.exit_code != 0:
                    raise RuntimeError("ExecSync true: exit code %d" % r.exit_code)
                if i >= 3:
                    out[name]["exec"].append(us(t0))
            pod_down(name, pod)
        except Exception as e:  # noqa: BLE001
            fail(name, "ExecSync", e)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
