#!/usr/bin/python3
"""The docker CLI's own cost of `docker run --rm IMAGE true`: a server on a unix socket that
answers the CLI's requests (ping, create, attach, wait, start) at once, with no container
behind them. Whatever `docker run` takes against it is the client's floor — the part of
every daemon's measured time that no daemon can remove.

    bench/docker-cli-floor.py SOCKET      # serves until killed
"""
import json
import os
import socket
import sys
import threading

STARTED = {}  # container id -> threading.Event set by start
LOCK = threading.Lock()
COUNTER = [0]


def read_request(conn, buf):
    while b"\r\n\r\n" not in buf:
        d = conn.recv(65536)
        if not d:
            return None, buf
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0") or 0)
    while len(rest) < n:
        d = conn.recv(65536)
        if not d:
            break
        rest += d
    return (method, target, headers), rest[n:]


def reply(conn, status, body=b"", ctype="application/json", extra="", head_only=False):
    reason = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found"}[status]
    head = f"HTTP/1.1 {status} {reason}\r\nApi-Version: 1.41\r\nOstype: linux\r\nServer: floor\r\n{extra}"
    if status != 204:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    conn.sendall(head.encode() + b"\r\n" + (b"" if head_only else body))


def event_for(cid):
    with LOCK:
        return STARTED.setdefault(cid, threading.Event())


def serve(conn):
    buf = b""
    try:
        while True:
            req, buf = read_request(conn, buf)
            if req is None:
                return
            method, target, headers = req
            if os.environ.get("FLOOR_DEBUG"):
                print(method, target, flush=True)
            path = target.split("?", 1)[0]
            parts = path.strip("/").split("/")
            if parts and parts[0].startswith("v1."):
                parts = parts[1:]
            if path.endswith("/_ping"):
                reply(conn, 200, b"OK", "text/plain", head_only=method == "HEAD")
            elif parts[:2] == ["containers", "create"]:
                with LOCK:
                    COUNTER[0] += 1
                    cid = "%064x" % COUNTER[0]
                reply(conn, 201, json.dumps({"Id": cid, "Warnings": []}).encode())
            elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "attach":
                conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
                event_for(parts[1]).wait(10)
                conn.shutdown(socket.SHUT_RDWR)
                return
            elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "wait":
                # The headers at once (the CLI starts the container only once it has them),
                # the status when the "container" has run.
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                event_for(parts[1]).wait(10)
                body = json.dumps({"StatusCode": 0, "Error": None}).encode() + b"\n"
                conn.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
            elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "start":
                event_for(parts[1]).set()
                reply(conn, 204)
            else:
                reply(conn, 404, json.dumps({"message": "not in the floor server: " + path}).encode())
    except OSError:
        pass
    finally:
        conn.close()


def main():
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
