"""berthd through the Docker SDK for Python (Debian's python3-docker, API 1.41).

Run by berthd.bats with DOCKER_HOST pointing at the test's berthd; the image "busybox" is
there. Every test cleans up what it made.
"""
import socket
import struct
import threading
import time
import uuid

import docker
import pytest


@pytest.fixture(scope="module")
def client():
    c = docker.from_env(version="1.41")
    yield c
    c.close()


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_and_ping(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.41"


def test_run_returns_output_and_raises_on_failure(client):
    out = client.containers.run("busybox", ["echo", "sdk"], remove=True)
    assert out == b"sdk\n"
    with pytest.raises(docker.errors.ContainerError) as e:
        client.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
    assert e.value.exit_status == 4
    # Not here, so the SDK pulls it; the registry cannot be reached (no network in the tests):
    # the pull's own error status (as dockerd's 500), not a 200 stream ending in an error line.
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.run("nothere:1", ["true"], remove=True)
    assert e.value.status_code >= 400 and "nothere" in str(e.value)


def test_containers_list_get_logs_exec_stop_remove(client):
    n = name("sdk")
    c = client.containers.run("busybox", ["sh", "-c", "echo started; sleep 100"], detach=True, name=n,
                              labels={"sdk": "yes"}, environment={"K": "v"})
    try:
        assert c.id in [x.id for x in client.containers.list(filters={"label": "sdk=yes"})]
        got = client.containers.get(n)
        assert got.status == "running"
        assert got.labels == {"sdk": "yes"}
        for _ in range(100):
            if b"started" in got.logs():
                break
            time.sleep(0.05)
        assert got.logs() == b"started\n"
        code, out = got.exec_run(["sh", "-c", "echo $K; exit 2"])
        assert (code, out) == (2, b"v\n")
        code, out = got.exec_run("nosuch")
        assert code in (126, 127)
        got.stop(timeout=1)
        got.reload()
        assert got.status == "exited"
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(n)


def test_images_list_tag_remove(client):
    img = client.images.get("busybox")
    tag = name("sdkimg")
    assert img.tag(tag, "t1")
    assert f"{tag}:t1" in client.images.get(f"{tag}:t1").tags
    assert any(f"{tag}:t1" in i.tags for i in client.images.list())
    client.images.remove(f"{tag}:t1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{tag}:t1")


def test_networks_and_volumes(client):
    net = client.networks.create(name("sdknet"), labels={"k": "v"})
    vol = client.volumes.create(name("sdkvol"), labels={"k": "v"})
    try:
        assert net.name in [n.name for n in client.networks.list()]
        assert client.volumes.get(vol.name).attrs["Labels"] == {"k": "v"}
        c = client.containers.run("busybox", ["sh", "-c", "echo x > /v/f; sleep 100"], detach=True,
                                  network=net.name, volumes={vol.name: {"bind": "/v", "mode": "rw"}})
        try:
            net.reload()
            assert c.id in net.attrs["Containers"]
            with pytest.raises(docker.errors.APIError):
                vol.remove()
        finally:
            c.remove(force=True)
    finally:
        net.remove()
        vol.remove()


def test_events_stream(client):
    since = time.time() - 1
    n = name("sdkev")
    client.containers.run("busybox", ["true"], name=n, remove=True)
    events = client.events(since=since, until=time.time() + 1, decode=True,
                           filters={"type": "container", "container": n})
    actions = [e["Action"] for e in events]
    assert actions[:2] == ["create", "start"]
    assert "die" in actions and "destroy" in actions


def test_low_level_attach(client):
    api = client.api
    c = api.create_container("busybox", ["cat"], stdin_open=True)
    try:
        sock = api.attach_socket(c["Id"], params={"stdin": 1, "stdout": 1, "stream": 1})
        api.start(c["Id"])
        raw = sock._sock
        raw.sendall(b"through attach\n")
        raw.shutdown(socket.SHUT_WR)  # stdin ends; the output keeps coming
        data = b""
        raw.settimeout(10)
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
        # multiplexed: 8-byte header, stream 1 (stdout)
        stream, size = struct.unpack(">BxxxL", data[:8])
        assert stream == 1
        assert data[8:8 + size] == b"through attach\n"
        assert api.wait(c["Id"], timeout=10)["StatusCode"] == 0
    finally:
        api.remove_container(c["Id"], force=True)


def test_sdk_shapes_docker_takes(client):
    # IPAMPool sends null for what it does not set (Gateway, IPRange): a network all the same.
    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.234.2.0/24")])
    net = client.networks.create(name("sdkipam"), ipam=ipam)
    try:
        assert net.attrs["IPAM"]["Config"][0]["Subnet"] == "10.234.2.0/24"
    finally:
        net.remove()
    # A stop signal no stop could send is refused at create, nothing made.
    before = len(client.containers.list(all=True))
    with pytest.raises(docker.errors.APIError) as e:
        client.containers.create("busybox", "true", stop_signal="FOO")
    assert e.value.status_code == 400 and "Invalid signal: FOO" in str(e.value)
    assert len(client.containers.list(all=True)) == before
    # put_archive to a directory that is not there: NotFound (404).
    c = client.containers.create("busybox", "true")
    try:
        with pytest.raises(docker.errors.NotFound):
            c.put_archive("/nonexist", b"\0" * 1024)
    finally:
        c.remove(force=True)
