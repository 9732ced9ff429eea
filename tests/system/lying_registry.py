#!/usr/bin/python3
"""A registry that lies, for hostile.bats: python3 lying_registry.py PORT_FILE

/v2/lie/blob:1   a manifest whose one layer says 1000 bytes; the blob endpoint then streams
                 64 MiB (a registry that sends more than the descriptor says).
/v2/lie/index:1  an index that gives its linux/amd64 manifest a size of 1 TiB.
Writes the port it listens on (127.0.0.1, chosen by the kernel) to PORT_FILE."""
import hashlib
import http.server
import json
import sys

CONFIG = json.dumps({
    "architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
}).encode()
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
LAYER_DIGEST = "sha256:" + hashlib.sha256(b"the layer it should have been").hexdigest()
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": CONFIG_DIGEST, "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": LAYER_DIGEST, "size": 1000}],
}).encode()
INDEX = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": "sha256:" + hashlib.sha256(MANIFEST).hexdigest(),
                   "size": 1 << 40, "platform": {"architecture": "amd64", "os": "linux"}}],
}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, body, media="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        p = self.path
        if p == "/v2/":
            return self.send(b"{}")
        if p == "/v2/lie/blob/manifests/1":
            return self.send(MANIFEST, "application/vnd.oci.image.manifest.v1+json")
        if p == "/v2/lie/index/manifests/1":
            return self.send(INDEX, "application/vnd.oci.image.index.v1+json")
        if p == "/v2/lie/blob/blobs/" + CONFIG_DIGEST:
            return self.send(CONFIG, "application/octet-stream")
        if p == "/v2/lie/blob/blobs/" + LAYER_DIGEST:
            total = 64 << 20
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            chunk = b"\0" * 65536
            try:
                for _ in range(total // len(chunk)):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
