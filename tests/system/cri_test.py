"""berthd's CRI (runtime.v1) through a gRPC client of its own: python3-grpcio with stubs that
cri.bats generates from src/cri/api.proto (protoc + grpc_python_plugin) into $CRI_PY.

Environment (set by cri.bats): CRI_SOCK, CRI_PY, CRI_LOGS (a log directory for pods),
CRI_SUBNET_PREFIX ("10.231.7." — the test CNI network), BERTH_CLI (berth with the store's flags and
--namespace k8s.io), DD (the test's directory)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.environ["CRI_PY"])

import grpc  # noqa: E402
import pytest  # noqa: E402

from cri import api_pb2 as pb  # noqa: E402
from cri import api_pb2_grpc as rpc  # noqa: E402

IMAGE = "docker.io/library/busybox:latest"


@pytest.fixture(scope="module")
def channel():
    ch = grpc.insecure_channel("unix://" + os.environ["CRI_SOCK"])
    grpc.channel_ready_future(ch).result(timeout=10)
    yield ch
    ch.close()


@pytest.fixture(scope="module")
def rt(channel):
    return rpc.RuntimeServiceStub(channel)


@pytest.fixture(scope="module")
def im(channel):
    return rpc.ImageServiceStub(channel)


def pod_config(name, **kw):
    uid = str(uuid.uuid4())
    logs = os.path.join(os.environ["CRI_LOGS"], name + "_" + uid)
    os.makedirs(logs, exist_ok=True)
    fields = dict(
        metadata=pb.PodSandboxMetadata(name=name, namespace="default", uid=uid, attempt=0),
        hostname=name,
        log_directory=logs,
        labels={"app": name, "berth-test": "cri"},
        annotations={"note": "a pod of cri_test.py"},
        linux=pb.LinuxPodSandboxConfig(cgroup_parent="/berth-cri-test/pod" + uid.replace("-", "")),
    )
    fields.update(kw)
    return pb.PodSandboxConfig(**fields)


def run_pod(rt, name, **kw):
    cfg = pod_config(name, **kw)
    pid = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg)).pod_sandbox_id
    return pid, cfg


def container(rt, pod_id, pod_cfg, name, args, **kw):
    fields = dict(
        metadata=pb.ContainerMetadata(name=name, attempt=0),
        image=pb.ImageSpec(image=IMAGE),
        command=["/bin/sh", "-c"],
        args=[args],
        log_path=name + "/0.log",
        labels={"ctr": name},
        annotations={"ctr-note": name + "!"},
    )
    fields.update(kw)
    cfg = pb.ContainerConfig(**fields)
    cid = rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=cfg, sandbox_config=pod_cfg)).container_id
    return cid


def exec_sync(rt, cid, cmd, timeout=10):
    r = rt.ExecSync(pb.ExecSyncRequest(container_id=cid, cmd=cmd, timeout=timeout))
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def wait_until(f, secs=10):
    end = time.time() + secs
    while True:
        v = f()
        if v or time.time() > end:
            return v
        time.sleep(0.05)


def status(rt, cid):
    return rt.ContainerStatus(pb.ContainerStatusRequest(container_id=cid)).status


def cleanup(rt, pod_id):
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))


def code_of(call):
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value.code(), e.value.details()


def test_version_and_status(rt):
    v = rt.Version(pb.VersionRequest())
    assert v.runtime_name == "berth" and v.runtime_api_version == "v1"
    conds = {c.type: c.status for c in rt.Status(pb.StatusRequest()).status.conditions}
    assert conds == {"RuntimeReady": True, "NetworkReady": True}


def test_images(im):
    imgs = im.ListImages(pb.ListImagesRequest()).images
    mine = [i for i in imgs if IMAGE in i.repo_tags]
    assert len(mine) == 1 and mine[0].id.startswith("sha256:") and mine[0].size > 0
    by_tag = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="busybox"))).image
    by_id = im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image=mine[0].id))).image
    assert by_tag.id == by_id.id == mine[0].id
    # A missing image: an empty status, not an error; removing it: fine.
    assert not im.ImageStatus(pb.ImageStatusRequest(image=pb.ImageSpec(image="nothing-here:1"))).HasField("image")
    im.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image="nothing-here:1")))
    fs = im.ImageFsInfo(pb.ImageFsInfoRequest()).image_filesystems
    assert fs and fs[0].used_bytes.value > 0


def test_pod_shares_network_ipc_uts_and_logs(rt):
    port = free_port()
    pod_id, cfg = run_pod(
        rt, "web", hostname="web-host",
        dns_config=pb.DNSConfig(servers=["10.231.7.53"], searches=["svc.test"], options=["ndots:5"]),
        port_mappings=[pb.PortMapping(protocol=pb.TCP, container_port=8080, host_port=port, host_ip="127.0.0.1")],
    )
    try:
        st = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status
        assert st.state == pb.SANDBOX_READY
        assert st.network.ip.startswith(os.environ["CRI_SUBNET_PREFIX"])
        assert st.labels["app"] == "web" and st.annotations["note"] == "a pod of cri_test.py"
        mkdir = "mkdir -p /www && echo pod-page > /www/index.html && "
        a = container(rt, pod_id, cfg, "server", mkdir + "echo to-stdout; echo to-stderr >&2; echo shared > /dev/shm/x; exec httpd -f -p 8080 -h /www")
        b = container(rt, pod_id, cfg, "client", "exec sleep 1000")
        for c in (a, b):
            assert status(rt, c).state == pb.CONTAINER_CREATED
            rt.StartContainer(pb.StartContainerRequest(container_id=c))
            assert status(rt, c).state == pb.CONTAINER_RUNNING
            # The log file is there once StartContainer returns (the kubelet and critest open
            # it at once), even for a container that has written nothing.
            assert os.path.exists(status(rt, c).log_path)
        # Localhost is the pod's: b reaches a's server on 127.0.0.1; IPC (/dev/shm) and the
        # hostname are the pod's too; resolv.conf is the pod's DNS config.
        assert wait_until(lambda: exec_sync(rt, b, ["wget", "-qO-", "http://127.0.0.1:8080/"])[1] == "pod-page\n")
        assert exec_sync(rt, b, ["cat", "/dev/shm/x"])[1] == "shared\n"
        assert exec_sync(rt, b, ["hostname"])[1] == "web-host\n"
        # The PID namespace is the pod's (the CRI's default, POD): b sees a's server, and the
        # pod's init (berth's pause) is PID 1.
        assert exec_sync(rt, b, ["sh", "-c", "ps -o args | grep -cx 'httpd -f -p 8080 -h /www'"])[1] == "1\n"
        assert "berth-shim\0--pause\0" in exec_sync(rt, b, ["cat", "/proc/1/cmdline"])[1]
        # ... and nothing of the host is reached through it (its root, its open files).
        for probe in (["ls", "/proc/1/root/"], ["cat", "/proc/1/root/etc/hostname"], ["readlink", "/proc/1/fd/0"]):
            rc, out, _ = exec_sync(rt, b, probe)
            assert rc != 0 and out == "", (probe, out)
        assert exec_sync(rt, b, ["ls", "/proc/1/fd"])[1].split() in ([], ["0", "1", "2"])
        assert exec_sync(rt, b, ["sh", "-c", "grep -E '^(Uid|CapEff)' /proc/1/status"])[1].split() == [
            "Uid:", "65534", "65534", "65534", "65534", "CapEff:", "0000000000000000"]
        resolv = exec_sync(rt, b, ["cat", "/etc/resolv.conf"])[1]
        assert "nameserver 10.231.7.53" in resolv and "search svc.test" in resolv and "options ndots:5" in resolv
        # Its own IP is the pod's.
        assert st.network.ip in exec_sync(rt, b, ["ip", "-4", "addr", "show", "eth0"])[1]
        # The hostPort answers on the host's 127.0.0.1.
        assert urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5).read() == b"pod-page\n"
        # ExecSync: exit codes and both streams.
        assert exec_sync(rt, b, ["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
        # The log, in the kubelet's format, at log_directory/log_path.
        log = os.path.join(cfg.log_directory, "server/0.log")
        assert wait_until(lambda: os.path.exists(log) and "to-stderr" in open(log).read())
        lines = open(log).read().splitlines()
        assert any(l.endswith(" stdout F to-stdout") for l in lines), lines
        assert any(l.endswith(" stderr F to-stderr") for l in lines), lines
        s = status(rt, a)
        assert s.log_path == log and s.labels["ctr"] == "server" and s.annotations["ctr-note"] == "server!"
        # Lists and filters.
        ids = {c.id for c in rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id))).containers}
        assert ids == {a, b}
        sel = rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id, label_selector={"ctr": "client"}))).containers
        assert [c.id for c in sel] == [b]
        pods = rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={"app": "web"}))).items
        assert [p.id for p in pods] == [pod_id]
        stats = rt.ContainerStats(pb.ContainerStatsRequest(container_id=b)).stats
        assert stats.memory.working_set_bytes.value > 0 and stats.attributes.id == b
        # Stop one container: exited with its code and reason.
        rt.StopContainer(pb.StopContainerRequest(container_id=b, timeout=0))
        s = status(rt, b)
        assert s.state == pb.CONTAINER_EXITED and s.exit_code in (137, 143) and s.reason == "Error"
    finally:
        cleanup(rt, pod_id)
    # Nothing is left: the pod, its containers, its namespace files and its port.
    assert not rt.ListPodSandbox(pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(id=pod_id))).items
    assert not rt.ListContainers(pb.ListContainersRequest(filter=pb.ContainerFilter(pod_sandbox_id=pod_id))).containers
    mounts = open("/proc/self/mountinfo").read()
    assert pod_id not in mounts
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=2)


def test_stop_releases_the_network_and_keeps_the_record(rt):
    pod_id, cfg = run_pod(rt, "stopper")
    ip = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status.network.ip
    c = container(rt, pod_id, cfg, "sleeper", "exec sleep 1000")
    rt.StartContainer(pb.StartContainerRequest(container_id=c))
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    st = rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status
    assert st.state == pb.SANDBOX_NOTREADY and st.network.ip == ""
    assert status(rt, c).state == pb.CONTAINER_EXITED
    assert pod_id not in open("/proc/self/mountinfo").read()
    # host-local gave the address back.
    ipam = os.path.join(os.environ["DD"], "ipam", "berth-cri-test", ip)
    assert not os.path.exists(ipam)
    # Stop again: fine. A container for a stopped pod: refused, nothing made.
    rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
    code, _ = code_of(lambda: container(rt, pod_id, cfg, "late", "true"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))
    rt.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id))  # again: fine
    code, _ = code_of(lambda: status(rt, c))
    assert code == grpc.StatusCode.NOT_FOUND


def test_pod_stats(rt):
    pod_id, cfg = run_pod(rt, "stats")
    try:
        # CPU, 16 MiB of the pod's shared memory, and packets to the bridge.
        a = container(rt, pod_id, cfg, "busy", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; exec sleep 1000")
        b = container(rt, pod_id, cfg, "mem", "head -c 16777216 /dev/zero > /dev/shm/blob && ping -c 3 -i 0.2 %s1; exec sleep 1000"
                      % os.environ["CRI_SUBNET_PREFIX"])
        for c in (a, b):
            rt.StartContainer(pb.StartContainerRequest(container_id=c))

        def settled():
            st = rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id)).stats
            lx = st.linux
            # (The interface's own packets — IPv6 router solicitations, MLD — may pass the
            # bytes of the pings before the blob is written: its memory is waited for too.)
            return st if (lx.process.process_count.value == 3 and lx.network.default_interface.tx_bytes.value > 3 * 84
                          and lx.memory.working_set_bytes.value >= 16 << 20) else None
        st = wait_until(settled, 15)
        assert st, rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id))
        assert st.attributes.id == pod_id and st.attributes.metadata.name == "stats" and st.attributes.labels["app"] == "stats"
        lx = st.linux
        # Two sleeps and the pod's pause (it shares one PID namespace, the CRI's default).
        assert lx.process.process_count.value == 3
        assert {c.attributes.id for c in lx.containers} == {a, b}
        # The pod's numbers are its containers' summed.
        assert lx.cpu.usage_core_nano_seconds.value == sum(c.cpu.usage_core_nano_seconds.value for c in lx.containers) > 0
        assert lx.memory.working_set_bytes.value == sum(c.memory.working_set_bytes.value for c in lx.containers)
        assert lx.memory.working_set_bytes.value >= 16 << 20
        assert lx.cpu.timestamp > 0 and lx.memory.timestamp > 0 and lx.network.timestamp > 0
        # Its own network namespace: eth0 (the CNI's) and no lo; the pings went out and came back.
        net = lx.network
        assert net.default_interface.name == "eth0" and [i.name for i in net.interfaces] == ["eth0"]
        assert net.default_interface.rx_bytes.value > 3 * 84 and net.default_interface.rx_errors.value == 0
        # The list: the ready pods, by id prefix and labels.
        ids = lambda f: [x.attributes.id for x in rt.ListPodSandboxStats(pb.ListPodSandboxStatsRequest(filter=f)).stats]
        assert ids(pb.PodSandboxStatsFilter(id=pod_id[:12])) == [pod_id]
        assert ids(pb.PodSandboxStatsFilter(label_selector={"app": "stats"})) == [pod_id]
        assert ids(pb.PodSandboxStatsFilter(id=pod_id, label_selector={"app": "other"})) == []
        assert pod_id in ids(pb.PodSandboxStatsFilter())
        # Stopped: out of the list; its own stats have no network and nothing running.
        rt.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=pod_id))
        assert pod_id not in ids(pb.PodSandboxStatsFilter())
        lx = rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id)).stats.linux
        assert not lx.HasField("network") and lx.process.process_count.value == 0 and len(lx.containers) == 2
    finally:
        cleanup(rt, pod_id)
    code, _ = code_of(lambda: rt.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id)))
    assert code == grpc.StatusCode.NOT_FOUND


def test_container_events(rt):
    import threading
    got, lock = [], threading.Lock()
    stream = rt.GetContainerEvents(pb.GetEventsRequest())

    def follow():
        try:
            for ev in stream:
                with lock:
                    got.append(ev)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.CANCELLED
    t = threading.Thread(target=follow)
    t.start()
    pod_id, cfg = run_pod(rt, "events")
    try:
        def events_of(cid):
            with lock:
                return [e for e in got if e.container_id == cid]
        # The stream follows from when the call is served: wait until it sees a create.
        for i in range(20):
            probe = container(rt, pod_id, cfg, "probe%d" % i, "true")
            if wait_until(lambda: events_of(probe), 1):
                break
        assert events_of(probe), "the event stream saw no container made"
        c = container(rt, pod_id, cfg, "worker", "sleep 0.3; exit 4")
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        assert wait_until(lambda: status(rt, c).state == pb.CONTAINER_EXITED)
        rt.RemoveContainer(pb.RemoveContainerRequest(container_id=c))
        evs = wait_until(lambda: len(events_of(c)) == 4 and events_of(c), 10)
        assert evs, events_of(c)
        assert [e.container_event_type for e in evs] == [
            pb.CONTAINER_CREATED_EVENT, pb.CONTAINER_STARTED_EVENT, pb.CONTAINER_STOPPED_EVENT, pb.CONTAINER_DELETED_EVENT]
        assert all(e.pod_sandbox_status.id == pod_id and e.pod_sandbox_status.state == pb.SANDBOX_READY for e in evs)
        assert all(e.created_at > 0 for e in evs) and sorted(e.created_at for e in evs) == [e.created_at for e in evs]
        # Each with the statuses of the pod's containers as they were then.
        mine = lambda e: [s for s in e.containers_statuses if s.id == c]
        assert mine(evs[0])[0].state == pb.CONTAINER_CREATED
        assert mine(evs[2])[0].state == pb.CONTAINER_EXITED and mine(evs[2])[0].exit_code == 4
        assert mine(evs[3]) == [] and [s.id for s in evs[3].containers_statuses] == [probe]
        # A container of the namespace made by the CLI, not the CRI: no event.
        cli = os.environ["BERTH_CLI"].split()
        plain = subprocess.run(cli + ["run", "-d", "--network", "none", IMAGE, "true"], check=True,
                               capture_output=True, text=True).stdout.strip()
        subprocess.run(cli + ["rm", "-f", plain], check=True, capture_output=True)
        c2 = container(rt, pod_id, cfg, "after", "true")  # an event after the CLI's
        assert wait_until(lambda: events_of(c2))
        assert not events_of(plain) and all(e.pod_sandbox_status.id == pod_id for e in got)
    finally:
        stream.cancel()
        t.join(10)
        cleanup(rt, pod_id)
    assert not t.is_alive()
    # berthd serves on after the cancel.
    assert rt.Version(pb.VersionRequest()).runtime_name == "berth"


def test_exec_sync_timeout_kills_the_process(rt):
    pod_id, cfg = run_pod(rt, "timeouts")
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000")
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        t0 = time.time()
        code, _ = code_of(lambda: rt.ExecSync(pb.ExecSyncRequest(container_id=c, cmd=["sleep", "30"], timeout=1)))
        assert time.time() - t0 < 5
        assert code != grpc.StatusCode.OK
        # The process is gone: only the container's sleep is left.
        assert wait_until(lambda: exec_sync(rt, c, ["sh", "-c", "ps -o args | grep -cx 'sleep 30'"])[1] == "0\n")
        code, _ = code_of(lambda: exec_sync(rt, c, ["/no/such/command"]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        cleanup(rt, pod_id)


def cgroup_value(rt, cid, v1_file, v2_file):
    """A cgroup knob as the container sees it (v1 hierarchies or the unified tree)."""
    return exec_sync(rt, cid, ["sh", "-c", "cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s" % (v1_file, v2_file)])[1].strip()


def test_resources_applied_updated_and_reported(rt):
    pod_id, cfg = run_pod(rt, "resources")
    try:
        res = pb.LinuxContainerResources(cpu_period=50000, cpu_quota=25000, cpu_shares=512,
                                         memory_limit_in_bytes=64 << 20, cpuset_cpus="0", cpuset_mems="0")
        c = container(rt, pod_id, cfg, "limited", "exec sleep 1000", linux=pb.LinuxContainerConfig(resources=res))
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        quota = lambda: cgroup_value(rt, c, "cpu/cpu.cfs_quota_us", "cpu.max").split()[0]
        period = lambda: cgroup_value(rt, c, "cpu/cpu.cfs_period_us", "cpu.max").split()[-1]
        assert (quota(), period()) == ("25000", "50000")
        assert cgroup_value(rt, c, "memory/memory.limit_in_bytes", "memory.max") == str(64 << 20)
        assert cgroup_value(rt, c, "cpuset/cpuset.mems", "cpuset.mems") == "0"
        assert cgroup_value(rt, c, "cpuset/cpuset.cpus", "cpuset.cpus") == "0"
        r = status(rt, c).resources.linux
        assert (r.cpu_period, r.cpu_quota, r.cpu_shares, r.memory_limit_in_bytes, r.cpuset_cpus, r.cpuset_mems) == (
            50000, 25000, 512, 64 << 20, "0", "0")
        # The kubelet's resize: a new quota (and memory) on the running container.
        rt.UpdateContainerResources(pb.UpdateContainerResourcesRequest(container_id=c, linux=pb.LinuxContainerResources(
            cpu_period=100000, cpu_quota=20000, memory_limit_in_bytes=96 << 20)))
        assert (quota(), period()) == ("20000", "100000")
        assert cgroup_value(rt, c, "memory/memory.limit_in_bytes", "memory.max") == str(96 << 20)
        r = status(rt, c).resources.linux
        assert (r.cpu_period, r.cpu_quota, r.memory_limit_in_bytes) == (100000, 20000, 96 << 20)
    finally:
        cleanup(rt, pod_id)


HANDLERS = ["runc"] + (["gvisor"] if os.environ.get("CRI_GVISOR") else [])


@pytest.mark.parametrize("handler", HANDLERS)
def test_runtime_handler(rt, handler):
    """A pod of handler "runc" (a runtime of the engine's) or "gvisor" (runsc, from daemon.json's
    runtimes): its containers run through it, in the pod's network namespace and with its /dev/shm,
    exec and stop work; the status names the handler. Under gVisor each container is a sandbox of
    its own: its kernel is gVisor's."""
    # The kubelet's default: a PID namespace per container (gVisor cannot share one).
    own_pid = pb.NamespaceOption(pid=pb.CONTAINER)
    cfg = pod_config("handler-" + handler)
    cfg.linux.security_context.namespace_options.CopyFrom(own_pid)
    pod_id = rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg, runtime_handler=handler)).pod_sandbox_id
    try:
        assert rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id)).status.runtime_handler == handler
        linux = pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(namespace_options=own_pid))
        a = container(rt, pod_id, cfg, "one", "echo shared > /dev/shm/y; exec sleep 1000", linux=linux)
        b = container(rt, pod_id, cfg, "two", "exec sleep 1000", linux=linux)
        for c in (a, b):
            rt.StartContainer(pb.StartContainerRequest(container_id=c))
            assert status(rt, c).state == pb.CONTAINER_RUNNING
            # The log file is there once StartContainer returns (the kubelet and critest open
            # it at once), even for a container that has written nothing.
            assert os.path.exists(status(rt, c).log_path)
        cli = os.environ["BERTH_CLI"].split()
        binary = {"runc": "/runc", "gvisor": "/runsc"}[handler]
        for c in (a, b):
            shown = subprocess.run(cli + ["inspect", "-f", "{{.HostConfig.Runtime}}", c], check=True,
                                   capture_output=True, text=True).stdout.strip()
            assert shown == handler
            orders = json.load(open(os.path.join(os.environ["DD"], "run", "k8s.io", "containers", c, "shim.json")))
            assert orders["runtime"].endswith(binary)
        assert wait_until(lambda: exec_sync(rt, b, ["cat", "/dev/shm/y"])[1] == "shared\n")
        assert "inet " + os.environ["CRI_SUBNET_PREFIX"] in exec_sync(rt, b, ["ip", "-o", "-4", "addr", "show", "eth0"])[1]
        kernel = exec_sync(rt, b, ["dmesg"])[1]
        assert ("gVisor" in kernel) == (handler == "gvisor"), kernel[:200]
        rc, out, _ = exec_sync(rt, a, ["sh", "-c", "echo from-exec; exit 6"])
        assert (rc, out) == (6, "from-exec\n")
        if handler == "gvisor":
            # A kernel of its own cannot share a PID namespace (the pod's or the node's): refused.
            sc = pb.LinuxContainerSecurityContext(namespace_options=pb.NamespaceOption(pid=pb.NODE))
            code, detail = code_of(lambda: container(rt, pod_id, cfg, "hostpid", "true",
                                                     linux=pb.LinuxContainerConfig(security_context=sc)))
            assert code == grpc.StatusCode.INVALID_ARGUMENT and "kernel of its own" in detail, detail
        rt.StopContainer(pb.StopContainerRequest(container_id=a, timeout=5))
        assert status(rt, a).state == pb.CONTAINER_EXITED
    finally:
        cleanup(rt, pod_id)


def test_bad_requests_leave_nothing(rt):
    before = len(rt.ListContainers(pb.ListContainersRequest()).containers)
    pods_before = len(rt.ListPodSandbox(pb.ListPodSandboxRequest()).items)
    code, _ = code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=pb.PodSandboxConfig())))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = code_of(lambda: rt.PodSandboxStatus(pb.PodSandboxStatusRequest(pod_sandbox_id="0123456789ab")))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: rt.ContainerStatus(pb.ContainerStatusRequest(container_id="0123456789ab")))
    assert code == grpc.StatusCode.NOT_FOUND
    cfg = pod_config("nopod")
    code, _ = code_of(lambda: container(rt, "0123456789ab", cfg, "orphan", "true"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg, runtime_handler="no-such-handler")))
    assert code == grpc.StatusCode.NOT_FOUND
    pod_id, cfg = run_pod(rt, "bad")
    try:
        # The same pod metadata again: reserved.
        code, _ = code_of(lambda: rt.RunPodSandbox(pb.RunPodSandboxRequest(config=cfg)))
        assert code == grpc.StatusCode.ALREADY_EXISTS
        # Absurd resources, a missing image, no name, a relative mount: refused, nothing made.
        res = pb.LinuxContainerResources(cpu_shares=1, memory_limit_in_bytes=1)
        code, detail = code_of(lambda: container(rt, pod_id, cfg, "tiny", "true", linux=pb.LinuxContainerConfig(resources=res)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, detail
        code, _ = code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name="x"), image=pb.ImageSpec(image="no-such-image:1")))))
        assert code == grpc.StatusCode.NOT_FOUND
        code, _ = code_of(lambda: rt.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=pb.ContainerConfig(
            image=pb.ImageSpec(image=IMAGE)))))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = code_of(lambda: container(rt, pod_id, cfg, "relmount", "true", mounts=[pb.Mount(host_path="/tmp", container_path="rel")]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = code_of(lambda: container(rt, pod_id, cfg, "logescape", "true", log_path="../../escape.log"))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        # A name taken in the pod.
        container(rt, pod_id, cfg, "twice", "true")
        code, _ = code_of(lambda: container(rt, pod_id, cfg, "twice", "true"))
        assert code in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION)
        assert len(rt.ListContainers(pb.ListContainersRequest()).containers) == before + 1
    finally:
        cleanup(rt, pod_id)
    assert len(rt.ListContainers(pb.ListContainersRequest()).containers) == before
    assert len(rt.ListPodSandbox(pb.ListPodSandboxRequest()).items) == pods_before


def test_pid_namespace_per_container(rt):
    own = pb.LinuxSandboxSecurityContext(namespace_options=pb.NamespaceOption(pid=pb.CONTAINER))
    pod_id, cfg = run_pod(rt, "pids", linux=pb.LinuxPodSandboxConfig(security_context=own))
    try:
        sc = pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
            namespace_options=pb.NamespaceOption(pid=pb.CONTAINER)))
        a = container(rt, pod_id, cfg, "a", "exec sleep 1001", linux=sc)
        b = container(rt, pod_id, cfg, "b", "exec sleep 1002", linux=sc)
        for c in (a, b):
            rt.StartContainer(pb.StartContainerRequest(container_id=c))
        assert exec_sync(rt, b, ["cat", "/proc/1/cmdline"])[1] == "sleep\x001002\x00"
        assert exec_sync(rt, b, ["sh", "-c", "ps -o args | grep -cx 'sleep 1001'"])[1] == "0\n"
    finally:
        cleanup(rt, pod_id)


def test_default_network_sysctls(rt):
    # containerd 2's defaults on a pod's own network: a non-root process binds port 80 and opens
    # an ICMP echo socket; the pod's sysctls win over them.
    pod_id, cfg = run_pod(rt, "sysctls", linux=pb.LinuxPodSandboxConfig(sysctls={"net.ipv4.ping_group_range": "1 0"}))
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000",
                      linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                          run_as_user=pb.Int64Value(value=1000))))
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        code, out, _ = exec_sync(rt, c, ["sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range; "
                                         "nc -l -p 80 & for i in $(seq 20); do grep -qE ':0050 [0-9A-F]+:0000 0A' /proc/net/tcp /proc/net/tcp6 && echo bound-80 && break; "
                                         "sleep 0.1; done; kill $! 2>/dev/null"])
        assert code == 0
        assert out.split("\n")[:3] == ["0", "1\t0", "bound-80"]
    finally:
        cleanup(rt, pod_id)


def test_host_network_pod(rt):
    pod_id, cfg = run_pod(
        rt, "hostnet",
        linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
            namespace_options=pb.NamespaceOption(network=pb.NODE))),
    )
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000",
                      linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                          namespace_options=pb.NamespaceOption(network=pb.NODE))))
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        assert exec_sync(rt, c, ["hostname"])[1] == socket.gethostname() + "\n"
        links = exec_sync(rt, c, ["ls", "/sys/class/net"])[1].split()
        assert set(os.listdir("/sys/class/net")) == set(links)
    finally:
        cleanup(rt, pod_id)


def test_security_context(rt):
    pod_id, cfg = run_pod(rt, "secure")
    try:
        sc = pb.LinuxContainerSecurityContext(
            run_as_user=pb.Int64Value(value=1234), run_as_group=pb.Int64Value(value=5678), supplemental_groups=[42],
            readonly_rootfs=True, no_new_privs=True, masked_paths=["/etc/passwd"], readonly_paths=["/dev/shm"],
            capabilities=pb.Capability(drop_capabilities=["ALL"], add_capabilities=["NET_BIND_SERVICE"]))
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000", linux=pb.LinuxContainerConfig(security_context=sc))
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        assert exec_sync(rt, c, ["id"])[1].startswith("uid=1234 gid=5678")
        assert "42" in exec_sync(rt, c, ["id", "-G"])[1].split()
        rc, _, err = exec_sync(rt, c, ["touch", "/x"])
        assert rc != 0 and "Read-only" in err
        status_lines = exec_sync(rt, c, ["sh", "-c", "cat /proc/$(pidof sleep)/status"])[1]
        caps = {l.split(":")[0]: l.split(":")[1].strip() for l in status_lines.splitlines() if l.startswith("Cap")}
        assert caps["CapBnd"] == "0000000000000400"  # NET_BIND_SERVICE only
        assert "NoNewPrivs:\t1" in status_lines
        # The masked path reads empty; the read-only one is read-only; Docker's default masks
        # were replaced by the lists given (/proc/kcore is not masked any more).
        assert exec_sync(rt, c, ["cat", "/etc/passwd"])[1] == ""
        rc, _, err = exec_sync(rt, c, ["sh", "-c", "echo x > /dev/shm/x"])
        assert rc != 0 and "Read-only" in err
        assert "/proc/kcore" not in exec_sync(rt, c, ["cat", "/proc/self/mountinfo"])[1]
    finally:
        cleanup(rt, pod_id)


def test_readonly_mount_is_read_only_on_its_top_only(rt, tmp_path):
    # The kubelet's read-only (before CRI's recursive_read_only): the mount itself, not the
    # mounts below its source — as containerd does, whatever the engine's default for -v :ro.
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(src / "sub")], check=True)
    pod_id, cfg = run_pod(rt, "romount")
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000",
                      mounts=[pb.Mount(host_path=str(src), container_path="/m", readonly=True)])
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        rc, _, err = exec_sync(rt, c, ["sh", "-c", "echo x > /m/top"])
        assert rc != 0 and "Read-only" in err
        assert exec_sync(rt, c, ["sh", "-c", "echo x > /m/sub/f"])[0] == 0
        assert (src / "sub" / "f").exists()
    finally:
        cleanup(rt, pod_id)
        subprocess.run(["umount", str(src / "sub")], check=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --- streaming: Exec, Attach, PortForward URLs and SPDY sessions on them (spdy_client.py) ----

from spdy_client import UpgradeRefused, command, exit_code, http_upgrade, Session  # noqa: E402

ALL_VERSIONS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")


def exec_url(rt, cid, cmd, **kw):
    return rt.Exec(pb.ExecRequest(container_id=cid, cmd=cmd, **kw)).url


def refused(url, protocols, upgrade="SPDY/3.1"):
    with pytest.raises(UpgradeRefused) as e:
        http_upgrade(url, protocols, upgrade)
    return e.value


def test_exec_streams(rt):
    pod_id, cfg = run_pod(rt, "streams")
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000")
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        # stdout and stderr apart, the exit code in the v4 status; the client's first choice wins.
        url = exec_url(rt, c, ["sh", "-c", "echo out; echo err >&2; exit 3"], stdout=True, stderr=True)
        assert url.startswith("http://127.0.0.1:") and "/exec/" in url
        proto, out, err, st = command(url, protocols=ALL_VERSIONS)
        assert (proto, out, err, exit_code(st)) == ("v4.channel.k8s.io", b"out\n", b"err\n", 3)
        # A URL is good once.
        assert refused(url, ["v4.channel.k8s.io"]).status == 404
        # stdin in, to its end (more than one frame's worth), exit 0.
        data = b"".join(b"line %d through spdy\n" % i for i in range(20000))
        url = exec_url(rt, c, ["cat"], stdin=True, stdout=True, stderr=True)
        _, out, err, st = command(url, stdin=data)
        assert out == data and err == b"" and exit_code(st) == 0
        # A terminal, sized by the resize stream before the command looks.
        url = exec_url(rt, c, ["sh", "-c", "sleep 1; stty size; tty"], tty=True, stdout=True)
        _, out, _, st = command(url, tty=True, resize=(100, 40))
        assert out.split(b"\r\n")[:2] == [b"40 100", b"/dev/pts/0"] and exit_code(st) == 0
        # v2: the error stream is plain text, empty for success.
        url = exec_url(rt, c, ["sh", "-c", "exit 2"], stdout=True)
        proto, _, _, st = command(url, want_stderr=False, protocols=("v2.channel.k8s.io",))
        assert proto == "v2.channel.k8s.io" and st.endswith("exit status 2")
        url = exec_url(rt, c, ["true"], stdout=True)
        assert command(url, want_stderr=False, protocols=("v3.channel.k8s.io",))[3] == ""
        # A command that cannot start: a Failure status that says why.
        url = exec_url(rt, c, ["/no/such/command"], stdout=True)
        st = json.loads(command(url, want_stderr=False)[3])
        assert st["status"] == "Failure" and st["reason"] != "NonZeroExitCode" and "/no/such/command" in st["message"]
        # Upgrades refused, each with its status: no common protocol (403, ours listed), no
        # upgrade or WebSocket (400), a token never issued (404).
        e = refused(exec_url(rt, c, ["true"], stdout=True), ["channel.k8s.io"])
        assert e.status == 403 and "v4.channel.k8s.io" in e.headers["x-accepted-stream-protocol-versions"]
        e = refused(exec_url(rt, c, ["true"], stdout=True), ["v4.channel.k8s.io"], upgrade="websocket")
        assert e.status == 400 and "SPDY" in e.body
        assert refused(url.rsplit("/", 1)[0] + "/" + "0" * 32, ["v4.channel.k8s.io"]).status == 404
        assert refused(url.replace("/exec/", "/portforward/"), ["portforward.k8s.io"]).status == 404
        # The kubelet's rules for a request.
        code, _ = code_of(lambda: exec_url(rt, c, ["true"]))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = code_of(lambda: exec_url(rt, c, ["true"], tty=True, stdout=True, stderr=True))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        code, _ = code_of(lambda: exec_url(rt, "nosuchcontainer", ["true"], stdout=True))
        assert code == grpc.StatusCode.NOT_FOUND
    finally:
        cleanup(rt, pod_id)


def test_exec_client_that_goes_away_and_a_hostile_peer(rt):
    pod_id, cfg = run_pod(rt, "streams-gone")
    try:
        c = container(rt, pod_id, cfg, "main", "exec sleep 1000")
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        # A client that never opens its streams, one that sends garbage after the upgrade, one
        # that drops the connection mid-command: the server copes and still serves the next.
        s, _, _ = http_upgrade(exec_url(rt, c, ["true"], stdout=True), ["v4.channel.k8s.io"])
        s.close()
        s, _, _ = http_upgrade(exec_url(rt, c, ["true"], stdout=True), ["v4.channel.k8s.io"])
        s.sendall(b"\x80\x03\x00\x01\x00\xff\xff\xff" + b"x" * 64)
        s.settimeout(5)
        got = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                got += d
        except ConnectionResetError:
            pass
        assert got == b"" or got[:4] == b"\x80\x03\x00\x07"  # dropped: at most a GOAWAY, then the end
        s.close()
        s, _, rest = http_upgrade(exec_url(rt, c, ["sh", "-c", "echo started; exec sleep 300"], stdout=True),
                                  ["v4.channel.k8s.io"])
        sess = Session(s, rest)
        sess.open_and_wait({"streamtype": "error"})
        out = sess.open_and_wait({"streamtype": "stdout"})
        sess.until(lambda: sess.data[out] == b"started\n")
        sess.close()
        url = exec_url(rt, c, ["echo", "still here"], stdout=True)
        assert command(url, want_stderr=False)[1] == b"still here\n"
    finally:
        cleanup(rt, pod_id)


def test_attach(rt):
    pod_id, cfg = run_pod(rt, "attach")
    try:
        c = container(rt, pod_id, cfg, "main", "read x; echo got $x; echo bye >&2", stdin=True, stdin_once=True)
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        url = rt.Attach(pb.AttachRequest(container_id=c, stdin=True, stdout=True, stderr=True)).url
        assert "/attach/" in url
        _, out, err, st = command(url, stdin=b"hello\n")
        assert (out, err, exit_code(st)) == (b"got hello\n", b"bye\n", 0)
        assert wait_until(lambda: status(rt, c).state == pb.CONTAINER_EXITED)
        code, _ = code_of(lambda: rt.Attach(pb.AttachRequest(container_id=c, stdout=True)))
        assert code == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        cleanup(rt, pod_id)


def forward(url, port, payload, rid=0, sess=None):
    """One forwarded connection as client-go's port-forward makes it: an error stream (closed by
    us at once) and a data stream; sends payload, ends it, reads the data stream and the error
    stream to their ends. Returns (data, error text)."""
    own = sess is None
    if own:
        s, headers, rest = http_upgrade(url, ["portforward.k8s.io"])
        assert headers["x-stream-protocol-version"] == ["portforward.k8s.io"]
        sess = Session(s, rest)
    h = {"streamtype": "error", "port": str(port), "requestid": str(rid)}
    err = sess.open_and_wait(h, fin=True)
    data = sess.open_and_wait(dict(h, streamtype="data"))
    sess.send(data, payload, fin=True)
    sess.until(lambda: data in sess.fin and err in sess.fin)
    if own:
        sess.close()
    return sess.data[data], sess.data[err].decode()


def test_port_forward(rt):
    pod_id, cfg = run_pod(rt, "forward")
    try:
        # A server inside the pod's network namespace: each connection gets its first line back
        # upper-cased, then the server closes it.
        c = container(rt, pod_id, cfg, "main",
                      "exec nc -ll -p 7070 -e sh -c 'read l; echo \"$l\" | tr a-z A-Z'")
        rt.StartContainer(pb.StartContainerRequest(container_id=c))
        url = rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=pod_id, port=[7070])).url
        assert "/portforward/" in url
        s, _, rest = http_upgrade(url, ["portforward.k8s.io"])
        sess = Session(s, rest)
        assert wait_until(lambda: forward(None, 7070, b"ping\n", 0, sess)[0] == b"PING\n")
        # Several connections over one session, each its own pair of streams.
        for i in range(1, 4):
            assert forward(None, 7070, b"hello %d\n" % i, i, sess) == (b"HELLO %d\n" % i, "")
        # A port nothing listens on: the error stream says so, the session goes on.
        data, err = forward(None, 7071, b"x", 10, sess)
        assert data == b"" and "7071" in err and "refused" in err
        assert forward(None, 7070, b"again\n", 11, sess)[0] == b"AGAIN\n"
        # A bad port header: refused on the error stream.
        data, err = forward(None, 0, b"x", 12, sess)
        assert "invalid port" in err
        sess.close()
        # Only portforward.k8s.io is spoken there.
        url = rt.PortForward(pb.PortForwardRequest(pod_sandbox_id=pod_id, port=[7070])).url
        assert refused(url, ["v4.channel.k8s.io"]).status == 403
        code, _ = code_of(lambda: rt.PortForward(pb.PortForwardRequest(pod_sandbox_id="nosuchpod")))
        assert code == grpc.StatusCode.NOT_FOUND
    finally:
        cleanup(rt, pod_id)
