#!/usr/bin/python3
"""A syslog listener for the tests: every byte received over KIND (udp, tcp, unix, unixgram)
at ADDRESS (HOST:PORT or a socket path) is appended to OUT. READY is created once it listens."""
import socket
import sys
import threading

kind, address, out, ready = sys.argv[1:5]
sink = open(out, "ab", buffering=0)
lock = threading.Lock()


def write(data):
    with lock:
        sink.write(data)


if kind in ("udp", "tcp"):
    host, port = address.rsplit(":", 1)
    family, addr = socket.AF_INET, (host, int(port))
else:
    family, addr = socket.AF_UNIX, address
stype = socket.SOCK_DGRAM if kind in ("udp", "unixgram") else socket.SOCK_STREAM
s = socket.socket(family, stype)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(addr)
if stype == socket.SOCK_STREAM:
    s.listen(16)
open(ready, "w").close()


def serve(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        write(data)


while True:
    if stype == socket.SOCK_DGRAM:
        write(s.recv(70000))
    else:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
