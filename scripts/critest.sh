#!/usr/bin/env bash
# Runs the CRI conformance suite (critest from cri-tools v1.27.0, built by cri-tools.sh)
# against a berthd of its own, with no network: the images critest pulls
# (registry.k8s.io/e2e-test-images/… and gcr.io/k8s-staging-cri-tools/…) are built here from
# Debian's busybox-static, pushed to Debian's docker-registry on 127.0.0.1, and berthd reaches
# them through its "mirrors" setting (the names stay the upstream ones, tags and all).
#
#   scripts/critest.sh [critest flags…]      e.g. -ginkgo.focus='Conformance'
#
# Needs a release build (build/src). Prints critest's report; exit status is critest's (3 when
# critest cannot be built here: no cri-tools source). Leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
B=${BERTH_BUILD:-$SRC/build/src}
tools=$(bash scripts/cri-tools.sh) || exit $?

W=$(mktemp -d /tmp/berth-critest.XXXXXX)
BRIDGE=berthcrit0
REG_PID="" BERTHD_PID=""
e() { "$B/berth" --root "$W/build-root" --state "$W/build-run" "$@"; }
cleanup() {
  set +e
  if [ -n "$BERTHD_PID" ]; then
    "$tools/crictl" --runtime-endpoint "unix://$W/run/cri.sock" rmp -fa >/dev/null 2>&1
    kill -TERM "$BERTHD_PID"; wait "$BERTHD_PID"
  fi
  for ns in k8s.io default; do
    for c in $("$B/berth" --root "$W/root" --state "$W/run" --namespace $ns ps -aq --no-trunc 2>/dev/null); do
      "$B/berth" --root "$W/root" --state "$W/run" --namespace $ns rm -f "$c" >/dev/null 2>&1
    done
  done
  [ -n "$REG_PID" ] && kill "$REG_PID" && wait "$REG_PID"
  pkill -9 -f "berth-shim $W/" 2>/dev/null
  awk -v d="$W" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BRIDGE" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

# --- a registry, the base image, the test programs ----------------------------------------------
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$port
mkdir -p "$W/registry"
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
  "$W/registry/data" "$REG" > "$W/registry/config.yml"
docker-registry serve "$W/registry/config.yml" > "$W/registry/log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/v2/" && break; sleep 0.05; done

BERTH_RUNTIME=$B/berth-runtime bash scripts/make-bundle.sh "$W/bundle" true >/dev/null
R=$W/bundle/rootfs
printf 'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$R/etc/passwd"
printf 'root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n' > "$R/etc/group"
mkdir -p "$R/var/run" "$R/var/www" "$R/home" "$R/usr/bin"
# Two tools of the upstream busybox image that Debian's busybox-static lacks, as small scripts.
printf '#!/bin/sh\n# pgrep NAME: the pids of the processes named NAME\nps -o pid,comm | awk -v n="$1" '"'"'NR > 1 && $2 ~ n {print $1}'"'"'\n' > "$R/bin/pgrep"
printf '#!/bin/sh\n# ipcs -m: the System V shared memory segments (the kernel'"'"'s table)\ncat /proc/sysvipc/shm\n' > "$R/usr/bin/ipcs"
chmod 755 "$R/bin/pgrep" "$R/usr/bin/ipcs"
# The applets as hard links, as in the upstream image (critest masks /bin/ls alone).
for l in "$R"/bin/*; do
  [ -L "$l" ] && [ "$(readlink "$l")" = busybox -o "$(readlink "$l")" = /bin/busybox ] && ln -f "$R/bin/busybox" "$l"
done
tar -C "$R" -cf "$W/busybox.tar" .
e import "$W/busybox.tar" "$REG/base/busybox:latest" >/dev/null

# nginx stand-in: named nginx (pidof nginx), writes /var/run/nginx.pid, answers 200 on its port.
cat > "$W/nginx.c" <<'C'
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char** argv) {
  // Once more with nginx's process title, which critest looks for in /proc/1/cmdline.
  if (strncmp(argv[0], "nginx: ", 7) != 0) {
    char* args[] = {"nginx: master process nginx -g daemon off;", argc > 1 ? argv[1] : "80", 0};
    execv("/usr/sbin/nginx", args);
  }
  int port = argc > 1 ? atoi(argv[1]) : 80;
  FILE* f = fopen("/var/run/nginx.pid", "w");
  if (f) { fprintf(f, "%d\n", getpid()); fclose(f); }
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (bind(s, (struct sockaddr*)&a, sizeof a) < 0 || listen(s, 64) < 0) { perror("nginx"); return 1; }
  printf("nginx stand-in listening on %d\n", port);
  fflush(stdout);
  const char* page = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 28\r\nConnection: close\r\n\r\n<h1>Welcome to nginx!</h1>\r\n";
  for (;;) {
    int c = accept(s, 0, 0);
    if (c < 0) continue;
    char buf[4096];
    (void)read(c, buf, sizeof buf);
    (void)write(c, page, strlen(page));
    close(c);
  }
}
C
cat > "$W/nonewprivs.c" <<'C'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", geteuid()); return 0; }
C
gcc -O2 -static -o "$W/nginx" "$W/nginx.c"
gcc -O2 -static -o "$W/nonewprivs" "$W/nonewprivs.c"

# --- the images --------------------------------------------------------------------------------
build() {  # build NAME... (the first name builds, the rest are tags) with a Dockerfile on stdin
  local first=$1 ctx
  ctx=$(mktemp -d "$W/ctx.XXXXXX")
  cat > "$ctx/Dockerfile"
  cp "$W/nginx" "$W/nonewprivs" "$ctx/"
  touch "$ctx/$(basename "${first%%:*}")"
  local tags=()
  for n in "$@"; do tags+=(-t "$REG/$n"); done
  e build -q --network none --build-arg "TEST=$(basename "${first%%:*}")" "${tags[@]}" "$ctx" >/dev/null 2>"$ctx/log" || { cat "$ctx/log" >&2; return 1; }
  for n in "$@"; do e push "$REG/$n" >/dev/null; done
}
FROM="FROM $REG/base/busybox:latest"
E2E=e2e-test-images
CT=k8s-staging-cri-tools
echo "$FROM" | build $E2E/busybox:1.29-2
printf '%s\nCOPY nginx /usr/sbin/nginx\nEXPOSE 80\nCMD ["/usr/sbin/nginx", "80"]\n' "$FROM" | build $E2E/nginx:1.14-2
# (Apache's start line, which critest looks for in the log, then busybox's httpd.)
printf '%s\nRUN mkdir -p /www && echo "<html><body><h1>It works!</h1></body></html>" > /www/index.html\nEXPOSE 80\nCMD ["sh", "-c", "echo \\"AH00094: Command line: '"'"'httpd -D FOREGROUND'"'"'\\" >&2; exec httpd -f -p 80 -h /www"]\n' "$FROM" | build $E2E/httpd:2.4.39-4
printf '%s\nCOPY nonewprivs /usr/local/bin/nonewprivs\nRUN chmod 4755 /usr/local/bin/nonewprivs\nCMD ["/usr/local/bin/nonewprivs"]\n' "$FROM" | build $E2E/nonewprivs:1.3
printf '%s\nCOPY nginx /usr/sbin/nginx\nCMD ["/usr/sbin/nginx", "12003"]\n' "$FROM" | build $CT/hostnet-nginx-amd64:latest
for u in "test-image-user-uid 1002" "test-image-user-username www-data" "test-image-user-uid-group 1003:1004" \
         "test-image-user-username-group www-data:1004"; do
  read -r name user <<<"$u"  # (not `set --`: the script's arguments go to critest)
  printf '%s\nUSER %s\n' "$FROM" "$user" | build "$CT/$name:latest"
done
# (cri-tools' Dockerfile runs adduser/addgroup, which Debian's busybox-static lacks: the same
# entries written directly.)
printf '%s\nRUN echo "default-user:x:1000:1000::/home/default-user:/bin/sh" >> /etc/passwd && echo "default-user:x:1000:" >> /etc/group && echo "group-defined-in-image:x:50000:default-user" >> /etc/group\nUSER 1000\n' "$FROM" |
  build $CT/test-image-predefined-group:latest
for i in test-image-1 test-image-2 test-image-3 test-image-latest; do
  printf '%s\nARG TEST\nADD ${TEST} ${TEST}\n' "$FROM" | build "$CT/$i:latest"
done
printf '%s\nARG TEST\nADD ${TEST} ${TEST}\n' "$FROM" | build $CT/test-image-tags:1 $CT/test-image-tags:2 $CT/test-image-tags:3
printf '%s\nARG TEST\nADD ${TEST} ${TEST}\n' "$FROM" | build $CT/test-image-tag:test $CT/test-image-tag:all

# --- berthd with a CNI network and the mirrors --------------------------------------------------
mkdir -p "$W/net.d" "$W/ipam"
cat > "$W/net.d/10-critest.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "critest", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$W/ipam", "ranges": [[{"subnet": "10.232.0.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
cat > "$W/daemon.json" <<EOF
{"insecure-registries": ["$REG"],
 "mirrors": {"registry.k8s.io": ["http://$REG"], "gcr.io": ["http://$REG"]}}
EOF
"$B/berthd" --root "$W/root" --state "$W/run" -H "unix://$W/d.sock" --config-file "$W/daemon.json" \
  --cni-conf-dir "$W/net.d" > "$W/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 100); do [ -S "$W/run/cri.sock" ] && break; sleep 0.05; done

set +e
"$tools/critest" --runtime-endpoint "unix://$W/run/cri.sock" --image-endpoint "unix://$W/run/cri.sock" \
  -ginkgo.no-color "$@" 2>&1 | tee "$W/critest.log"
rc=${PIPESTATUS[0]}
if [ -n "${CRITEST_LOG:-}" ]; then cp "$W/critest.log" "$CRITEST_LOG"; cp "$W/berthd.log" "$CRITEST_LOG.berthd"; fi
exit "$rc"
