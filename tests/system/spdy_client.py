"""A SPDY/3.1 client of the tests' own for berthd's CRI streaming server: the HTTP upgrade,
streams with headers, data, and the Kubernetes remotecommand / portforward conventions on top
(what crictl and the kubelet do with moby/spdystream). Written from the SPDY/3 draft, apart
from berth's C++ codec, so that each checks the other."""

import json
import socket
import struct
import time
import urllib.parse
import zlib

# SPDY/3's header-compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): 4-byte
# length-prefixed words, then raw text.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date "
    "etag expect expires from host if-match if-modified-since if-none-match if-range "
    "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
    "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + (
    b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    b"403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    b"Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    b"chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    b"text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
assert len(DICTIONARY) == 1423

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY = 1, 2, 3, 4, 6, 7
FIN = 1


class UpgradeRefused(Exception):
    def __init__(self, status, headers, body):
        super().__init__("HTTP %d: %s" % (status, body.strip()))
        self.status, self.headers, self.body = status, headers, body


def http_upgrade(url, protocols, upgrade="SPDY/3.1", method="POST"):
    """Connects to the URL and asks for the upgrade: the socket once switched (with any bytes
    already read past the response head), or UpgradeRefused with the answer."""
    u = urllib.parse.urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=20)
    req = "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n" % (method, u.path, u.netloc, upgrade)
    for p in protocols:
        req += "X-Stream-Protocol-Version: %s\r\n" % p
    s.sendall((req + "Content-Length: 0\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    if status != 101:
        body = rest
        s.settimeout(2)
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                body += d
        except OSError:
            pass
        s.close()
        raise UpgradeRefused(status, headers, body.decode(errors="replace"))
    return s, headers, rest


class Session:
    """One SPDY connection: streams opened by us (odd ids), frames read into per-stream
    buffers."""

    def __init__(self, sock, rest=b""):
        self.s = sock
        self.buf = rest
        self.out = zlib.compressobj(zdict=DICTIONARY)
        self.inf = zlib.decompressobj(zdict=DICTIONARY)
        self.next_id = 1
        self.data = {}       # stream id -> bytes received
        self.fin = set()     # streams the server ended
        self.replied = set()
        self.reset = {}      # stream id -> RST status
        self.goaway = False
        self.pings = []

    # -- writing
    def _block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v)) + v.encode()
        return self.out.compress(raw) + self.out.flush(zlib.Z_SYNC_FLUSH)

    def control(self, ftype, payload, flags=0):
        self.s.sendall(struct.pack(">HHI", 0x8003, ftype, (flags << 24) | len(payload)) + payload)

    def open(self, headers, fin=False):
        sid = self.next_id
        self.next_id += 2
        self.control(SYN_STREAM, struct.pack(">IIBB", sid, 0, 0, 0) + self._block(headers), FIN if fin else 0)
        self.data[sid] = b""
        return sid

    def send(self, sid, data, fin=False):
        self.s.sendall(struct.pack(">II", sid, ((FIN if fin else 0) << 24) | len(data)) + data)

    def ping(self, pid):
        self.control(PING, struct.pack(">I", pid))

    # -- reading
    def _frame(self):
        while len(self.buf) < 8 or len(self.buf) < 8 + (struct.unpack(">I", self.buf[4:8])[0] & 0xFFFFFF):
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        w0, w1 = struct.unpack(">II", self.buf[:8])
        n = w1 & 0xFFFFFF
        payload, self.buf = self.buf[8 : 8 + n], self.buf[8 + n :]
        return w0, w1 >> 24, payload

    def _headers(self, block):
        raw = self.inf.decompress(block)
        (n,), at, h = struct.unpack(">I", raw[:4]), 4, {}
        for _ in range(n):
            (l,) = struct.unpack(">I", raw[at : at + 4])
            k = raw[at + 4 : at + 4 + l].decode()
            at += 4 + l
            (l,) = struct.unpack(">I", raw[at : at + 4])
            h[k] = raw[at + 4 : at + 4 + l].decode()
            at += 4 + l
        return h

    def read_one(self):
        w0, flags, p = self._frame()
        if w0 & 0x80000000:
            assert (w0 >> 16) & 0x7FFF == 3, "server spoke SPDY version %d" % ((w0 >> 16) & 0x7FFF)
            ftype = w0 & 0xFFFF
            if ftype == SYN_REPLY:
                (sid,) = struct.unpack(">I", p[:4])
                self._headers(p[4:])
                self.replied.add(sid)
                if flags & FIN:
                    self.fin.add(sid)
            elif ftype == RST_STREAM:
                sid, st = struct.unpack(">II", p[:8])
                self.reset[sid] = st
            elif ftype == PING:
                self.pings.append(struct.unpack(">I", p[:4])[0])
            elif ftype == GOAWAY:
                self.goaway = True
        else:
            self.data.setdefault(w0, b"")
            self.data[w0] += p
            if flags & FIN:
                self.fin.add(w0)

    def until(self, cond, secs=20):
        end = time.time() + secs
        self.s.settimeout(secs)
        while not cond():
            if time.time() > end:
                raise TimeoutError("spdy: condition not met in %ss" % secs)
            try:
                self.read_one()
            except EOFError:
                if cond():
                    return
                raise

    def open_and_wait(self, headers, fin=False):
        sid = self.open(headers, fin)
        self.until(lambda: sid in self.replied or sid in self.reset)
        return sid

    def close(self):
        self.s.close()


def command(url, stdin=None, tty=False, want_stderr=True, resize=None, protocols=("v4.channel.k8s.io",)):
    """exec or attach as crictl does: streams error, stdin (when stdin is not None), stdout,
    stderr (not with a tty), resize (with a tty); sends stdin then ends it. Returns
    (protocol, stdout, stderr, error stream text)."""
    sock, headers, rest = http_upgrade(url, protocols)
    sess = Session(sock, rest)
    err = sess.open_and_wait({"streamtype": "error"})
    sin = sess.open_and_wait({"streamtype": "stdin"}) if stdin is not None else None
    out = sess.open_and_wait({"streamtype": "stdout"})
    serr = sess.open_and_wait({"streamtype": "stderr"}) if want_stderr and not tty else None
    rsz = sess.open_and_wait({"streamtype": "resize"}) if tty and protocols[0] != "v2.channel.k8s.io" else None
    if rsz and resize:
        sess.send(rsz, json.dumps({"Width": resize[0], "Height": resize[1]}).encode())
    if sin is not None:
        if stdin:
            sess.send(sin, stdin)
        sess.send(sin, b"", fin=True)
    ends = [s for s in (err, out, serr) if s]
    sess.until(lambda: all(s in sess.fin for s in ends))
    sess.close()
    return (headers.get("x-stream-protocol-version", [""])[0], sess.data[out],
            sess.data[serr] if serr else b"", sess.data[err].decode())


def exit_code(error_text):
    """The exit code a v4 error stream tells (0 for Success), as client-go decodes it."""
    st = json.loads(error_text)
    if st["status"] == "Success":
        return 0
    assert st["reason"] == "NonZeroExitCode", st
    return int([c for c in st["details"]["causes"] if c.get("reason") == "ExitCode"][0]["message"])
