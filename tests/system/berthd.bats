#!/usr/bin/env bats
# berthd with the real docker CLI (Debian's docker.io client): every verb a Docker user runs,
# its output and exit codes, the same store as berth's CLI, and what an attacker or a broken
# client sends.

load berthd_helpers
load image_helpers

setup_file() { berthd_setup_file; }
teardown_file() { berthd_teardown_file; }

@test "berthd: _ping, version and info answer as Docker's daemon does" {
  run -0 curl -s -D - --unix-socket "$DD/d.sock" http://d/_ping
  [[ "$output" == *"Api-Version: 1.41"* ]]
  [[ "$output" == *"Ostype: linux"* ]]
  [[ "$output" == *"Docker-Experimental: false"* ]]
  [[ "$output" == *OK ]]
  run -0 curl -s -I --unix-socket "$DD/d.sock" http://d/_ping
  [[ "$output" == *"200 OK"* ]]
  run -0 d version --format '{{.Server.APIVersion}} {{.Server.Os}}'
  [ "$output" = "1.41 linux" ]
  run -0 d info --format '{{.Driver}} {{.LoggingDriver}} {{.DefaultRuntime}}'
  [ "$output" = "overlay2 json-file berth" ]
}

@test "berthd: docker run --rm prints the output and returns the exit code (0, N, 127, 126)" {
  run -0 d run --rm busybox echo hello
  [ "$output" = hello ]
  run -7 d run --rm busybox sh -c 'echo out; echo err >&2; exit 7'
  [[ "$output" == *out* && "$output" == *err* ]]
  run -127 d run --rm busybox nosuch-command
  [[ "$output" == *"executable file not found"* ]]
  run -126 d run --rm busybox /etc/passwd
  # stdin through -i, its end reaching the container
  run -0 bash -c "printf 'a\nb\n' | DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI run --rm -i busybox wc -l"
  [ "$output" = 2 ]
  # --rm really removes (the failed ones too)
  run -0 d ps -aq
  [ -z "$output" ]
}

@test "berthd: run -it under a terminal: the tty, its size, the exit code" {
  run -0 bash -c "(printf 'tty; stty size; exit 5\n'; sleep 3) | script -qec 'stty rows 30 cols 100; DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI run --rm -it busybox sh; echo rc=\$?' /dev/null"
  [[ "$output" == *"/dev/pts/0"* ]]
  [[ "$output" == *"30 100"* ]]
  [[ "$output" == *"rc=5"* ]]
}

@test "berthd: run -d, ps with filters and --format, logs, inspect -f, stop, start, restart, kill, rm" {
  run -0 d run -d --name web1 --label app=web --label tier=front -e GREETING=hi busybox sh -c 'echo "$GREETING"; echo oops >&2; sleep 100'
  id=$output
  [ ${#id} = 64 ]
  run -0 d ps --filter label=app=web --format '{{.Names}} {{.Status}}'
  [[ "$output" == "web1 Up"* ]]
  run -0 d ps --filter name=nomatch -q
  [ -z "$output" ]
  run -0 d ps --filter status=running --filter ancestor=busybox -q
  [ "$output" = "${id:0:12}" ]
  # The engine's one filter, as Docker 20.10's daemon answers (checked): a name without its
  # slash anchors too, an id is a literal prefix, no container is a task; bad keys and values
  # are the client's error.
  run -0 d ps --filter name=^web1$ -q
  [ "$output" = "${id:0:12}" ]
  run -0 d ps --filter id=${id:0:8} -q
  [ "$output" = "${id:0:12}" ]
  run -0 d ps --filter id=^${id:0:8} -q
  [ -z "$output" ]
  run -0 d ps --filter is-task=true -q
  [ -z "$output" ]
  run -0 api GET '/v1.41/containers/json?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D'
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"invalid filter 'bogus'"* ]]
  run -0 api GET '/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22sleeping%22%5D%7D'
  [ "${lines[-1]}" = 400 ]
  wait_for bash -c "DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI logs web1 2>&1 | grep -q oops"
  run -0 --separate-stderr d logs web1
  [ "$output" = hi ]
  [ "$stderr" = oops ]
  run -0 d inspect -f '{{.State.Status}} {{.Config.Labels.tier}} {{index .Config.Env 0}}' web1
  [[ "$output" == "running front GREETING=hi"* ]]
  # labels round-trip exactly
  run -0 d inspect -f '{{json .Config.Labels}}' web1
  [ "$output" = '{"app":"web","tier":"front"}' ]
  run -0 d stop -t 1 web1
  run -0 d inspect -f '{{.State.Status}}' web1
  [ "$output" = exited ]
  run -0 d start web1
  run -0 d inspect -f '{{.State.Running}}' web1
  [ "$output" = true ]
  run -0 d restart -t 1 web1
  run -0 d kill web1
  run -0 d inspect -f '{{.State.Status}} {{.State.ExitCode}}' web1
  [ "$output" = "exited 137" ]
  run -1 d kill web1
  [[ "$output" == *"is not running"* ]]
  run -0 d rm web1
  run -1 d inspect web1
  [[ "$output" == *"No such"* ]]
  # docker restart of a --rm container restarts it (AutoRemove is lifted for the stop); its
  # next stop removes it
  run -0 d run -d --rm --name rmweb busybox sleep 100
  run -0 d restart -t 1 rmweb
  run -0 d inspect -f '{{.State.Running}} {{.HostConfig.AutoRemove}}' rmweb
  [ "$output" = "true true" ]
  run -0 d stop -t 1 rmweb
  wait_for sh -c "! DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI inspect rmweb >/dev/null 2>&1"
}

@test "berthd: logs -f follows until the container exits; --tail and --timestamps" {
  run -0 d run -d --name lf busybox sh -c 'for i in 1 2 3; do echo line $i; sleep 0.2; done'
  run -0 timeout 10 "$DOCKER_CLI" -H "unix://$DD/d.sock" logs -f lf
  [ "$output" = "$(printf 'line 1\nline 2\nline 3')" ]
  run -0 d logs --tail 1 lf
  [ "$output" = "line 3" ]
  run -0 d logs -t --tail 1 lf
  [[ "$output" =~ ^20[0-9-]+T[0-9:.]+Z\ line\ 3$ ]]
  run -0 d logs --details --tail -1 lf
  [ "$output" = "$(printf ' line 1\n line 2\n line 3')" ]
  d rm lf
  # The local driver (what Docker's docs advise against full disks): rotated and compressed
  # by default, read by logs.
  d run --name loc --log-driver local --log-opt max-size=1k busybox sh -c 'for i in $(seq 1 200); do echo "line $i"; done' >/dev/null
  [ "$(d inspect -f '{{.HostConfig.LogConfig.Type}}' loc)" = local ]
  run -0 d logs --tail 1 loc
  [ "$output" = "line 200" ]
  [ -z "$(d inspect -f '{{.LogPath}}' loc)" ]
  wait_for sh -c "ls $DD/root/containers/\$(DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI inspect -f '{{.Id}}' loc)/*.1.gz"
  d rm loc >/dev/null
  # json-file's attributes (compose's logging options), shown by --details.
  d run --name la --label app=web -e REGION=eu --log-opt labels=app --log-opt env=REGION --log-opt tag='{{.Name}}' busybox echo hi >/dev/null
  run -0 d logs --details la
  [ "$output" = "REGION=eu,app=web,tag=la hi" ]
  d rm la >/dev/null
  # --log-driver none: the attached run shows the output; logs is Docker's 501 and its words.
  run -0 d run --name nl --log-driver none busybox echo shown
  [ "$output" = shown ]
  run d logs nl
  [ "$status" -eq 1 ]
  [[ "$output" == *"configured logging driver does not support reading"* ]]
  d rm nl
  # --log-driver syslog through the API: the lines reach the listener; logs cannot read them;
  # docker info lists the driver.
  port=$((20000 + RANDOM % 20000))
  /usr/bin/python3 "$SRC/tests/system/syslog_listener.py" udp "127.0.0.1:$port" "$DD/sl.out" "$DD/sl.ready" >/dev/null 2>&1 3>&- &
  sl=$!
  track_pid "$sl"
  wait_for test -e "$DD/sl.ready"
  run -0 d run --name sy --log-driver syslog --log-opt syslog-address=udp://127.0.0.1:$port --log-opt tag='{{.Name}}' busybox echo to-syslog
  [ "$output" = to-syslog ]
  wait_for grep -q to-syslog "$DD/sl.out"
  grep -E '^<30>.* sy\[[0-9]+\]: to-syslog$' "$DD/sl.out"
  run d logs sy
  [ "$status" -eq 1 ]
  [[ "$output" == *"configured logging driver does not support reading"* ]]
  [[ "$(d info --format '{{json .Plugins.Log}}')" == *'"syslog"'* ]]
  run d run --rm --log-driver syslog --log-opt syslog-facility=nope busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"invalid syslog facility"* ]]
  kill "$sl"
  d rm sy
}

@test "berthd: exec: output, exit codes, stdin, user, env, workdir, a terminal" {
  run -0 d run -d --name ex busybox sleep 100
  run -0 d exec ex echo from-exec
  [ "$output" = from-exec ]
  run -3 d exec ex sh -c 'exit 3'
  # a process that cannot start: 126 whatever the reason (Docker's exec; its run says 127)
  run -126 d exec ex nosuch
  run -126 d exec -u nosuchuser ex true
  run -0 d exec -u 1000:1000 -e X=y -w /tmp ex sh -c 'echo $(id -u) $X $(pwd)'
  [ "$output" = "1000 y /tmp" ]
  run -0 bash -c "echo piped | DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI exec -i ex cat"
  [ "$output" = piped ]
  run -0 bash -c "(printf 'tty; exit 4\n'; sleep 3) | script -qec 'DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI exec -it ex sh; echo rc=\$?' /dev/null"
  [[ "$output" == *"/dev/pts/"* ]]
  [[ "$output" == *"rc=4"* ]]
  # detached: it runs on its own
  run -0 d exec -d ex sh -c 'echo detached > /tmp/d'
  wait_for d exec ex cat /tmp/d
  d rm -f ex
}

@test "berthd: cp both ways, and tar paths cannot leave the container" {
  run -0 d run -d --name cpc busybox sleep 100
  echo payload > "$DD/in.txt"
  run -0 d cp "$DD/in.txt" cpc:/tmp/in.txt
  run -0 d exec cpc cat /tmp/in.txt
  [ "$output" = payload ]
  run -0 d exec cpc sh -c 'mkdir -p /tmp/dir && echo deep > /tmp/dir/f'
  run -0 d cp cpc:/tmp/dir "$DD/out"
  [ "$(cat "$DD/out/f")" = deep ]
  run -1 d cp cpc:/nonexistent "$DD/x"
  # DIR/. is the directory's contents (into an existing directory and as a new one, nothing
  # beside them); LINK/ is the directory the link leads to, under the link's name.
  run -0 d exec cpc sh -c 'mkdir -p /tmp/dir/sub && echo s > /tmp/dir/sub/b && ln -s dir /tmp/rel'
  mkdir -p "$DD/dot/existing"
  (cd "$DD/dot" && d cp cpc:/tmp/dir/. existing/ && d cp cpc:/tmp/dir/. fresh)
  [ "$(cd "$DD/dot" && find . | sort | tr '\n' ' ')" = ". ./existing ./existing/f ./existing/sub ./existing/sub/b ./fresh ./fresh/f ./fresh/sub ./fresh/sub/b " ]
  (cd "$DD/dot" && d cp cpc:/tmp/rel/ vialink)
  [ -d "$DD/dot/vialink" ] && [ ! -L "$DD/dot/vialink" ]
  [ "$(cat "$DD/dot/vialink/sub/b")" = s ]
  [ ! -e "$DD/dot/dir" ]
  run -0 curl -s -I --unix-socket "$DD/d.sock" "http://d/v1.41/containers/cpc/archive?path=/tmp/dir/."
  [ "$(grep -i '^X-Docker-Container-Path-Stat' <<<"$output" | cut -d' ' -f2 | tr -d '\r' | base64 -d | jq -r .name)" = . ]
  # PUT to a directory that is not there: 404 (the SDK's NotFound), Docker's words.
  tar -C "$DD" -cf "$DD/one.tar" in.txt
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/nonexist" --data-binary @"$DD/one.tar" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 404 ]
  [[ "$output" == *"Could not find the file /nonexist in container cpc"* ]]
  # A container never started: docker cp seeds its volume (mounted for the copy), then the
  # volume's content comes out of the stopped container.
  run -0 d create --name cpseed -v cpseedvol:/data busybox sh -c 'cat /data/in.txt; echo more > /data/more'
  run -0 d cp "$DD/in.txt" cpseed:/data/
  run -0 d start -a cpseed
  [ "$output" = payload ]
  run -0 d cp cpseed:/data/more "$DD/more"
  [ "$(cat "$DD/more")" = more ]
  run -0 d rm cpseed
  run -0 d volume rm cpseedvol
  # A hostile tar through the API: ../ and absolute names stay under the target directory.
  mkdir -p "$DD/evil"
  /usr/bin/python3 - "$DD/evil.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name in ["../../../../tmp/berthd-escape", "/tmp/berthd-escape-abs"]:
        data = b"escaped"
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
  api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/evil.tar" -H 'Content-Type: application/x-tar' || true
  [ ! -e /tmp/berthd-escape ]
  [ ! -e /tmp/berthd-escape-abs ]
  run -0 api GET "/v1.41/containers/cpc/archive?path=/tmp/../../../etc/hostname" -o /dev/null
  # a symlink out of the container, then a file through it; a hardlink to a host file
  /usr/bin/python3 - "$DD/evil2.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    l = tarfile.TarInfo("out"); l.type = tarfile.SYMTYPE; l.linkname = "/tmp"; t.addfile(l)
    data = b"escaped"
    i = tarfile.TarInfo("out/berthd-escape-link"); i.size = len(data); t.addfile(i, io.BytesIO(data))
    h = tarfile.TarInfo("shadow"); h.type = tarfile.LNKTYPE; h.linkname = "../../../../etc/shadow"; t.addfile(h)
PY
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/evil2.tar" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 400 ]
  [ ! -e /tmp/berthd-escape-link ]
  run -0 d exec cpc sh -c 'cat /tmp/shadow 2>&1; readlink /tmp/out'
  [[ "$output" != *root:* ]]
  # a compressed archive is taken (gzip, bzip2, xz; zstd too); a corrupt one is a 400
  mkdir -p "$DD/gz" && echo zipped > "$DD/gz/z.txt"
  tar -C "$DD/gz" -czf "$DD/z.tar.gz" z.txt
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/z.tar.gz" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 200 ]
  run -0 d exec cpc cat /tmp/z.txt
  [ "$output" = zipped ]
  local kind
  for kind in bz2:-j xz:-J; do
    echo "packed ${kind%%:*}" > "$DD/gz/${kind%%:*}.txt"
    tar -C "$DD/gz" -c "${kind#*:}" -f "$DD/c.${kind%%:*}" "${kind%%:*}.txt"
    run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/c.${kind%%:*}" -H 'Content-Type: application/x-tar'
    [ "${lines[-1]}" = 200 ]
    run -0 d exec cpc cat "/tmp/${kind%%:*}.txt"
    [ "$output" = "packed ${kind%%:*}" ]
  done
  head -c 60 "$DD/c.xz" > "$DD/cut.xz"
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/cut.xz" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"xz: unexpected end of stream"* ]]
  # `.wh.` names are files, not whiteouts (a file there stays)
  mkdir -p "$DD/wh" && echo marker > "$DD/wh/.wh.z.txt"
  tar -C "$DD/wh" -cf "$DD/wh.tar" .wh.z.txt
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/wh.tar" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 200 ]
  run -0 d exec cpc cat /tmp/z.txt /tmp/.wh.z.txt
  [ "$output" = "$(printf 'zipped\nmarker')" ]
  printf '\x1f\x8bjunkjunk' > "$DD/bad.gz"
  run -0 api PUT "/v1.41/containers/cpc/archive?path=/tmp" --data-binary @"$DD/bad.gz" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 400 ]
  run -0 d exec cpc true
  # into and out of a volume and a read-only bind mount of a running container: its own view
  mkdir -p "$DD/robind"
  run -0 d run -d --name cpv -v cpvol:/data -v "$DD/robind:/ro:ro" busybox sleep 100
  run -0 d cp "$DD/in.txt" cpv:/data/in.txt
  run -0 e cp "$DD/in.txt" cpv:/data/by-berth.txt
  run -0 d exec cpv ls /data
  [ "$output" = "$(printf 'by-berth.txt\nin.txt')" ]
  [ -n "$(find "$DD/root/volumes" -path '*cpvol*' -name in.txt)" ]  # in the volume itself
  run -0 d cp cpv:/data/in.txt "$DD/from-volume.txt"
  [ "$(cat "$DD/from-volume.txt")" = payload ]
  run -1 d cp "$DD/in.txt" cpv:/ro/
  [[ "$output" == *"mounted volume is marked read-only"* ]]
  [ ! -e "$DD/robind/in.txt" ]
  d rm -f cpv
  d volume rm cpvol
  d rm -f cpc
}

@test "berthd: volumes and networks: named volume shared, containers reach each other by name, published port answers" {
  run -0 d volume create shared
  run -0 d volume ls -q
  [[ "$output" == *shared* ]]
  run -0 d run --rm -v shared:/data busybox sh -c 'echo kept > /data/f'
  run -0 d run --rm -v shared:/data busybox cat /data/f
  [ "$output" = kept ]
  # --mount reaches the container (HostConfig.Mounts): a volume, a bind, a tmpfs
  mkdir -p "$DD/mnt-bind"
  run -0 d run --rm --mount type=volume,src=shared,dst=/s --mount "type=bind,src=$DD/mnt-bind,dst=/b" \
    --mount type=tmpfs,dst=/t,tmpfs-size=1048576 busybox sh -c 'cat /s/f; echo via-mount > /b/g; grep " /t " /proc/mounts'
  [ "${lines[0]}" = kept ]
  [[ "${lines[1]}" == "tmpfs /t tmpfs "*size=1024k* ]]
  [ "$(cat "$DD/mnt-bind/g")" = via-mount ]
  run -125 d run --rm --mount "type=bind,src=$DD/absent,dst=/b" busybox true
  [[ "$output" == *"bind source path does not exist"* ]]
  # -v makes a missing host directory, as Docker's does
  run -0 d run --rm -v "$DD/made-by-v:/m" busybox touch /m/x
  [ -f "$DD/made-by-v/x" ]
  # --volumes-from (HostConfig.VolumesFrom): Docker's backup pattern, and :ro
  d create --name dbdata -v shared:/dbdata -v /anon busybox true
  run -0 d run --rm --volumes-from dbdata busybox sh -c 'echo a > /anon/y'
  mkdir -p "$DD/backup"
  run -0 d run --rm --volumes-from dbdata -v "$DD/backup:/backup" busybox tar -cf /backup/b.tar /dbdata /anon
  [ "$(tar -tf "$DD/backup/b.tar" | sort | tr '\n' ' ')" = "anon/ anon/y dbdata/ dbdata/f " ]
  run -1 d run --rm --volumes-from dbdata:ro busybox touch /dbdata/g
  [[ "$output" == *"Read-only file system"* ]]
  run -125 d run --rm --volumes-from nosuch busybox true
  d rm -v dbdata
  run -0 d network create appnet
  run -0 d network inspect -f '{{.Driver}}' appnet
  [ "$output" = bridge ]
  # --attachable is recorded and shown (it was stored as false), through the API and the CLI.
  [ "$(d network inspect -f '{{.Attachable}}' appnet)" = false ]
  run -0 d network create --attachable attnet
  [ "$(d network inspect -f '{{.Attachable}}' attnet)" = true ]
  [ "$(e network inspect -f '{{.Attachable}}' attnet)" = true ]
  run -0 d network rm attnet
  port=$(free_port)
  run -0 d run -d --name srv --network appnet -p "127.0.0.1:$port:80" busybox sh -c 'mkdir -p /w && echo served > /w/index.html && httpd -f -p 80 -h /w'
  wait_for curl -sf "http://127.0.0.1:$port/"
  run -0 curl -s "http://127.0.0.1:$port/"
  [ "$output" = served ]
  run -0 d port srv 80
  [[ "$output" == *"127.0.0.1:$port"* ]]
  # docker ps: PORTS, and the publish/expose filters the API applies.
  [ "$(d ps --filter name=srv --format '{{.Ports}}')" = "127.0.0.1:$port->80/tcp" ]
  [ "$(d ps -q --filter publish="$port" --filter expose=80/tcp)" = "$(d ps -q --filter name=srv)" ]
  [ -z "$(d ps -q --filter publish=80)" ]
  run -0 d run --rm --network appnet busybox wget -qO- http://srv/
  [ "$output" = served ]
  # stats per interface, as Docker: srv on a second network has eth0 and eth1, each with
  # its eight counters; the page it served went out through eth0.
  run -0 d network create appnet2
  run -0 d network connect appnet2 srv
  run -0 curl -sf --unix-socket "$DD/d.sock" "http://d/v1.41/containers/srv/stats?stream=false"
  echo "$output" | jq -e '.networks | keys == ["eth0", "eth1"]'
  echo "$output" | jq -e '[.networks[] | keys] | unique == [["rx_bytes","rx_dropped","rx_errors","rx_packets","tx_bytes","tx_dropped","tx_errors","tx_packets"]]'
  echo "$output" | jq -e '.networks.eth0.tx_bytes > 20 and .networks.eth0.rx_packets > 0 and .networks.eth0.tx_packets > 0'
  run -0 d stats --no-stream --format '{{.NetIO}}' srv
  [[ "$output" != "0B / 0B" ]]
  run -0 d network disconnect appnet2 srv
  run -0 d network rm appnet2
  run -0 d ps --filter network=appnet --format '{{.Names}}'
  [ "$output" = srv ]
  run -1 d network rm appnet
  d run -d --name user -v shared:/data busybox sleep 100
  run -1 d volume rm shared
  [[ "$output" == *"in use"* ]]
  d rm -f srv user
  run -0 d network rm appnet
  run -0 d volume rm shared
  run -0 d network ls --format '{{.Name}}'
  [[ "$output" != *appnet* ]]
  # every id `network ls -q` prints resolves, the built-in ones too (hex, as Docker's)
  run -0 d network inspect --format '{{.Name}}' $(d network ls -q)
  [[ "$output" == *host* ]]
  [[ "$output" == *none* ]]
  run -1 d network rm "$(d network ls -q --filter driver=host)"
  [[ "$output" == *"host is a pre-defined network"* ]]
  # Docker's default network is pre-defined too: not removed by `bridge`, nor by its id (what
  # `docker network rm $(docker network ls -q)` passes); `default` names no network.
  d run --rm busybox true
  local def
  def=$(d network inspect --format '{{.Id}}' bridge)
  run -1 d network rm bridge
  [[ "$output" == *"bridge is a pre-defined network and cannot be removed"* ]]
  run -1 d network rm "$def"
  [[ "$output" == *"bridge is a pre-defined network and cannot be removed"* ]]
  run -1 d network rm default
  [[ "$output" == *"No such network: default"* ]]
  [ "$(d network inspect --format '{{.Id}}' bridge)" = "$def" ]
}

@test "berthd: the default network is Docker's bridge wherever the API shows it: network ls and inspect, container inspect, ps --format and --filter, events" {
  local t0 id ip
  t0=$(date +%s)
  d run -d --name onbridge busybox sleep 100
  id=$(d inspect -f '{{.Id}}' onbridge)
  run -0 d network ls --format '{{.Name}} {{.Driver}}'
  [[ "$output" == *"bridge bridge"* ]]
  [[ "$output" != *berth* ]]
  [ "$(d network ls -q --no-trunc --filter name=bridge)" = "$(d network inspect -f '{{.Id}}' bridge)" ]
  [ "$(d network ls -q --no-trunc --filter type=builtin --filter name=bridge)" = "$(d network inspect -f '{{.Id}}' bridge)" ]
  [ "$(d network inspect -f '{{.Name}}' "$(d network inspect -f '{{.Id}}' bridge)")" = bridge ]
  [ "$(d network inspect -f '{{range .Containers}}{{.Name}}{{end}}' bridge)" = onbridge ]
  # The staple of scripts: the address under the network's Docker name, the one berth's CLI
  # shows under berth's name for it.
  ip=$(d inspect -f '{{.NetworkSettings.Networks.bridge.IPAddress}}' onbridge)
  [[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]
  [ "$ip" = "$(e inspect -f '{{.NetworkSettings.Networks.berth.IPAddress}}' onbridge)" ]
  [ "$ip" = "$(d inspect -f '{{.NetworkSettings.IPAddress}}' onbridge)" ]
  [ "$(d inspect -f '{{.HostConfig.NetworkMode}}' onbridge)" = default ]
  [ "$(d ps --filter name=onbridge --format '{{.Networks}}')" = bridge ]
  [ "$(d ps -q --no-trunc --filter network=bridge)" = "$id" ]
  [ "$(e ps -q --no-trunc --filter network=bridge)" = "$id" ]
  run -0 api GET /v1.41/containers/json
  echo "${lines[0]}" | jq -e --arg id "$id" '.[] | select(.Id == $id) | (.HostConfig.NetworkMode == "default") and (.NetworkSettings.Networks | keys == ["bridge"])'
  # A container made never started is listed under the name too (its configured networks).
  d create --name notstarted busybox true
  [ "$(d inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' notstarted)" = bridge ]
  d rm -f onbridge notstarted
  sleep 1  # --until takes whole seconds: past the rm's
  run -0 d events --since "$t0" --until "$(date +%s)" --filter type=network --filter network=bridge \
    --format '{{.Actor.Attributes.name}} {{.Action}} {{.Actor.Attributes.container}}'
  [[ "$output" == *"bridge connect $id"* ]]
  [[ "$output" == *"bridge disconnect $id"* ]]
  [[ "$output" != *berth* ]]
}

@test "berthd: on a user network a container's short id is one of its aliases, as dockerd's: inspect lists it, peers reach it whatever its hostname" {
  local id short ip
  d network create aliasnet > /dev/null
  d run -d --name al1 --hostname elsewhere --network aliasnet --network-alias web busybox sleep 100
  id=$(d inspect -f '{{.Id}}' al1)
  short=${id:0:12}
  [ "$(d inspect -f '{{json .NetworkSettings.Networks.aliasnet.Aliases}}' al1)" = "[\"web\",\"$short\"]" ]
  ip=$(d inspect -f '{{.NetworkSettings.Networks.aliasnet.IPAddress}}' al1)
  run -0 d run --rm --network aliasnet busybox ping -c1 -W2 "$short"
  [[ "$output" == *"($ip)"* ]]
  # docker-compose 1.x reads it (short_id_alias_exists): connected again at each start without it.
  d network create aliasnet2 > /dev/null
  d network connect --alias other aliasnet2 al1
  [ "$(d inspect -f '{{json .NetworkSettings.Networks.aliasnet2.Aliases}}' al1)" = "[\"other\",\"$short\"]" ]
  # Not on the default network (dockerd adds none there).
  d run -d --name al2 busybox sleep 100
  [[ "$(d inspect -f '{{json .NetworkSettings.Networks.bridge.Aliases}}' al2)" != *"$(d inspect -f '{{.Id}}' al2 | cut -c1-12)"* ]]
  d rm -f al1 al2 > /dev/null
  d network rm aliasnet aliasnet2 > /dev/null
}

@test "berthd: list filters Docker refuses are refused; images since/before within one second; df -v shows <none> images; save by id names nothing" {
  run -1 d volume ls --filter bogus=1
  [[ "$output" == *"invalid filter 'bogus'"* ]]
  run -1 d network ls --filter bogus=1
  [[ "$output" == *"invalid filter 'bogus'"* ]]
  run -1 d volume ls --filter dangling=maybe
  [[ "$output" == *"dangling=maybe"* ]]
  run -1 d network ls --filter type=other
  run -0 d volume ls --filter dangling=true
  run -0 d network ls --filter type=custom --filter dangling=false
  # Three images committed within a second or so: since/before compare to the nanosecond.
  d create --name sb busybox true
  d commit sb sb:1 >/dev/null
  d commit sb sb:2 >/dev/null
  d commit sb sb:3 >/dev/null
  run -0 d images --filter since=sb:1 --filter reference=sb --format '{{.Tag}}'
  [ "$(echo "$output" | sort | tr '\n' ' ')" = "2 3 " ]
  run -0 d images --filter before=sb:3 --filter reference=sb --format '{{.Tag}}'
  [ "$(echo "$output" | sort | tr '\n' ' ')" = "1 2 " ]
  # The list is newest first (to the nanosecond), its Created in Unix seconds: the CLI's age
  # of an image made just now is seconds, not "Less than a second ago" from a time far ahead.
  run -0 d images --filter reference=sb --format '{{.Tag}} {{.CreatedSince}}'
  echo "$output"
  [ "$(echo "$output" | cut -d' ' -f1 | tr '\n' ' ')" = "3 2 1 " ]
  run -0 api GET '/v1.41/images/json'
  echo "${lines[0]}" | jq -e --argjson now "$(date +%s)" '[.[].Created] | all(. > 1500000000 and . <= $now)'
  # An image whose name moved away is a <none> row of system df -v's images, as Docker's.
  local old id
  old=$(d image inspect --format '{{.Id}}' sb:3)
  d commit sb sb:3 >/dev/null
  run -0 d system df -v
  echo "$output" | grep -E "^<none> +<none> +${old:7:12} "
  d rmi "$old"
  # Saved by id, an image loads without a name (Docker writes no RepoTags for it).
  id=$(d image inspect --format '{{.Id}}' sb:1)
  d save "$id" -o "$DD/byid.tar"
  d rmi sb:1
  run -0 d load -i "$DD/byid.tar"
  [[ "$output" == *"Loaded image ID: $id"* ]]
  run -1 d image inspect sb:1
  d rm sb
  d rmi "$id" sb:2 sb:3
  rm -f "$DD/byid.tar"
}

@test "berthd: rmi -f of the id of an image a running container uses is refused, its names kept (Docker's hard conflict)" {
  d tag busybox pin:1
  d tag busybox pin:2
  d run -d --name pinned busybox sleep 100
  local id
  id=$(d image inspect --format '{{.Id}}' busybox)
  run -1 d rmi -f "$id"
  [[ "$output" == *"unable to delete ${id:7:12} (cannot be forced) - image is being used by running container"* ]]
  run -1 d rmi -f "${id:7:12}"
  [[ "$output" == *"(cannot be forced)"* ]]
  [ "$(d image inspect --format '{{.Id}}' busybox pin:1 pin:2 | sort -u)" = "$id" ]
  # By name the forced rmi only untags (the image stays for its container), as Docker's.
  run -0 d rmi -f pin:1
  [ "$output" = "Untagged: pin:1" ]
  d rm -f pinned
  d rmi pin:2
}

@test "berthd: commit, tag, save | load, rmi, images with filters, history" {
  run -0 d run --name base busybox sh -c 'echo layer > /made'
  run -0 d commit base committed:v1
  run -0 d run --rm committed:v1 cat /made
  [ "$output" = layer ]
  run -0 d tag committed:v1 committed:v2
  run -0 d images --format '{{.Repository}}:{{.Tag}}' --filter reference='committed:*'
  [ "$output" = "$(printf 'committed:v1\ncommitted:v2')" ]
  run -0 d history -q committed:v1
  d save committed:v1 -o "$DD/saved.tar"
  [ -s "$DD/saved.tar" ]
  run -0 d rmi committed:v2
  [[ "$output" == *"Untagged: committed:v2"* ]]
  d rm base
  run -0 d rmi committed:v1
  run -1 d image inspect committed:v1
  run -0 d load -i "$DD/saved.tar"
  [[ "$output" == *"Loaded image: committed:v1"* ]]
  run -0 d run --rm committed:v1 cat /made
  [ "$output" = layer ]
  # an image a container uses keeps its last name (Docker's rule)
  d create --name holder committed:v1 true
  run -1 d rmi committed:v1
  [[ "$output" == *"being used"* || "$output" == *"is using"* ]]
  d rm holder
  # image prune's filters through the API (dangling=false, label, until), with the lines
  # Docker's CLI prints from ImagesDeleted.
  d create --name forprune busybox true
  run -0 d commit --change 'LABEL tier=scratch' forprune pruned:v1
  run -0 d tag committed:v1 kept:v1
  run -0 d image prune -a -f --filter until=1h
  run -0 d image inspect pruned:v1
  run -0 d image prune -a -f --filter label=tier=scratch
  [[ "$output" == *"untagged: pruned:v1"*"deleted: sha256:"* ]]
  run -1 d image inspect pruned:v1
  run -0 d image inspect kept:v1
  run -1 d image prune -a -f --filter bogus=1
  [[ "$output" == *"invalid filter"* ]]
  run -1 d image prune -f --filter dangling=maybe
  # A Config body (docker-py's commit(conf=...)): its fields win, the rest is the container's
  # (Docker's merge: env by key, the entrypoint with its cmd, labels); changes apply on top.
  d create --name cfgsrc -e KEEP=container -e OVER=container --label from=container --workdir /tmp busybox sh -c 'echo container-cmd'
  run -0 curl -sf -X POST -H 'Content-Type: application/json' --unix-socket "$DD/d.sock" \
    -d '{"Cmd": ["sh", "-c", "echo $OVER $KEEP $(pwd) $ADDED"], "Env": ["OVER=body"], "Labels": {"set": "body"}}' \
    "http://d/commit?container=cfgsrc&repo=withconfig&tag=v1&changes=ENV%20ADDED%3Dchange"
  run -0 d run --rm withconfig:v1
  [ "$output" = "body container /tmp change" ]
  run -0 d image inspect -f '{{.Config.Labels.from}} {{.Config.Labels.set}}' withconfig:v1
  [ "$output" = "container body" ]
  run -0 curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --unix-socket "$DD/d.sock" \
    -d '{"Env": {"A": "1"}}' "http://d/commit?container=cfgsrc&repo=badconfig"
  [ "$output" = 400 ]
  run -1 d image inspect badconfig
  d rm forprune cfgsrc
  d rmi committed:v1 kept:v1 withconfig:v1
}

@test "berthd: import, export" {
  run -0 d run --name exp busybox sh -c 'echo exported > /marker'
  d export exp -o "$DD/exp.tar"
  tar -tf "$DD/exp.tar" | grep -qx './marker\|marker'
  run -0 bash -c "DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI import - imported:latest < $DD/exp.tar"
  run -0 d run --rm imported:latest cat /marker
  [ "$output" = exported ]
  # From a URL (berthd downloads it: fromSrc=URL), with --change; berth's CLI too, and without
  # a name (an image of Docker's <none>).
  mkdir -p "$DD/iwww" && cp "$DD/exp.tar" "$DD/iwww/exp.tar"
  port=$(free_port)
  (cd "$DD/iwww" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  track_pid $!
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/exp.tar" >/dev/null && break; sleep 0.1; done
  run -0 d import --change 'CMD ["cat", "/marker"]' "http://127.0.0.1:$port/exp.tar" fromurl:1
  run -0 d run --rm fromurl:1
  [ "$output" = exported ]
  id=$(e import "http://127.0.0.1:$port/exp.tar")
  [ "$(e inspect -f '{{len .RepoTags}}' "$id")" = 0 ]
  [ "$(e images --format '{{.Repository}}:{{.Tag}}' --filter "dangling=true" | sort -u)" = "<none>:<none>" ]
  e rmi "$id" >/dev/null
  # A bad --change: one line, no image.
  images_before=$(e images -q | wc -l)
  run e import --change 'NOTANINSTRUCTION x' "$DD/exp.tar" bad:1
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ "$output" == *"import --change"* ]]
  [ "$(e images -q | wc -l)" = "$images_before" ]
  run d import "http://127.0.0.1:$port/nothere.tar" x:1
  [ "$status" -ne 0 ]
  [[ "$output" == *"404"* ]]
  run e import "http://127.0.0.1:$port/nothere.tar"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [ -z "$(ls -A "$DD/root/build")" ]
  d rm exp
  d rmi imported:latest fromurl:1
}

@test "berthd: login, push and pull against a local registry with auth" {
  start_registry tester secret
  run -1 d login -u tester -p wrong "$REGISTRY"
  run -0 d login -u tester -p secret "$REGISTRY"
  [[ "$output" == *"Login Succeeded"* ]]
  d tag busybox "$REGISTRY/t/bb:1"
  run -0 d push "$REGISTRY/t/bb:1"
  [[ "$output" == *"1: digest: sha256:"* ]]
  d rmi "$REGISTRY/t/bb:1"
  run -0 d pull "$REGISTRY/t/bb:1"
  [[ "$output" == *"Digest: sha256:"* ]]
  run -0 d run --rm "$REGISTRY/t/bb:1" echo pulled
  [ "$output" = pulled ]
  # run pulls a missing image (the CLI's 404, pull, retry)
  d rmi "$REGISTRY/t/bb:1"
  run -0 d run --rm "$REGISTRY/t/bb:1" echo auto
  [[ "$output" == *auto ]]
  run -1 d pull "$REGISTRY/t/nothere:1"
  d rmi "$REGISTRY/t/bb:1"
  # a client that hangs up mid-pull stops it: no image recorded, berthd serves on, and the
  # next pull resumes and completes
  mkdir -p "$DD/big"
  head -c 100000000 /dev/urandom > "$DD/big/blob"
  tar -C "$DD/big" -cf "$DD/big.tar" blob
  rm -rf "$DD/big"
  d import "$DD/big.tar" "$REGISTRY/t/big:1" > /dev/null
  rm -f "$DD/big.tar"
  run -0 d push "$REGISTRY/t/big:1"
  d rmi "$REGISTRY/t/big:1"
  run -0 /usr/bin/python3 - "$DD/d.sock" "$REGISTRY/t/big" "$(base64 -w0 < <(printf '{"username":"tester","password":"secret"}'))" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(("POST /v1.41/images/create?fromImage=%s&tag=1 HTTP/1.1\r\nHost: d\r\nX-Registry-Auth: %s\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode())
got = b""
while b"Downloading" not in got:
    d = s.recv(4096)
    if not d: sys.exit("no Downloading line: " + got.decode(errors="replace"))
    got += d
s.close()
PY
  wait_for grep -q "pull of $REGISTRY/t/big:1 stopped: the client went away" "$DD/berthd.log"
  run -0 d images -q "$REGISTRY/t/big:1"
  [ -z "$output" ]
  run -0 d version --format '{{.Server.APIVersion}}'
  run -0 d pull "$REGISTRY/t/big:1"
  run -0 d create --name big "$REGISTRY/t/big:1" /blob
  d cp big:/blob - | wc -c > "$DD/n"
  [ "$(cat "$DD/n")" -gt 100000000 ]
  d rm big
  d rmi "$REGISTRY/t/big:1"
  stop_registry
}

@test "berthd: events (since/until, filters), stats --no-stream, top, pause, rename, update, system df and prune" {
  t0=$(date +%s)
  run -0 d run -d --name ev busybox sleep 100
  run -0 d stats --no-stream --format '{{.Name}} {{.PIDs}}' ev
  [ "$output" = "ev 1" ]
  # A container that does not run: zeros, as Docker's (not the host's memory as its limit).
  d create --name evstopped busybox true >/dev/null
  run -0 d stats --no-stream --format '{{.MemUsage}} {{.PIDs}}' evstopped
  [ "$output" = "0B / 0B 0" ]
  d rm evstopped >/dev/null
  # The whole reading, as Docker's: kernel/user time, per-CPU usage where cgroup v1 has it,
  # memory.stat (the CLI subtracts the page cache itself), throttling, the pids limit.
  run -0 curl -sf --unix-socket "$DD/d.sock" "http://d/v1.41/containers/ev/stats?stream=false"
  echo "$output" | jq -e '.cpu_stats.cpu_usage.total_usage > 0 and (.cpu_stats.throttling_data | has("periods")) and
    (.memory_stats.usage > 0) and (.memory_stats.stats | length > 5) and .pids_stats.current == 1'
  if [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage_percpu ]; then
    echo "$output" | jq -e --argjson n "$(nproc)" '(.cpu_stats.cpu_usage.percpu_usage | length) >= $n and (.memory_stats.stats | has("total_inactive_file"))'
  fi
  run -0 d top ev
  [[ "$output" == *"sleep 100"* ]]
  run -0 d pause ev
  run -0 d inspect -f '{{.State.Status}}' ev
  [ "$output" = paused ]
  run -0 d unpause ev
  run -0 d rename ev ev2
  run -0 d update --memory 64m --restart on-failure:2 ev2
  run -0 d inspect -f '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}' ev2
  [ "$output" = "67108864 on-failure" ]
  # The rarer resources through the API: at run, and by update on a running container.
  run -0 d update --cpu-period 50000 --cpu-quota 20000 --memory-reservation 32m --cpuset-mems 0 ev2
  run -0 d exec ev2 sh -c 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us'
  [[ "$output" == 20000* ]]
  run -0 d inspect -f '{{.HostConfig.CpuPeriod}} {{.HostConfig.CpuQuota}} {{.HostConfig.MemoryReservation}} {{.HostConfig.CpusetMems}}' ev2
  [ "$output" = "50000 20000 33554432 0" ]
  # A block I/O weight the kernel cannot apply: Docker's warning to the client, the rest of the
  # update applied (it failed halfway before).
  if [ -d /sys/fs/cgroup/blkio ] && [ ! -e /sys/fs/cgroup/blkio/blkio.weight ] && [ ! -e /sys/fs/cgroup/blkio/blkio.bfq.weight ]; then
    run -0 d update --blkio-weight 300 --cpu-shares 512 ev2
    [[ "$output" == *"Weight discarded"* ]]
    [ "$(d inspect -f '{{.HostConfig.CpuShares}} {{.HostConfig.BlkioWeight}}' ev2)" = "512 0" ]
  fi
  # The engine's warnings at create reach the client (Docker's Warnings).
  run -0 d run --rm --network host -p 18080:80 busybox true
  [[ "$output" == *"WARNING: published ports are discarded when using host network mode"* ]]
  run -0 d run --rm --cpu-period 40000 --cpu-quota 10000 --memory 64m --memory-reservation 16m busybox sh -c \
    'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us'
  [[ "$output" == *10000*40000* ]]
  run -125 d run --rm --cpus 1 --cpu-quota 5000 busybox true
  [[ "$output" == *"cannot both be set"* ]]
  run -0 d run --rm --oom-score-adj 400 busybox cat /proc/self/oom_score_adj
  [ "$output" = 400 ]
  # --link through the API (HostConfig.Links); a missing container is Docker's 404 line.
  run -0 d run --rm --link ev2:alias busybox ping -c1 -W2 alias
  run -125 d run --rm --link nosuch:alias busybox true
  [[ "$output" == *"could not get container for nosuch"* ]]
  # What berth does not do is refused with its reason, never dropped.
  run -125 d run --rm --storage-opt size=1G busybox true
  [[ "$output" == *"storage-opt"* ]]
  run -125 d run --rm --userns private busybox true
  d rm -f ev2
  run -0 timeout 10 "$DOCKER_CLI" -H "unix://$DD/d.sock" events --since "$t0" --until "$(($(date +%s) + 1))" --filter type=container --format '{{.Action}}'
  [[ "$output" == *create*start*top*pause*unpause*rename*update*die*destroy* ]]
  run -0 d system df
  [[ "$output" == *Images* ]]
  # -v: images as `docker images` names them, with their age (not "56 years ago": Created 0)
  d create --name dfc busybox true
  run -0 d system df -v
  echo "$output"
  [[ "$output" == *"busybox "*"latest "* ]]
  [[ "$output" != *"docker.io/library"* ]]
  [[ "$output" != *"years ago"* ]]
  run -0 api GET /v1.41/system/df
  echo "${lines[0]}" | jq -e '(.Containers[] | select(.Names[0] == "/dfc") | .SizeRootFs > 0) and (.BuilderSize | type == "number")'
  d rm dfc
  d create --name stale busybox true
  run -0 d container prune -f
  [[ "$output" == *"Total reclaimed space"* ]]
  run -1 d inspect stale
  d create --name stale2 busybox true
  run -0 d system prune -f
  [[ "$output" == *"Total reclaimed space"* ]]
  run -1 d inspect stale2
  run -0 d image inspect busybox
}

@test "berthd: one store with berth's CLI" {
  run -0 e run -d --name from-cli busybox sleep 100
  run -0 d ps --format '{{.Names}}' --filter name=from-cli
  [ "$output" = from-cli ]
  run -0 d exec from-cli echo seen
  [ "$output" = seen ]
  run -0 d run -d --name from-docker busybox sleep 100
  run -0 e ps --format '{{.Names}}' --filter name=from-docker
  [ "$output" = from-docker ]
  run -0 e exec from-docker echo seen-too
  [ "$output" = seen-too ]
  d rm -f from-cli from-docker
}

@test "berthd: daemon.json: registry-mirrors (docker.io images from a mirror), log-opts (json-file defaults), default-address-pools" {
  start_registry
  d tag busybox "$REGISTRY/library/busybox:mirrored"
  run -0 d push "$REGISTRY/library/busybox:mirrored"
  d rmi "$REGISTRY/library/busybox:mirrored"
  local M=$DD/mirrored
  mkdir -p "$M"
  printf '{"registry-mirrors": ["http://%s"], "log-driver": "json-file", "log-opts": {"max-size": "1k", "max-file": "2", "compress": "true", "tag": "{{.Name}}"},
           "default-address-pools": [{"base": "10.123.0.0/23", "size": 24}, {"base": "10.124.8.0/24", "size": 25}]}' "$REGISTRY" > "$M/daemon.json"
  "$BERTHD" --root "$M/root" --state "$M/run" -H "unix://$M/d.sock" --config-file "$M/daemon.json" > "$M/berthd.log" 2>&1 3>&- &
  local pid=$!
  track_pid "$pid"
  m() { DOCKER_HOST="unix://$M/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" "$@"; }
  wait_for curl -sf --unix-socket "$M/d.sock" http://d/_ping
  run -0 m info --format '{{.RegistryConfig.Mirrors}}'
  [ "$output" = "[http://$REGISTRY/]" ] || [ "$output" = "[http://$REGISTRY]" ]
  # docker.io/library/busybox:mirrored exists only on the mirror
  run -0 m pull busybox:mirrored
  [[ "$output" == *"Downloaded newer image for busybox:mirrored"* ]]
  # networks get their subnets from the pools, in order
  local i
  for i in 1 2 3 4; do m network create "pool$i" > /dev/null; done
  run -0 m network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' pool1 pool2 pool3 pool4
  [ "$output" = "$(printf '10.123.0.0/24\n10.123.1.0/24\n10.124.8.0/25\n10.124.8.128/25')" ]
  run -1 m network create pool5
  [[ "$output" == *"no free subnet left in the default address pools"* ]]
  run -0 m network rm pool1 pool2 pool3 pool4
  run -0 m run --name logged --network none busybox:mirrored sh -c 'for i in $(seq 1 300); do echo "line $i of a log that rotates"; done'
  run -0 m inspect -f '{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config "max-size"}} {{index .HostConfig.LogConfig.Config "max-file"}}' logged
  [ "$output" = "json-file 1k 2" ]
  run -0 m logs logged
  [ "${#lines[@]}" -lt 300 ]
  [ "${lines[-1]}" = "line 300 of a log that rotates" ]
  # compress and tag from daemon.json: the rotated file gzipped, the tag in every record.
  local lp
  lp=$(m inspect -f '{{.LogPath}}' logged)
  wait_for test -e "$lp.1.gz"
  [ "$(zcat "$lp.1.gz" | head -1 | jq -r .attrs.tag)" = logged ]
  run -0 m logs --details --tail 1 logged
  [ "$output" = "tag=logged line 300 of a log that rotates" ]
  # a container's own log options win, the daemon's fill in the rest (Docker's merge); another
  # driver takes none of them
  run -0 m run --name own --network none --log-opt max-size=5m busybox:mirrored true
  [ "$(m inspect -f '{{json .HostConfig.LogConfig.Config}}' own)" = '{"compress":"true","max-file":"2","max-size":"5m","tag":"{{.Name}}"}' ]
  run -0 m run --name other --network none --log-driver local busybox:mirrored true
  [ "$(m inspect -f '{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}' other)" = 'local {}' ]
  m rm own other >/dev/null
  run -0 m rm logged
  kill -TERM "$pid"; wait "$pid" || true
  grep -q " $M" /proc/self/mountinfo && awk -v d="$M" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf "$M"
  # a log driver berth does not have: berthd does not start
  printf '{"log-driver": "gelf"}' > "$DD/bad.json"
  run -125 "$BERTHD" --root "$DD/root" --state "$DD/run-bad" -H "unix://$DD/bad.sock" --config-file "$DD/bad.json"
  [[ "$output" == *"log-driver \"gelf\" is not supported"* ]]
  # a log option berth does not have, or a bad value: berthd does not start
  printf '{"log-opts": {"labels-regex": "("}}' > "$DD/bad.json"
  run -125 "$BERTHD" --root "$DD/root" --state "$DD/run-bad" -H "unix://$DD/bad.sock" --config-file "$DD/bad.json"
  [[ "$output" == *"log-opts: invalid --log-opt labels-regex"* ]]
  stop_registry
}

@test "berthd: daemon.json userns-remap: docker run is root inside and an unprivileged range outside; docker info says name=userns" {
  local who=berth-test-remapd M=$DD/remapped
  sed -i "/^$who:/d" /etc/subuid /etc/subgid
  echo "$who:400000:65536" >> /etc/subuid
  echo "$who:400000:65536" >> /etc/subgid
  mkdir -p "$M"
  chmod 755 "$DD"  # the container's root (an unprivileged host user) walks down to its rootfs
  printf '{"userns-remap": "%s"}' "$who" > "$M/daemon.json"
  "$BERTHD" --root "$M/root" --state "$M/run" -H "unix://$M/d.sock" --config-file "$M/daemon.json" --cri-socket none > "$M/berthd.log" 2>&1 3>&- &
  local pid=$!
  track_pid "$pid"
  m() { DOCKER_HOST="unix://$M/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" "$@"; }
  wait_for curl -sf --unix-socket "$M/d.sock" http://d/_ping
  d save busybox | m load >/dev/null
  run -0 m info --format '{{json .SecurityOptions}}'
  [[ "$output" == *'"name=userns"'* ]]
  run -0 m run --rm --network none busybox sh -c 'cat /proc/self/uid_map; touch /x && stat -c %u /x'
  [ "$(echo ${lines[0]})" = "0 400000 65536" ]
  [ "${lines[1]}" = 0 ]
  run -0 m run --rm --network none --userns host busybox cat /proc/self/uid_map
  [ "$(echo $output)" = "0 0 4294967295" ]
  run -125 m run --rm --privileged busybox true
  [[ "$output" == *"privileged mode is incompatible with user namespaces"* ]]
  kill -TERM "$pid"; wait "$pid" || true
  awk -v d="$M" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
  rm -rf "$M"
  sed -i "/^$who:/d" /etc/subuid /etc/subgid
}

@test "berthd: daemon.json runtimes: docker run --runtime, info's Runtimes, inspect, exec, top and stop through runc and gVisor; SIGHUP reads them again" {
  local M=$DD/runtimes rts="runc"
  mkdir -p "$M"
  command -v runsc >/dev/null && rts="runc gvisor"
  printf '{"runtimes": {"gvisor": {"path": "runsc", "runtimeArgs": ["--platform=ptrace", "--network=host"]}}}' > "$M/daemon.json"
  "$BERTHD" --root "$DD/root" --state "$M/run" -H "unix://$M/d.sock" --config-file "$M/daemon.json" --cri-socket none > "$M/berthd.log" 2>&1 3>&- &
  local pid=$!
  track_pid "$pid"
  m() { DOCKER_HOST="unix://$M/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" "$@"; }
  wait_for curl -sf --unix-socket "$M/d.sock" http://d/_ping
  run -0 m info --format '{{json .Runtimes}} {{.DefaultRuntime}}'
  echo "$output"
  [[ "$output" == *'"gvisor":{"path":"runsc","runtimeArgs":["--platform=ptrace","--network=host"]}'* ]] ||
    [[ "$output" == *'"gvisor":{"path":"/usr/bin/runsc","runtimeArgs":["--platform=ptrace","--network=host"]}'* ]]
  [[ "$output" == *'"runc":{"path":"'*'/runc"}'* ]]
  [[ "$output" == *" berth" ]]
  for rt in $rts; do
    echo "--- $rt"
    run m run --rm --runtime "$rt" --network none busybox sh -c 'echo hi; exit 3'
    [ "$status" -eq 3 ]
    [ "$output" = hi ]
    m run -d --name "r-$rt" --runtime "$rt" --network none busybox sh -c 'trap "exit 9" TERM; tail -f /dev/null & wait' >/dev/null
    [ "$(m inspect -f '{{.HostConfig.Runtime}}' "r-$rt")" = "$rt" ]
    run -0 m exec "r-$rt" sh -c 'echo in-$0' "$rt"
    [ "$output" = "in-$rt" ]
    run -0 m top "r-$rt"
    [[ "$output" == *tail* ]]
    run -0 m stop "r-$rt"
    [ "$(m inspect -f '{{.State.ExitCode}}' "r-$rt")" = 9 ]
    run -0 m rm "r-$rt"
  done
  run -125 m run --rm --runtime nope --network none busybox true
  [[ "$output" == *"unknown or invalid runtime name: nope"* ]]
  # A path is no runtime name through the API (Docker's rule; berth's CLI takes one): a client
  # cannot have the daemon run a binary of its choosing.
  run -125 m run --rm --runtime "$(command -v runc)" --network none busybox true
  [[ "$output" == *"unknown or invalid runtime name: /"* ]]
  [ -z "$(m ps -aq)" ]
  # SIGHUP reads the runtimes again (Docker's way): a new one is there, a gone one is unknown.
  printf '{"runtimes": {"hup": {"path": "runc", "runtimeArgs": ["--log-format", "json"]}}, "default-runtime": "hup"}' > "$M/daemon.json"
  kill -HUP "$pid"
  wait_for sh -c "curl -s --unix-socket '$M/d.sock' http://d/info | grep -q '\"DefaultRuntime\":\"hup\"'"
  run -0 m info --format '{{json .Runtimes}}'
  [[ "$output" == *'"hup":{"path":"'*'/runc","runtimeArgs":["--log-format","json"]}'* ]]
  [[ "$output" != *gvisor* ]]
  run -0 m run --name r-hup --network none busybox sh -c 'echo via-hup'
  [ "$output" = via-hup ]
  [ "$(m inspect -f '{{.HostConfig.Runtime}}' r-hup)" = hup ]
  m rm r-hup >/dev/null
  run -125 m run --rm --runtime gvisor --network none busybox true
  [[ "$output" == *"unknown or invalid runtime name: gvisor"* ]]
  # A bad file: the old configuration stays, said in the log.
  echo '{"runtimes": {"berth": {"path": "runc"}}}' > "$M/daemon.json"
  kill -HUP "$pid"
  wait_for grep -q "reload: .*the old configuration stays" "$M/berthd.log"
  [ "$(curl -s --unix-socket "$M/d.sock" http://d/info | jq -r .DefaultRuntime)" = hup ]
  kill -TERM "$pid"; wait "$pid" || true
  ! grep -q Sanitizer "$M/berthd.log" || false
  rm -rf "$M"
}

# same ARGS: the command through the docker CLI and through berth's CLI: the same output
# (stdout and stderr, an error's "Error:"/"berth:" prefix aside) and the same exit code.
same() {
  local a b ra=0 rb=0
  a=$(d "$@" 2>&1) || ra=$?
  b=$(e "$@" 2>&1) || rb=$?
  # the docker CLI's wrapping of a daemon's error, and its log line when a run's start fails
  a=$(sed -e '/Error response from daemon: /{s/^docker: //;s/Error response from daemon: //;s/\.$//}' \
          -e '/level=error msg="error waiting for container: context canceled"/d' <<< "$a")
  a=${a//Error: /}; a=${a//berth: /}; b=${b//berth: /}; b=${b//Error: /}
  if [ "$a" != "$b" ] || [ "$ra" != "$rb" ]; then
    echo "differs: $* (docker CLI → $ra, berth → $rb)"
    diff <(echo "$a") <(echo "$b")
    return 1
  fi
}

@test "berthd: the docker CLI and berth's CLI give the same answers, line for line" {
  port=$(free_port)
  d run -d --name same1 -l a=b -e X=1 -p "127.0.0.1:$port:80" busybox sleep 100
  same run --rm busybox echo hi
  same run --rm busybox sh -c 'exit 3'
  same run --rm busybox nothere
  same run --rm -e A=1 -w /tmp -u 1:1 busybox sh -c 'echo $A $(pwd) $(id -u)'
  same ps --filter name=same1 --format '{{.Names}} {{.Image}} {{.Command}} {{.Labels}} {{.Ports}}'
  same ps -a --filter label=a=b --format '{{.Names}} {{.State}}'
  # (The default network's name differs by design: Docker's `bridge` to the API's clients,
  # berth's own `berth` to its CLI, as Podman's is `podman`.)
  same inspect -f '{{.Name}} {{.Config.Image}} {{.State.Status}} {{.State.Running}} {{.Config.Env}} {{.Config.Labels}}' same1
  same inspect -f '{{json .NetworkSettings.Ports}}' same1
  same exec same1 sh -c 'echo $X'
  same exec -u 1 same1 id -u
  same exec same1 nothere
  same exec same1 sh -c 'exit 4'
  same port same1
  same port same1 80/tcp
  same logs same1
  same images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  same image inspect -f '{{.Id}} {{.Os}} {{.Architecture}} {{json .Config.Cmd}} {{json .Config.Env}}' busybox
  same network ls --format '{{.Driver}} {{.Scope}}'
  same volume ls --format '{{.Name}}'
  same inspect nothere
  same rm nothere
  same stop nothere
  d stop -t 1 same1
  same ps -a --filter name=same1 --format '{{.Names}} {{.State}}'
  same inspect -f '{{.State.ExitCode}} {{.State.Running}}' same1
  d rm same1
}

@test "berthd: malformed and hostile requests get a 4xx and berthd keeps serving" {
  run -0 api POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image": "busybox", "Cmd": ["true"'
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *message* ]]
  run -0 api POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": "lots"}}'
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"HostConfig.Memory"* ]]
  run -0 api GET /v1.41/nothing/here
  [ "${lines[-1]}" = 404 ]
  run -0 api PUT /v1.41/containers/json
  [ "${lines[-1]}" = 405 ]
  run -0 api GET /v1.99/version
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"too new"* ]]
  run -0 api GET /v1.41/containers/json -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' a)"
  [ "${lines[-1]}" = 431 ]
  run -0 api POST /v1.41/containers/create?name=../../x -H 'Content-Type: application/json' -d '{"Image":"busybox","Cmd":["true"]}'
  [ "${lines[-1]}" = 400 ]
  run -0 api POST /v1.41/containers/create -H 'Content-Type: application/json' -d '{"Image":"nothere:1"}'
  [ "${lines[-1]}" = 404 ]
  [[ "$output" == *"No such image"* ]]
  # Values Docker's daemon refuses at create are refused there (they published a random port
  # for HostPort "abc", or failed only at start), each with its line; nothing is created.
  local h
  while IFS='|' read -r h want; do
    run -0 api POST /v1.41/containers/create -H 'Content-Type: application/json' -d "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],$h}"
    echo "$h: $output"
    [ "${lines[-1]}" = 400 ]
    [[ "${lines[0]}" == *"$want"* ]]
  done <<'CASES'
"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"abc"}]}}|invalid port specification: \"abc\"
"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"70000"}]}}|invalid port specification: \"70000\"
"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"8010-8000"}]}}|invalid port specification: \"8010-8000\"
"HostConfig":{"PortBindings":{"80/xyz":[{"HostPort":"8000"}]}}|invalid port specification: \"80/xyz\"
"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"::1","HostPort":"8000"}]}}|HostIp ::1: berth publishes ports on IPv4 addresses only
"ExposedPorts":{"99999/tcp":{}}|invalid port specification: \"99999/tcp\"
"HostConfig":{"ShmSize":-1}|SHM size can not be less than 0
"HostConfig":{"Ulimits":[{"Name":"nofile","Soft":10,"Hard":5}]}|ulimit soft limit must be less than or equal to hard limit
"HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}|maximum retry count cannot be used with restart policy 'always'
"HostConfig":{"CpusetCpus":"0-4096"}|Requested CPUs are not available - requested 0-4096, available:
"HostConfig":{"CpusetCpus":"1-x"}|invalid value 1-x for cpuset cpus
CASES
  # and at update: the container keeps what it had
  d create --name upd --cpuset-cpus 0 busybox true >/dev/null
  run -1 d update --cpuset-cpus 0-4096 upd
  [[ "$output" == *"Requested CPUs are not available"* ]]
  [ "$(d inspect -f '{{.HostConfig.CpusetCpus}}' upd)" = 0 ]
  d rm upd >/dev/null
  # a build context that is not a tar (3 MB of noise): 400 with the reason, nothing kept
  head -c 3000000 /dev/urandom > "$DD/context.tar"
  run -0 api POST /v1.41/build --data-binary @"$DD/context.tar" -H 'Content-Type: application/x-tar'
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"the build context"* ]]
  [ -z "$(ls -A "$DD/root/build")" ]
  rm -f "$DD/context.tar"
  # garbage instead of HTTP, a client that sends half a header and goes away
  run -0 raw 'NOT HTTP AT ALL\r\n\r\n'
  [[ "$output" == "HTTP/1.1 400"* ]]
  run -0 raw 'GET /_ping HTTP/1.1\r\nHost: d\r\n' 1
  # a keep-alive connection serves several requests
  run -0 raw 'GET /_ping HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n'
  [ "$(grep -c 'HTTP/1.1 200' <<< "$output")" = 2 ]
  run -0 d ps -aq
  [ -z "$output" ]
  run -0 d version --format '{{.Server.APIVersion}}'
}

@test "berthd: clients that go away mid-stream (logs -f, attach, events, wait, stats) leave no thread behind" {
  pid=$(cat "$DD/berthd.test-pid")
  run -0 d run -d --name chatty busybox sh -c 'while true; do echo tick; sleep 0.1; done'
  sleep 0.5
  base=$(ls /proc/$pid/task | wc -l)
  timeout -s KILL 1 "$DOCKER_CLI" -H "unix://$DD/d.sock" logs -f chatty > /dev/null || true
  timeout -s KILL 1 "$DOCKER_CLI" -H "unix://$DD/d.sock" attach chatty > /dev/null || true
  timeout -s KILL 1 "$DOCKER_CLI" -H "unix://$DD/d.sock" events > /dev/null || true
  timeout -s KILL 1 "$DOCKER_CLI" -H "unix://$DD/d.sock" wait chatty > /dev/null || true
  timeout -s KILL 1 "$DOCKER_CLI" -H "unix://$DD/d.sock" stats chatty > /dev/null || true
  # every worker of those requests ends (the polls wake on the hang-up)
  wait_for bash -c "[ \$(ls /proc/$pid/task | wc -l) -le $base ]"
  # and the container did not notice
  run -0 d inspect -f '{{.State.Running}}' chatty
  [ "$output" = true ]
  d rm -f chatty
}

@test "berthd: the end of an attached client's stdin ends the attachment without StdinOnce (Docker's), closes the container's stdin with it" {
  # run -d -i: StdinOnce false. A program that writes, half-closes and reads to EOF got its EOF
  # only when the container ended.
  run -0 d run -d -i --name keep busybox sh -c 'read l; echo "got $l"; sleep 3; echo late; cat; echo after-eof'
  cat > "$DD/attach.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
s.sendall(b"POST /containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n" % sys.argv[2].encode())
head = b""
while b"\r\n\r\n" not in head: head += s.recv(1)
t0 = time.time()
s.sendall(b"x\n"); s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b: break
    out += b
print("%.1f %s" % (time.time() - t0, b"late" in out))
PY
  run -0 /usr/bin/python3 "$DD/attach.py" "$DD/d.sock" keep
  echo "$output"
  [[ "$output" == *" False" ]]
  [ "${output%% *}" \< 2.5 ]
  # The container's stdin stays open: it still runs (cat waits for the next attachment).
  sleep 3.5
  run -0 d inspect -f '{{.State.Running}}' keep
  [ "$output" = true ]
  run -0 d logs keep
  [ "$output" = "$(printf 'got x\nlate')" ]
  d rm -f keep
  # run -i in the foreground (StdinOnce): the end of stdin closes the container's stdin, and
  # its output goes on to its exit.
  run -0 bash -c "printf 'y\n' | DOCKER_HOST=unix://$DD/d.sock DOCKER_CONFIG=$DD/docker-config $DOCKER_CLI run -i --rm busybox sh -c 'read l; echo got \$l; cat; echo after-eof'"
  [ "$output" = "$(printf 'got y\nafter-eof')" ]
}

@test "berthd: 50 clients at once, each a run --rm" {
  local pids=()  # waited for by pid (a bare `wait` also waits for bats's timeout watchdog)
  for i in $(seq 1 50); do
    (DOCKER_HOST="unix://$DD/d.sock" "$DOCKER_CLI" run --rm busybox echo "c$i" > "$DD/par.$i" 2>&1; echo $? >> "$DD/par.$i") &
    pids+=($!)
  done
  wait "${pids[@]}"
  for i in $(seq 1 50); do
    [ "$(cat "$DD/par.$i")" = "$(printf 'c%s\n0' "$i")" ] || { cat "$DD/par.$i"; false; }
  done
  run -0 d ps -aq
  [ -z "$output" ]
  # What berthd starts and leaves to run (`network fill` of the spares) is reaped when it ends:
  # no zombie gathers under the daemon.
  no_zombie_under_berthd
}

@test "berthd: docker run --security-opt seccomp=PROFILE (the CLI sends the profile's JSON)" {
  echo '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}' > "$DD/prof.json"
  run d run --rm --security-opt "seccomp=$DD/prof.json" busybox sh -c 'mkdir /made || echo refused'
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *refused* ]]
  run -0 d run --rm busybox sh -c 'mkdir /made && echo made'
  [ "$output" = made ]
}

@test "berthd: --mac-address (API 1.41's Config.MacAddress) and --ip reach the interface; on no network of its own they are refused" {
  run -0 d run --rm --mac-address 02:42:0a:4d:00:99 busybox cat /sys/class/net/eth0/address
  [ "$output" = 02:42:0a:4d:00:99 ]
  d network create --subnet 172.29.7.0/24 macnet >/dev/null
  run -0 d run --rm --network macnet --mac-address 02:42:0a:4d:00:98 --ip 172.29.7.77 busybox sh -c 'cat /sys/class/net/eth0/address; ip -4 -o addr show eth0'
  [ "${lines[0]}" = 02:42:0a:4d:00:98 ]
  [[ "${lines[1]}" == *"172.29.7.77/24"* ]]
  run d run --rm --network none --ip 10.9.9.9 busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"user specified IP address is supported on user defined networks only"* ]]
  run d run --rm --network none --mac-address 02:42:0a:4d:00:97 busybox true
  [ "$status" -eq 125 ]
  # container: mode takes the other's names: --hostname conflicts (Docker's), --dns-search not
  d run -d --name nsowner --network none busybox sleep 100 >/dev/null
  run d run --rm --network container:nsowner --hostname mine busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"conflicting options: hostname and the network mode"* ]]
  run -0 d run --rm --network container:nsowner --dns-search example.test busybox true
  d rm -f nsowner >/dev/null
  run d run --rm --network bridge --ip 10.77.0.99 busybox true
  [ "$status" -eq 125 ]
  [[ "$output" == *"user specified IP address is supported on user defined networks only"* ]]
  d network rm macnet >/dev/null
  # --ip-range (IPAM.Config[].IPRange): picked from; inspect shows it.
  d network create --subnet 172.29.8.0/24 --ip-range 172.29.8.128/25 rangenet >/dev/null
  [ "$(d network inspect -f '{{range .IPAM.Config}}{{.IPRange}}{{end}}' rangenet)" = 172.29.8.128/25 ]
  run -0 d run --rm --network rangenet busybox ip -4 -o addr show eth0
  [[ "$output" == *"inet 172.29.8.129/24"* ]]  # .128, the range's first, is the gateway (Docker's)
  d network rm rangenet >/dev/null
}

@test "berthd: a container in its restart policy's backoff: stop and kill end the restarts, rm without -f is refused" {
  for verb in stop kill; do
    d run -d --name loop --network none --restart always busybox sh -c 'sleep 0.3; exit 0' >/dev/null
    wait_for sh -c "[ \"\$(DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI inspect -f '{{.State.Status}}' loop)\" = restarting ]"
    # Docker's: running while restarting too (one read: it may have started again meanwhile)
    st=$(d inspect -f '{{.State.Status}} {{.State.Running}} {{.State.Restarting}}' loop)
    [ "$st" = "restarting true true" ] || [ "$st" = "running true false" ]
    run -0 d $verb loop
    sleep 2
    run -0 d inspect -f '{{.State.Status}}' loop
    echo "$verb: $output"
    [ "$output" = exited ]
    d rm loop >/dev/null
  done
  # rm: a container that ends at once spends its time in the backoff, which doubles with each
  # restart (100 ms, 200 ms, …): from the fifth on, seconds between runs of milliseconds.
  d run -d --name loop --network none --restart always busybox true >/dev/null
  wait_for sh -c "[ \"\$(DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI inspect -f '{{.RestartCount}}' loop)\" -ge 5 ]"
  wait_for sh -c "[ \"\$(DOCKER_HOST=unix://$DD/d.sock $DOCKER_CLI inspect -f '{{.State.Status}}' loop)\" = restarting ]"
  run d rm loop
  local rc=$status out=$output
  run -0 d rm -f loop  # first: nothing left for the next tests whatever the checks say
  echo "$rc: $out"
  [ "$rc" -eq 1 ]
  [[ "$out" == *"You cannot remove a restarting container"* ]]
  ! pgrep -f "berth-shim $DD/" || false
}

@test "berthd: docker start -a gives the exit code of the run it started, not the last one's" {
  run d run --name again --network none busybox sh -c 'if [ -f /marker ]; then sleep 1; echo second; exit 5; fi; touch /marker; exit 3'
  [ "$status" -eq 3 ]
  run d start -a again
  [ "$output" = second ]
  [ "$status" -eq 5 ]
  # A next-exit wait on a container nobody starts waits (Docker's), whatever the last exit.
  run timeout 2 curl -s --unix-socket "$DD/d.sock" -X POST "http://d/v1.41/containers/again/wait?condition=next-exit"
  [ "$status" -eq 124 ]
  d rm again >/dev/null
}

@test "berthd: docker stop -t -1 sends no SIGKILL; a plain stop keeps the container's --stop-timeout" {
  d run -d --name slowstop --stop-timeout 1 busybox sh -c 'trap "sleep 3; exit 7" TERM; echo ready; while true; do sleep 0.1; done' >/dev/null
  for i in $(seq 50); do d logs slowstop 2>/dev/null | grep -q ready && break; sleep 0.1; done
  d stop -t -1 slowstop >/dev/null
  [ "$(d inspect -f '{{.State.ExitCode}}' slowstop)" = 7 ]
  d start slowstop >/dev/null
  sleep 0.5
  d stop slowstop >/dev/null
  [ "$(d inspect -f '{{.State.ExitCode}}' slowstop)" = 137 ]
  d rm slowstop >/dev/null
}

@test "berthd: starts that fail after their shim was started ahead leave no shim and no zombie under the daemon" {
  d create --name stopped-owner --network none busybox sleep 100 >/dev/null
  for i in 1 2 3 4 5; do
    run d run --rm --network container:stopped-owner busybox true
    [ "$status" -ne 0 ]
    [[ "$output" == *"cannot join the network of container stopped-owner: it is not running"* ]]
  done
  d rm stopped-owner >/dev/null
  ! pgrep -f "berth-shim $DD/" || false
  run -0 d ps -aq
  [ -z "$output" ]
  no_zombie_under_berthd
}

@test "berthd: killed -9 and restarted, its containers ran on; an exit during the outage is reported" {
  run -0 d run -d --name survivor busybox sh -c 'trap "exit 0" TERM; while true; do echo tick; sleep 0.2; done'
  # A client waiting on berthd when it dies gets its EOF, even when a container was started
  # meanwhile (its monitor inherited the daemon's open connections and held them).
  curl -s --unix-socket "$DD/d.sock" -X POST "http://d/containers/survivor/wait" > /dev/null 2>&1 &
  local waiter=$!
  sleep 0.3
  run -0 d run -d --name witness busybox sleep 100
  run -0 d run -d --name shortlived busybox sh -c 'sleep 1; exit 3'
  # Restart policies as Docker's daemon applies them when it comes up: `always` starts again
  # (after a user's stop too), `unless-stopped` only when no user stopped it.
  local phoenix
  phoenix=$(d run -d --name phoenix --restart always busybox sleep 100)
  run -0 d run -d --name held --restart unless-stopped busybox sleep 100
  run -0 d run -d --name again --restart always busybox sleep 100
  run -0 d stop -t 0 held again
  kill -9 "$(cat "$DD/berthd.test-pid")"
  # While berthd is down, phoenix's monitor dies and takes it along (as a host's crash would).
  kill -9 "$(cut -d' ' -f1 "$DD/run/default/containers/$phoenix/shim.pid")"
  sleep 1.5
  ! kill -0 "$waiter" 2>/dev/null || { kill "$waiter"; false; }
  rm -f "$DD/berthd.test-pid"
  start_berthd
  local i
  for i in $(seq 1 100); do grep -q "autostart: started again" "$DD/berthd.log" && break; sleep 0.05; done
  grep "autostart: started phoenix (restart policy)" "$DD/berthd.log"
  run -0 d inspect -f '{{.Name}} {{.State.Status}}' phoenix again held shortlived
  [ "$output" = "$(printf '/phoenix running\n/again running\n/held exited\n/shortlived exited')" ]
  ! grep -q "autostart: .*held" "$DD/berthd.log"
  d rm -f phoenix again held witness
  run -0 d inspect -f '{{.State.Status}}' survivor
  [ "$output" = running ]
  run -0 d inspect -f '{{.State.Status}} {{.State.ExitCode}}' shortlived
  [ "$output" = "exited 3" ]
  run -0 d exec survivor echo still-here
  [ "$output" = still-here ]
  run -0 d logs --tail 1 survivor
  [ "$output" = tick ]
  run -0 d stop -t 5 survivor
  run -0 d inspect -f '{{.State.ExitCode}}' survivor
  [ "$output" = 0 ]
  d rm survivor shortlived
}

@test "berthd: a container whose shim is killed is started again by its restart policy, as Docker's restart manager does" {
  local a n u
  a=$(d run -d --name mon-always --restart always busybox sleep 100)
  n=$(d run -d --name mon-none busybox sleep 100)
  u=$(d run -d --name mon-stopped --restart unless-stopped busybox sleep 100)
  run -0 d stop -t 0 mon-stopped
  local first
  first=$(d inspect -f '{{.State.Pid}}' mon-always)
  kill -9 "$(cut -d' ' -f1 "$DD/run/default/containers/$a/shim.pid")" "$(cut -d' ' -f1 "$DD/run/default/containers/$n/shim.pid")"
  # No command looks: berthd sees the shims end and starts the one whose policy wants it.
  local i
  for i in $(seq 1 100); do grep -q "mon-always: its monitor died" "$DD/berthd.log" && break; sleep 0.1; done
  grep "container mon-always: its monitor died (the container's monitor (berth-shim) died; the container was killed): started again (restart policy always)" "$DD/berthd.log"
  run -0 d inspect -f '{{.State.Status}} {{.RestartCount}}' mon-always
  [[ "$output" == "running "* ]]
  [ "$(d inspect -f '{{.State.Pid}}' mon-always)" != "$first" ]
  run -0 d exec mon-always echo again
  [ "$output" = again ]
  run -0 d inspect -f '{{.State.Status}} {{.State.ExitCode}}' mon-none mon-stopped
  [ "$output" = "$(printf 'exited 137\nexited 137')" ] || [ "$output" = "$(printf 'exited 137\nexited 0')" ]
  ! grep -q "mon-none: its monitor died\|mon-stopped: its monitor died" "$DD/berthd.log" || false
  # A user's stop is still a stop: the watch does not start it again.
  run -0 d stop -t 0 mon-always
  sleep 1
  run -0 d inspect -f '{{.State.Status}}' mon-always
  [ "$output" = exited ]
  d rm -f mon-always mon-none mon-stopped
}

@test "berthd: SIGTERM leaves containers running; a second berthd and plain TCP are refused" {
  run -1 "$BERTHD" --root "$DD/root" --state "$DD/run" -H "unix://$DD/other.sock"
  [[ "$output" == *"another berthd serves"* ]]
  run -125 "$BERTHD" --root "$DD/root2" --state "$DD/run2" -H tcp://127.0.0.1:2375
  [[ "$output" == *"only with TLS client verification"* ]]
  run -125 "$BERTHD" --root "$DD/root2" --state "$DD/run2" -H tcp://127.0.0.1:2375 --tlsverify --tlscert /dev/null
  [[ "$output" == *"needs --tlscacert"* ]]
  [ ! -e "$DD/run2" ]
  run -0 d run -d --name keeps busybox sleep 100
  stop_berthd
  [ ! -S "$DD/d.sock" ]
  run -0 e ps --format '{{.Names}} {{.State}}' --filter name=keeps
  [ "$output" = "keeps running" ]
  start_berthd
  run -0 d inspect -f '{{.State.Running}}' keeps
  [ "$output" = true ]
  # the socket is root's and its group's only
  [ "$(stat -c %a "$DD/d.sock")" = 660 ]
  d rm -f keeps
}

# make_certs DIR: a CA, a server certificate for 127.0.0.1 and a client certificate it signed
# (Docker's file names: ca.pem, cert.pem, key.pem for the client), and a client certificate
# another CA signed.
make_certs() {
  local c=$1
  mkdir -p "$c"
  (
    cd "$c"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 1 -subj /CN=berth-test-ca
    openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 1 -extfile server.ext
    printf 'extendedKeyUsage=clientAuth\n' > client.ext
    openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=client
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 1 -extfile client.ext
    openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca-key.pem -out other-ca.pem -days 1 -subj /CN=other
    openssl req -newkey rsa:2048 -nodes -keyout other-key.pem -out other.csr -subj /CN=intruder
    openssl x509 -req -in other.csr -CA other-ca.pem -CAkey other-ca-key.pem -CAcreateserial -out other-cert.pem -days 1 -extfile client.ext
  ) > /dev/null 2>&1
}

@test "berthd: TCP with TLS client verification: the docker CLI with its certificate works, others are dropped" {
  local c=$DD/certs port
  make_certs "$c"
  port=$(free_port)
  "$BERTHD" --root "$DD/root" --state "$DD/run-tls" -H "unix://$DD/tls.sock" -H "tcp://127.0.0.1:$port" \
    --tlsverify --tlscacert "$c/ca.pem" --tlscert "$c/server-cert.pem" --tlskey "$c/server-key.pem" \
    --config-file "$DD/daemon.json" > "$DD/berthd-tls.log" 2>&1 3>&- &
  local pid=$!
  track_pid "$pid"
  wait_for curl -sf --cacert "$c/ca.pem" --cert "$c/cert.pem" --key "$c/key.pem" "https://127.0.0.1:$port/_ping"
  t() { DOCKER_HOST="tcp://127.0.0.1:$port" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$c" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" "$@"; }
  run -0 t version --format '{{.Server.APIVersion}}'
  [ "$output" = 1.41 ]
  run -0 t run --rm busybox echo over-tls
  [ "$output" = over-tls ]
  run -3 t run --rm busybox sh -c 'exit 3'
  # stdin through the hijacked stream, closed by the client (close_notify): output goes on
  run -0 bash -c "printf 'one\ntwo\n' | DOCKER_HOST=tcp://127.0.0.1:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c $DOCKER_CLI run --rm -i busybox sh -c 'cat; sleep 0.2; echo after-eof'"
  [ "$output" = "$(printf 'one\ntwo\nafter-eof')" ]
  run -0 t run -d --name tlsc busybox sleep 100
  run -0 bash -c "echo via-exec | DOCKER_HOST=tcp://127.0.0.1:$port DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$c $DOCKER_CLI exec -i tlsc cat"
  [ "$output" = via-exec ]
  run -0 t logs tlsc
  run -0 t rm -f tlsc
  # no client certificate, one another CA signed, plain HTTP: no answer from the API
  run curl -s --cacert "$c/ca.pem" -w '%{http_code}' "https://127.0.0.1:$port/_ping"
  [ "$status" -ne 0 ]
  [ "$output" = 000 ]
  run curl -s --cacert "$c/ca.pem" --cert "$c/other-cert.pem" --key "$c/other-key.pem" -w '%{http_code}' "https://127.0.0.1:$port/_ping"
  [ "$status" -ne 0 ]
  [ "$output" = 000 ]
  run curl -s -w '%{http_code}' "http://127.0.0.1:$port/_ping"
  [ "$status" -ne 0 ]
  [ "$output" = 000 ]
  run -0 curl -s --cacert "$c/ca.pem" --cert "$c/cert.pem" --key "$c/key.pem" "https://127.0.0.1:$port/_ping"
  [ "$output" = OK ]
  # the rejected handshakes and closed sessions left no descriptor behind
  local fds; fds=$(ls /proc/$pid/fd | wc -l)
  for i in 1 2 3 4 5; do curl -s --cacert "$c/ca.pem" "https://127.0.0.1:$port/_ping" >/dev/null || true; done
  for i in 1 2 3; do t ps -q >/dev/null; done
  fds_back() { [ "$(ls /proc/$pid/fd | wc -l)" -le "$fds" ]; }
  wait_for fds_back  # each session closes once both its ends have (asynchronously)
  # a key that is not the certificate's is refused at start
  run -1 "$BERTHD" --root "$DD/root" --state "$DD/run-tls2" -H "tcp://127.0.0.1:$(free_port)" \
    --tlsverify --tlscacert "$c/ca.pem" --tlscert "$c/server-cert.pem" --tlskey "$c/key.pem" --config-file "$DD/daemon.json"
  [[ "$output" == *"is not the key of"* ]]
  [ ! -e "$DD/run-tls2/berthd.pid" ]
  # a port in use: refused, and the unix socket made before it is gone again
  run -1 "$BERTHD" --root "$DD/root" --state "$DD/run-tls2" -H "unix://$DD/tls2.sock" -H "tcp://127.0.0.1:$port" \
    --tlsverify --tlscacert "$c/ca.pem" --tlscert "$c/server-cert.pem" --tlskey "$c/server-key.pem" --config-file "$DD/daemon.json"
  [[ "$output" == *"Address already in use"* ]]
  [ ! -e "$DD/tls2.sock" ]
  [ ! -e "$DD/run-tls2/berthd.pid" ]
  kill -TERM "$pid"
  wait "$pid"
  ! grep -q Sanitizer "$DD/berthd-tls.log" || false
}

# A newer docker CLI than Debian's (28.x at /usr/local/bin here): it negotiates down to 1.41.
newer_docker() {
  local c
  for c in "${BERTH_DOCKER_NEW:-}" /usr/local/bin/docker; do
    [ -n "$c" ] && [ -x "$c" ] && [ "$c" != "$DOCKER_CLI" ] || continue
    local v; v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1) || continue
    [ "${v:-0}" -ge 23 ] 2>/dev/null && { echo "$c"; return 0; }
  done
  return 1
}

@test "berthd: remote build contexts (remote=): compose builds a git URL, docker-py a tar URL; a bad remote is a 400" {
  local repo=$DD/rsrc www=$DD/rwww
  mkdir -p "$repo" "$www"
  git init -q -b main "$repo"
  printf 'FROM busybox\nCOPY msg /msg\nCMD ["cat", "/msg"]\n' > "$repo/Dockerfile"
  echo from-git > "$repo/msg"
  git -C "$repo" add -A
  git -C "$repo" -c user.name=t -c user.email=t@t commit -qm one
  git clone -q --bare "$repo" "$www/repo.git"
  git -C "$www/repo.git" update-server-info
  printf 'FROM busybox\nCMD ["echo", "from-tar"]\n' > "$repo/Dockerfile.tar"
  tar -C "$repo" -cf "$www/ctx.tar" --transform 's/Dockerfile.tar/Dockerfile/' Dockerfile.tar
  port=$(free_port)
  (cd "$www" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  track_pid $!
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/repo.git/HEAD" >/dev/null && break; sleep 0.1; done
  if command -v docker-compose >/dev/null; then
    mkdir -p "$DD/rproj"
    printf 'version: "3"\nservices:\n  app:\n    build: http://127.0.0.1:%s/repo.git#main\n    image: gitbuilt:1\n' "$port" > "$DD/rproj/docker-compose.yml"
    run -0 env DOCKER_HOST="unix://$DD/d.sock" docker-compose -f "$DD/rproj/docker-compose.yml" build
    run -0 d run --rm gitbuilt:1
    [ "$output" = from-git ]
    d rmi gitbuilt:1 >/dev/null
  fi
  run -0 env DOCKER_HOST="unix://$DD/d.sock" PORT="$port" /usr/bin/python3 -c '
import docker, os
c = docker.from_env()
img, _ = c.images.build(path="http://127.0.0.1:%s/ctx.tar" % os.environ["PORT"], tag="tarbuilt:1")
print(c.containers.run("tarbuilt:1", remove=True).decode().strip())
'
  [ "$output" = from-tar ]
  d rmi tarbuilt:1 >/dev/null
  run api POST "/v1.41/build?remote=file:///etc"
  [ "${lines[-1]}" = 400 ]
  run api POST "/v1.41/build?remote=http://127.0.0.1:$port/repo.git%23nosuchref"
  [ "${lines[-1]}" = 400 ]
  [[ "$output" == *"git context"* ]]
  [ -z "$(ls -A "$DD/root/build")" ]
}

@test "berthd: search (a registry's v1 search, as Docker's), plugin ls (none), swarm objects (not a swarm node)" {
  local www=$DD/swww
  mkdir -p "$www/v1"
  cat > "$www/v1/search" <<'JSON'
{"num_results": 3, "query": "busy", "results": [
 {"name": "library/busybox", "description": "Busybox base image, a description long enough to be cut short.", "star_count": 3000, "is_official": true, "is_automated": false},
 {"name": "someone/busybox-tools", "description": "tools", "star_count": 12, "is_official": false, "is_automated": true},
 {"name": "other/busy", "description": "line\nbreak", "star_count": 1, "is_official": false, "is_automated": false}]}
JSON
  port=$(free_port)
  (cd "$www" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  track_pid $!
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/v1/search" >/dev/null && break; sleep 0.1; done
  run -0 d search "127.0.0.1:$port/busy"
  echo "$output"
  [ "${lines[0]}" = "NAME                    DESCRIPTION                                     STARS     OFFICIAL   AUTOMATED" ]
  [[ "${lines[1]}" == "library/busybox         Busybox base image, a description long enoug…   3000      [OK]"* ]]
  [ "${#lines[@]}" -eq 4 ]
  # berth's CLI prints the same table.
  [ "$(e search "127.0.0.1:$port/busy")" = "$output" ]
  run -0 d search --filter is-official=true --format '{{.Name}} {{.StarCount}}' "127.0.0.1:$port/busy"
  [ "$output" = "library/busybox 3000" ]
  run -0 d search --filter stars=10 --limit 1 --format '{{.Name}}' "127.0.0.1:$port/busy"
  [ "$output" = "library/busybox" ]
  # berth's CLI: the same lines.
  [ "$(e search --filter is-automated=true --format '{{.Name}}|{{.IsAutomated}}' "127.0.0.1:$port/busy")" = "someone/busybox-tools|[OK]" ]
  run e search --filter color=blue "127.0.0.1:$port/busy"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  run e search "127.0.0.1:1/busy"
  [ "$status" -ne 0 ]
  [ "${#lines[@]}" -eq 1 ]
  run -0 d plugin ls
  [ "${#lines[@]}" -eq 1 ]
  run d secret ls
  [ "$status" -ne 0 ]
  [[ "$output" == *"not a swarm manager"* ]]
}

@test "berthd: a newer docker CLI (28.x) negotiates API 1.41 and works the same" {
  local D; D=$(newer_docker) || skip "no docker CLI newer than Debian's here"
  n() { DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$D" "$@"; }
  run -0 n version --format '{{.Server.APIVersion}}'
  [ "$output" = 1.41 ]
  run -0 n run --rm busybox echo new-cli
  [ "$output" = new-cli ]
  run -7 n run --rm busybox sh -c 'exit 7'
  run -127 n run --rm busybox nothere
  run -0 n run -d --name n28 -l k=v busybox sleep 100
  run -0 bash -c "echo piped | DOCKER_HOST=unix://$DD/d.sock DOCKER_CONFIG=$DD/docker-config $D exec -i n28 cat"
  [ "$output" = piped ]
  run -0 n ps --filter label=k=v --format '{{.Names}} {{.Label "k"}}'
  [ "$output" = "n28 v" ]
  echo from-host > "$DD/n28.txt"
  run -0 n cp "$DD/n28.txt" n28:/tmp/
  run -0 n exec n28 cat /tmp/n28.txt
  [ "$output" = from-host ]
  run -0 n stats --no-stream --format '{{.Name}}' n28
  [ "$output" = n28 ]
  run -0 n rm -f n28
  run -0 n network create net28
  run -0 n network rm net28
  run -0 n volume create vol28
  run -0 n volume rm vol28
  run -0 n system df
  # the legacy builder, the Dockerfile on stdin
  run -0 bash -c "printf 'FROM busybox\nRUN echo built-by-28 > /b\n' | DOCKER_HOST=unix://$DD/d.sock DOCKER_BUILDKIT=0 $D build -t built28 -"
  [[ "$output" == *"Successfully tagged built28:latest"* ]]
  run -0 n run --rm built28 cat /b
  [ "$output" = built-by-28 ]
  run -0 n rmi built28
}

@test "berthd: docker-compose up, ps, logs, exec, scale, restart, down -v leaves nothing" {
  command -v docker-compose >/dev/null || skip "docker-compose is not installed"
  cp -r "$SRC/tests/system/compose" "$DD/proj"
  cd "$DD/proj"
  export WEB_PORT=$(free_port)
  dc() { DOCKER_HOST="unix://$DD/d.sock" timeout 120 docker-compose -p bproj "$@"; }
  run -0 dc up -d
  run -0 dc ps --services
  [ "$output" = "$(printf 'client\nweb')" ] || [ "$output" = "$(printf 'web\nclient')" ]
  # up waited for the web server's health check before it started the client.
  run -0 d inspect -f '{{.State.Health.Status}}{{range .State.Health.Log}} {{.ExitCode}}:{{.Output}}{{end}}' bproj_web_1
  [[ "$output" == "healthy "*" 0:up" ]]
  run -0 d ps --filter name=bproj_web_1 --filter health=healthy --format '{{.Status}}'
  [[ "$output" == "Up "*" (healthy)" ]]
  wait_for curl -sf "http://127.0.0.1:$WEB_PORT/"
  run -0 curl -s "http://127.0.0.1:$WEB_PORT/"
  [ "$output" = "hello from compose" ]
  # the client reaches the web service by its name, through the shared volume
  wait_for dc exec -T client cat /data/got
  run -0 dc exec -T client cat /data/got
  [ "$output" = "hello from compose" ]
  # links: the alias, and a one-off run (compose links it to the service's running containers)
  run -0 dc exec -T client ping -c1 -W2 webalias
  run -0 dc run --rm -T client sh -c 'ping -c1 -W2 webalias && grep -c client /etc/hosts'
  # the project network's DNS server (127.0.0.11): the service name, as compose users rely on
  # (nginx's `resolver 127.0.0.11`, nslookup); the address is web's on that network
  web_ip=$(d inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' bproj_web_1)
  run -0 dc exec -T client sh -c 'head -1 /etc/resolv.conf; nslookup web 127.0.0.11'
  [ "${lines[0]}" = "nameserver 127.0.0.11" ]
  [[ "$output" == *"Address: $web_ip"* ]]
  run -0 dc logs web
  [[ "$output" == *web-up* ]]
  # the client's long-syntax tmpfs (compose sends `"Source": null`)
  run -0 dc exec -T client grep -c " /scratch tmpfs " /proc/mounts
  # recreating a service (compose reads the image's ContainerConfig) keeps it running
  run -0 dc up -d --no-deps --force-recreate client
  run -0 d ps --filter label=com.docker.compose.service=client --format '{{.Names}} {{.Status}}'
  [[ "$output" == "bproj_client_1 Up"* ]]
  wait_for dc exec -T client cat /data/got
  run -0 dc up -d --scale client=2
  run -0 d ps --filter label=com.docker.compose.service=client -q
  [ "${#lines[@]}" = 2 ]
  run -0 dc restart -t 1
  wait_for curl -sf "http://127.0.0.1:$WEB_PORT/"
  run -0 dc down -v -t 1
  run -0 d ps -aq --filter label=com.docker.compose.project=bproj
  [ -z "$output" ]
  run -0 d network ls --format '{{.Name}}'
  [[ "$output" != *bproj* ]]
  run -0 d volume ls -q
  [[ "$output" != *bproj* ]]
  ! ip -br link | grep -q "br-.*bproj" || false
}

@test "berthd: what Docker users run into — piped stdin is data (0x10 0x11 too), --entrypoint \"\", a missing network is no pull, null Mounts members, image ContainerConfig" {
  local cli=(timeout -s KILL 60 env DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI")
  run -0 d run -d --name pw busybox sleep 1000
  # Docker looks for the detach keys (ctrl-p ctrl-q) only with a terminal: piped bytes all
  # arrive, the last one too (a hang and a lost byte before).
  [ "$(printf 'abc\x10\x11def\n' | "${cli[@]}" run -i --rm busybox wc -c)" = 9 ]
  [ "$(printf 'abc\x10' | "${cli[@]}" exec -i pw wc -c)" = 4 ]
  [ "$(printf 'x\x10\x11y\x10\x11' | "${cli[@]}" exec -i pw wc -c)" = 6 ]
  # --entrypoint "" (the CLI sends [""]): no entrypoint, the command given runs
  run -0 d run --rm --entrypoint "" busybox echo x
  [ "$output" = x ]
  # A missing network or container named at create is a 400: the CLI must not go pulling
  # the image (a 404 says "No such image" to it).
  run -125 d run --rm --network nosuchnet busybox true
  [[ "$output" == *"network nosuchnet not found"* ]]
  [[ "$output" != *"Unable to find image"* ]]
  run -125 d run --rm --volumes-from nosuchctr busybox true
  [[ "$output" != *"Unable to find image"* ]]
  # --platform: an image of another platform is not found (Docker's words), so the CLI pulls
  # that platform's (no registry here: the pull's error); this host's platform runs.
  local arch other
  arch=$(dpkg --print-architecture)
  other=arm64; [ "$arch" != arm64 ] || other=amd64
  run -0 api POST "/v1.41/containers/create?platform=linux/$other" -H 'Content-Type: application/json' -d '{"Image":"busybox","Cmd":["true"]}'
  [ "${lines[-1]}" = 404 ]
  [[ "${lines[0]}" == *"image with reference busybox was found but does not match the specified platform: wanted linux/$other, actual: linux/$arch"* ]]
  run -125 d run --rm --platform "linux/$other" busybox true
  [[ "$output" == *"Unable to find image"* ]]
  run -0 d run --rm --platform "linux/$arch" busybox true
  run -0 api POST /v1.41/containers/create?name=nomount -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["true"],"HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/c","Source":null,"ReadOnly":null,"TmpfsOptions":null}]}}'
  [ "${lines[-1]}" = 201 ]
  run -0 api GET /v1.41/containers/nonexistent/json
  [ "${lines[-1]}" = 404 ]
  # docker cp to a path written as a directory that is a file: refused, the file kept
  echo data > "$DD/cpin"
  d exec pw sh -c 'echo f > /tmp/f'
  run -1 d cp "$DD/cpin" pw:/tmp/f/
  [[ "$output" == *"no such directory"* ]]
  run -0 d exec pw cat /tmp/f
  [ "$output" = f ]
  # an unknown signal is the client's mistake
  run -0 api POST "/v1.41/containers/pw/kill?signal=BOGUS"
  [ "${lines[-1]}" = 400 ]
  # image inspect carries Docker's legacy fields (docker-compose 1.x reads ContainerConfig)
  run -0 d image inspect -f '{{json .ContainerConfig.Volumes}} {{.GraphDriver.Name}} {{.VirtualSize}}' busybox
  [[ "$output" == "null overlay2 "[1-9]* ]]
  # The image's size is its files unpacked, as Docker's, the same through the API and the CLI.
  [ "$(d image inspect -f '{{.Size}}' busybox)" = "$(e image inspect -f '{{.Size}}' busybox)" ]
  [ "$(d images --format '{{.Size}}' busybox)" = "$(e images --format '{{.Size}}' busybox)" ]
  [ "$(d images --format '{{.Size}}' busybox)" = "$(e history --format '{{.Size}}' busybox | head -1)" ]
  d rm -f pw nomount
}

@test "berthd: the Docker SDK for Python (docker-py) drives it" {
  /usr/bin/python3 -c 'import docker, pytest' 2>/dev/null || skip "python3-docker or python3-pytest is not installed"
  export DOCKER_HOST="unix://$DD/d.sock"
  run -0 /usr/bin/python3 -m pytest -q -p no:cacheprovider "$SRC/tests/system/docker_sdk_test.py" || { echo "$output"; false; }
}

@test "berthd: docker build (classic builder) — output, -q, build args, target, cache, failures with their exit code, compose and docker-py builds" {
  ctx=$DD/bctx
  mkdir -p "$ctx"
  echo payload > "$ctx/payload.txt"
  echo secret > "$ctx/secret.txt"
  printf 'secret.txt\n' > "$ctx/.dockerignore"
  cat > "$ctx/Dockerfile" <<'EOF'
FROM busybox AS base
ARG WHO=nobody
COPY . /ctx/
RUN echo "hello $WHO" > /hello && ls /ctx | tr '\n' ' ' && ulimit -n
FROM base AS final
LABEL stage=final
CMD ["cat", "/hello"]
EOF
  run -0 env DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" build --build-arg WHO=api --ulimit nofile=321:654 -t apibuilt:1 "$ctx"
  [[ "$output" == *"Step 1/7 : FROM busybox AS base"* ]]
  [[ "$output" == *"Dockerfile payload.txt 321"* ]]
  [[ "$output" != *secret* ]]
  [[ "$output" == *"Successfully tagged apibuilt:1"* ]]
  run -0 d run --rm apibuilt:1
  [ "$output" = "hello api" ]
  # The same store: the berth CLI sees the image and its cache.
  run -0 e build --build-arg WHO=api -t apibuilt:1 "$ctx"
  [ "$(grep -c "Using cache" <<<"$output")" -eq 5 ]
  # docker images -a: the steps as intermediate images (untagged, not dangling)
  [ "$(d images -a -q | wc -l)" -gt "$(d images -q | wc -l)" ]
  [ -z "$(d images -a -q --filter dangling=true)" ]
  # -q: the id alone; --target.
  run -0 env DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" build -q --target base "$ctx"
  [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
  run -0 d image inspect --format '{{.Config.Labels}}' "$output"
  [ "$output" = "map[]" ]
  # A failing RUN: docker build exits with its code, the output before it shown.
  printf 'FROM busybox\nRUN echo before-fail && exit 5\n' > "$ctx/Dockerfile"
  run -5 env DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" build "$ctx"
  [[ "$output" == *before-fail* ]]
  [[ "$output" == *"The command '/bin/sh -c echo before-fail && exit 5' returned a non-zero code: 5"* ]]
  # A Dockerfile that does not parse: an error response, exit 1.
  printf 'FROM busybox\nNOPE x\n' > "$ctx/Dockerfile"
  run -1 env DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" build "$ctx"
  [[ "$output" == *"Error response from daemon: Dockerfile:2"* ]]
  # A client that hangs up during a RUN: the RUN is killed, nothing is left.
  printf 'FROM busybox\nRUN echo long-run && sleep 60\n' > "$ctx/Dockerfile"
  tar -C "$ctx" -c Dockerfile > "$DD/ctx.tar"
  timeout 3 curl -sN --unix-socket "$DD/d.sock" -X POST "http://d/v1.41/build" --data-binary @"$DD/ctx.tar" > "$DD/hangup.out" || true
  grep -q long-run "$DD/hangup.out"
  for i in $(seq 100); do [ -z "$(e ps -aq)" ] && break; sleep 0.1; done
  [ -z "$(e ps -aq)" ]
  [ -z "$(ls -A "$DD/root/build")" ]
  # ADD of a URL through berthd's registry module.
  mkdir -p "$DD/www" && echo from-the-web > "$DD/www/page.txt"
  port=$(free_port)
  (cd "$DD/www" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  track_pid $!
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/page.txt" >/dev/null && break; sleep 0.1; done
  printf 'FROM busybox\nADD http://127.0.0.1:%s/page.txt /page.txt\nCMD ["cat", "/page.txt"]\n' "$port" > "$ctx/Dockerfile"
  run -0 env DOCKER_BUILDKIT=0 DOCKER_HOST="unix://$DD/d.sock" DOCKER_CONFIG="$DD/docker-config" "$DOCKER_CLI" build -t fromweb "$ctx"
  run -0 d run --rm fromweb
  [ "$output" = from-the-web ]
  run -0 d rmi fromweb
  # docker-compose build and docker-py's images.build.
  if command -v docker-compose >/dev/null; then
    mkdir -p "$DD/cproj"
    printf 'FROM busybox\nRUN echo from-compose > /c\nCMD ["cat", "/c"]\n' > "$DD/cproj/Dockerfile"
    printf 'version: "3"\nservices:\n  app:\n    build: .\n    image: composebuilt:1\n' > "$DD/cproj/docker-compose.yml"
    run -0 env DOCKER_HOST="unix://$DD/d.sock" docker-compose -f "$DD/cproj/docker-compose.yml" build
    run -0 d run --rm composebuilt:1
    [ "$output" = from-compose ]
    run -0 d rmi composebuilt:1
  fi
  run -0 env DOCKER_HOST="unix://$DD/d.sock" /usr/bin/python3 -c '
import docker, io, sys
c = docker.from_env()
img, _ = c.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo py > /p\n"), tag="pybuilt:1")
print(img.tags[0])
try:
    c.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 2\n"))
except docker.errors.BuildError as e:
    print("BuildError:", e.msg)
'
  [ "${lines[0]}" = "pybuilt:1" ]
  [ "${lines[1]}" = "BuildError: The command '/bin/sh -c exit 2' returned a non-zero code: 2" ]
  # builder prune through the API.
  run -0 d builder prune -f
  [[ "$output" == *"Total reclaimed space"* ]]
  run -0 d rmi apibuilt:1 pybuilt:1
}
