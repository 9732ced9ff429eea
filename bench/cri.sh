#!/usr/bin/env bash
# bench/cri.sh [RUNS] [N]: berthd's Kubernetes CRI against containerd 1.6's CRI plugin (runc,
# a pause image), side by side in one run, through the same client (crictl v1.27), medians and
# the ratio berth/containerd:
#   1. pod start: RunPodSandbox + CreateContainer + StartContainer (`crictl runp`, `crictl
#      create`, `crictl start`, timed as one sequence) to a running `sleep 3600`, and that pod's
#      stop + remove (`crictl stopp`, `crictl rmp`): RUNS runs (default 10), the two runtimes
#      taking turns; with the client's floor, `crictl version` (a crictl process and one RPC);
#   2. ExecSync: `crictl exec -s CONTAINER true` in a running container, RUNS×3 runs
#      (hyperfine);
#   1b, 2b. the same RPCs over one gRPC connection, as the kubelet makes them (bench/cri_client.py,
#      python3-grpcio; no client process per call): RunPodSandbox, CreateContainer,
#      StartContainer; Stop+RemovePodSandbox; ExecSync — RUNS runs, RUNS×3 execs;
#   3. N pods (default 50) at once: N background runp+create+start sequences, the wall time
#      until all N containers run; then N background stopp+rmp, until all are gone
#      (PAR_RUNS rounds, default 3);
#   4. memory with the N pods up: the container monitors' PSS (and RSS) per container — berth:
#      the container's berth-shim; containerd: the pod's containerd-shim-runc-v2 (one per pod,
#      holding the pause and the container) — and with the pod's pause added (berth:
#      `berth-shim --pause`; containerd: its pause container, a static C pause built here);
#      the daemons' RSS idle and with the N pods;
#   5. critest's own `-benchmark` mode (critest next to crictl): its PodSandbox and Container
#      lifecycle experiments, CRITEST_N samples each (default 20), one at a time — its medians
#      (its image experiments are off: they pull from the internet).
# The issue's targets: pod start ≤ 0.3× containerd's; < 1 MiB of monitor per container.
# Both runtimes get the same busybox image, the same CNI chain (Debian's bridge + host-local +
# portmap, ipMasq off, a bridge and a subnet each: 10.233.0.0/24 berth, 10.234.0.0/24
# containerd) and a cgroup parent of the bench's own (cgroupfs). berth's binaries are copied
# from ${BERTH_BUILD:-build/src} first (a rebuild during the run does not change them).
# Not a CI test; run as root after scripts/setup.sh. Needs crictl (scripts/cri-tools.sh: without
# it, a line saying so and exit 0) and Debian's containerd + runc (without them, berth alone).
# Exit status 1 when a side failed (said in the table and on stderr).
# Everything lives in one temp dir; the EXIT trap leaves nothing behind (BENCH_LOGS=DIR keeps the
# daemons' logs there). PAR_RUNS: rounds of the N pods (default 3).
set -euo pipefail
[ -n "${BENCH_DEBUG:-}" ] && set -x
here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-10}
N=${2:-50}
PAR_RUNS=${PAR_RUNS:-3}
CRITEST_N=${CRITEST_N:-20}
CRICTL=${CRICTL:-$here/build/cri-tools/crictl}
src=${BERTH_BUILD:-$here/build/src}
if [ ! -x "$CRICTL" ]; then
  echo "skipped: no crictl; build it with scripts/cri-tools.sh"
  exit 0
fi
for b in berth berthd berth-shim berth-runtime; do
  [ -x "$src/$b" ] || { echo "no $src/$b: a release build of berth is needed" >&2; exit 1; }
done

work=$(mktemp -d /tmp/berth-bench-cri.XXXXXX)
chmod 755 "$work"
cgname=$(basename "$work")            # the pods' cgroup parent: /$cgname/berth, /$cgname/containerd
BRIDGE_B=benchcri-b0 BRIDGE_C=benchcri-c0
NET_B=10.233.0 NET_C=10.234.0
BB=("$work/bin/berth" --root "$work/berth/root" --state "$work/berth/run" --namespace k8s.io)
CTR=(ctr --address "$work/ctrd/containerd.sock" --namespace k8s.io)
declare -A sock=([berth]=$work/berth/run/cri.sock [containerd]=$work/ctrd/containerd.sock)
declare -A failed=()
sides=(berth containerd)
berthd_pid="" ctrd_pid=""
had_var_lib_cni=""; [ -e /var/lib/cni ] && had_var_lib_cni=1
shim_sockets_before=$(ls /run/containerd/s 2>/dev/null || true)

cri() {  # cri SIDE crictl-args…
  local s=$1; shift
  "$CRICTL" --runtime-endpoint "unix://${sock[$s]}" --image-endpoint "unix://${sock[$s]}" -t 120s "$@"
}

cleanup() {
  set +e
  if [ -n "${BENCH_LOGS:-}" ]; then  # the daemons' logs kept there (a directory)
    mkdir -p "$BENCH_LOGS" && cp "$work/berth/berthd.log" "$work/ctrd/containerd.log" "$BENCH_LOGS/" 2>/dev/null
  fi
  for s in "${sides[@]}"; do
    [ -S "${sock[$s]}" ] && cri "$s" rmp -a -f >/dev/null 2>&1
  done
  for d in "$berthd_pid" "$ctrd_pid"; do  # TERM, 10 s, KILL
    [ -n "$d" ] && kill "$d" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$d" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$d" 2>/dev/null
    wait "$d" 2>/dev/null
  done
  # What a failed run may have left running: the processes in the pods' cgroups, then shims
  # and pauses (their command lines name the work dir) — by pid.
  for f in $(find /sys/fs/cgroup/*/"$cgname" -name cgroup.procs 2>/dev/null); do
    xargs -r kill -9 < "$f" 2>/dev/null
  done
  for p in $(pgrep -f -- "$work/"); do kill -9 "$p" 2>/dev/null; done
  sleep 0.5
  awk -v d="$work/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
  ip link del "$BRIDGE_B" 2>/dev/null
  ip link del "$BRIDGE_C" 2>/dev/null
  # Rules of the bench's networks (none with ipMasq off and no hostPort; in case).
  for t in nat filter; do
    iptables-save -t "$t" 2>/dev/null | grep -E "^-A .*(berth-bench-cri|$BRIDGE_B|$BRIDGE_C|${NET_B//./\\.}\.|${NET_C//./\\.}\.)" |
      while read -r rule; do eval "iptables -t $t ${rule/#-A/-D}" 2>/dev/null; done
  done
  find /sys/fs/cgroup/*/"$cgname" -depth -type d -exec rmdir {} \; 2>/dev/null
  # containerd 1.6 puts its shims' sockets in /run/containerd/s whatever its config: any new
  # one that nothing listens on any more.
  for s in $(comm -13 <(echo "$shim_sockets_before" | sort) <(ls /run/containerd/s 2>/dev/null | sort)); do
    [ -z "$(ss -xlH src "/run/containerd/s/$s" 2>/dev/null)" ] && rm -f "/run/containerd/s/$s"
  done
  # libcni's result cache (containerd's CNI library; emptied by each CNI DEL): the entries of
  # this run's networks and pods, then the directories if this run made them.
  grep -lsF "$work/" /var/lib/cni/results/* | xargs -r rm -f
  rm -f /var/lib/cni/results/berth-bench-cri-*
  [ -z "$had_var_lib_cni" ] && rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

fail() {  # fail SIDE MESSAGE: the side takes no further part; its log's tail on stderr
  failed[$1]=$2
  echo "$1 FAILED: $2" >&2
  local log=$work/berth/berthd.log
  [ "$1" = containerd ] && log=$work/ctrd/containerd.log
  [ -f "$log" ] && tail -n 5 "$log" | sed "s/^/  $1 log: /" >&2
  return 0
}
ok() { [ -z "${failed[$1]:-}" ]; }
median() { sort -n | awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
pss_kib() { awk '/^Pss:/ {print $2; f = 1} END {if (!f) print 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
rss_kib() { awk '/^VmRSS/ {print $2; f = 1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum() { awk '{s += $1} END {print s + 0}'; }

# --- berth's binaries, the images --------------------------------------------------------------
mkdir -p "$work/bin" "$work/img" "$work/pods" "$work/logs" "$work/t" "$work/par"
cp "$src/berth" "$src/berthd" "$src/berth-shim" "$src/berth-runtime" "$work/bin/"
shopt -s nullglob
for so in "$src"/*.so; do cp "$so" "$work/bin/"; done
shopt -u nullglob

BERTH_RUNTIME=$work/bin/berth-runtime "$here/scripts/make-bundle.sh" "$work/bundle" true >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
# The pause of containerd's pods: waits for signals and reaps, as Kubernetes' pause does.
mkdir -p "$work/ctx"
cat > "$work/ctx/pause.c" <<'C'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
static void quit(int s) { (void)s; _exit(0); }
int main(void) {
  signal(SIGINT, quit);
  signal(SIGTERM, quit);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
C
gcc -O2 -static -o "$work/ctx/pause" "$work/ctx/pause.c"
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' > "$work/ctx/Dockerfile"
IMG=("$work/bin/berth" --root "$work/img/root" --state "$work/img/run")
"${IMG[@]}" import "$work/rootfs.tar" bench/busybox:latest >/dev/null
"${IMG[@]}" build -q --network none -t bench/pause:latest "$work/ctx" >/dev/null
"${IMG[@]}" save -o "$work/images.tar" bench/busybox:latest bench/pause:latest
IMAGE=docker.io/bench/busybox:latest
PAUSE=docker.io/bench/pause:latest
cat > "$work/ctr.json" <<EOF
{"metadata": {"name": "c"}, "image": {"image": "$IMAGE"}, "command": ["sleep", "3600"],
 "log_path": "c.log", "linux": {}}
EOF

conflist() {  # conflist DIR NAME BRIDGE NET
  mkdir -p "$1/net.d" "$1/ipam"
  cat > "$1/net.d/10-bench.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$2", "plugins": [
  {"type": "bridge", "bridge": "$3", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$1/ipam", "ranges": [[{"subnet": "$4.0/24"}]]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
}

# --- berthd ------------------------------------------------------------------------------------
conflist "$work/berth" berth-bench-cri-berth "$BRIDGE_B" "$NET_B"
echo '{}' > "$work/berth/daemon.json"
"${BB[@]}" load -q -i "$work/images.tar" >/dev/null
"$work/bin/berthd" --root "$work/berth/root" --state "$work/berth/run" -H "unix://$work/berth/berthd.sock" \
  --config-file "$work/berth/daemon.json" --cni-conf-dir "$work/berth/net.d" > "$work/berth/berthd.log" 2>&1 &
berthd_pid=$!
for _ in $(seq 200); do [ -S "${sock[berth]}" ] && cri berth version >/dev/null 2>&1 && break; sleep 0.05; done
cri berth version >/dev/null 2>&1 || fail berth "berthd's CRI does not answer on ${sock[berth]}"

# --- containerd --------------------------------------------------------------------------------
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null || ! command -v runc >/dev/null ||
   ! command -v containerd-shim-runc-v2 >/dev/null; then
  fail containerd "not installed (Debian's containerd and runc)"
else
  conflist "$work/ctrd" berth-bench-cri-containerd "$BRIDGE_C" "$NET_C"
  # Everything under the work dir (root, state, runc's state, the netns pins, the opt dir);
  # restrict_oom_score_adj: this host has no CAP_SYS_RESOURCE, runc cannot set the pause's -998.
  cat > "$work/ctrd/config.toml" <<EOF
version = 2
root = "$work/ctrd/root"
state = "$work/ctrd/state"
[grpc]
  address = "$work/ctrd/containerd.sock"
[ttrpc]
  address = "$work/ctrd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/ctrd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        Root = "$work/ctrd/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$work/ctrd/net.d"
    max_conf_num = 1
EOF
  containerd --config "$work/ctrd/config.toml" > "$work/ctrd/containerd.log" 2>&1 &
  ctrd_pid=$!
  for _ in $(seq 200); do [ -S "${sock[containerd]}" ] && cri containerd version >/dev/null 2>&1 && break; sleep 0.05; done
  if ! cri containerd version >/dev/null 2>&1; then
    fail containerd "containerd's CRI does not answer on ${sock[containerd]}"
  elif ! "${CTR[@]}" images import "$work/images.tar" >/dev/null 2>"$work/ctrd/import.err"; then
    fail containerd "ctr images import: $(cat "$work/ctrd/import.err")"
  else
    for _ in $(seq 100); do cri containerd inspecti "$PAUSE" >/dev/null 2>&1 && break; sleep 0.05; done
  fi
fi
ver_b=$(cri berth version 2>/dev/null | awk '/RuntimeName|RuntimeVersion/ {printf "%s ", $2}')
ver_c=$(cri containerd version 2>/dev/null | awk '/RuntimeName|RuntimeVersion/ {printf "%s ", $2}')

# --- pods --------------------------------------------------------------------------------------
pod_json() {  # pod_json SIDE NAME: the PodSandboxConfig, written; prints its file
  local f=$work/pods/$1-$2.json
  mkdir -p "$work/logs/$1/$2"
  printf '{"metadata": {"name": "%s", "namespace": "bench", "uid": "%s-%s", "attempt": 0},\n "log_directory": "%s", "linux": {"cgroup_parent": "/%s/%s"}}\n' \
    "$2" "$1" "$2" "$work/logs/$1/$2" "$cgname" "$1" > "$f"
  echo "$f"
}
pod_up() {  # pod_up SIDE POD.json: runp + create + start; prints "POD CONTAINER"
  local p c
  p=$(cri "$1" runp "$2") || return 1
  c=$(cri "$1" create --no-pull "$p" "$work/ctr.json" "$2") || return 1
  cri "$1" start "$c" >/dev/null || return 1
  echo "$p $c"
}
pod_down() { cri "$1" stopp "$2" >/dev/null && cri "$1" rmp "$2" >/dev/null; }
running() { [ -n "$(cri "$1" ps -q --state running --id "$2" 2>/dev/null)" ]; }
npods() { cri "$1" pods -q 2>/dev/null | wc -l; }

# A peer must really run: a pod, its container Running, an exec answering, then nothing left.
for s in "${sides[@]}"; do
  ok "$s" || continue
  f=$(pod_json "$s" smoke)
  if ! out=$(pod_up "$s" "$f" 2>"$work/t/$s.smoke.err"); then
    fail "$s" "pod start: $(tail -n 1 "$work/t/$s.smoke.err")"; continue
  fi
  read -r p c <<< "$out"
  running "$s" "$c" || { fail "$s" "the container is not Running after crictl start"; continue; }
  [ "$(cri "$s" exec -s "$c" echo ok 2>&1)" = ok ] || { fail "$s" "crictl exec -s $c echo ok"; continue; }
  # berthd runs the shim next to its own executable, the copy: the same inode (the container's
  # shim runs from a read-only overlay view of it, CVE-2019-5736: same inode number, not device)
  if [ "$s" = berth ]; then
    for sp in $(pgrep -f -- "berth-shim (--pause )?$work/berth/run/"); do
      [ "$(stat -Lc %i:%s "/proc/$sp/exe")" = "$(stat -c %i:%s "$work/bin/berth-shim")" ] ||
        fail berth "shim $sp ($(tr '\0' ' ' < "/proc/$sp/cmdline")) is not $work/bin/berth-shim"
    done
  fi
  pod_down "$s" "$p" 2>"$work/t/$s.smoke.err" || { fail "$s" "stopp/rmp: $(tail -n 1 "$work/t/$s.smoke.err")"; continue; }
  [ "$(npods "$s")" = 0 ] || fail "$s" "a removed pod is still listed"
done
# Warm-up (not timed): two pods made and removed on each side.
for i in 1 2; do
  for s in "${sides[@]}"; do
    ok "$s" || continue
    out=$(pod_up "$s" "$(pod_json "$s" warm-$i)" 2>/dev/null) && pod_down "$s" "${out%% *}" || fail "$s" "warm-up pod $i"
  done
done
sleep 1
declare -A idle_rss=([berth]="" [containerd]="")
ok berth && idle_rss[berth]=$(rss_kib "$berthd_pid")
ok containerd && idle_rss[containerd]=$(rss_kib "$ctrd_pid")

# --- 1. one pod at a time: start, stop + remove --------------------------------------------------
echo "pod start/stop: $RUNS runs…" >&2
for i in $(seq "$RUNS"); do
  order=("${sides[@]}")
  ((i % 2)) || order=(containerd berth)
  for s in "${order[@]}"; do
    ok "$s" || continue
    f=$(pod_json "$s" start-$i)
    t0=${EPOCHREALTIME/./}
    p=$(cri "$s" runp "$f" 2>"$work/t/err") || { fail "$s" "crictl runp ($i): $(tail -n 1 "$work/t/err")"; continue; }
    t1=${EPOCHREALTIME/./}
    c=$(cri "$s" create --no-pull "$p" "$work/ctr.json" "$f" 2>"$work/t/err") ||
      { fail "$s" "crictl create ($i): $(tail -n 1 "$work/t/err")"; continue; }
    t2=${EPOCHREALTIME/./}
    cri "$s" start "$c" >/dev/null 2>"$work/t/err" || { fail "$s" "crictl start ($i): $(tail -n 1 "$work/t/err")"; continue; }
    t3=${EPOCHREALTIME/./}
    running "$s" "$c" || { fail "$s" "pod start $i: container not Running"; continue; }
    sleep 0.2
    t4=${EPOCHREALTIME/./}
    pod_down "$s" "$p" 2>"$work/t/err" || { fail "$s" "pod stop $i: $(tail -n 1 "$work/t/err")"; continue; }
    t5=${EPOCHREALTIME/./}
    echo $((t3 - t0)) >> "$work/t/$s.start"
    echo $((t1 - t0)) >> "$work/t/$s.runp"
    echo $((t2 - t1)) >> "$work/t/$s.create"
    echo $((t3 - t2)) >> "$work/t/$s.cstart"
    echo $((t5 - t4)) >> "$work/t/$s.stop"
    sleep 0.2
  done
done

# --- 2. ExecSync, and the client's floor -------------------------------------------------------
echo "exec: $((RUNS * 3)) runs…" >&2
declare -A exec_cid=()
for s in "${sides[@]}"; do
  ok "$s" || continue
  out=$(pod_up "$s" "$(pod_json "$s" exec)" 2>"$work/t/err") || { fail "$s" "exec pod: $(tail -n 1 "$work/t/err")"; continue; }
  exec_cid[$s]=${out#* }
  running "$s" "${exec_cid[$s]}" || fail "$s" "exec pod: container not Running"
done
for s in "${sides[@]}"; do
  ok "$s" || continue
  e="$CRICTL --runtime-endpoint unix://${sock[$s]} --image-endpoint unix://${sock[$s]} -t 120s"
  hyperfine -N --warmup 3 --runs "$((RUNS * 3))" --export-json "$work/t/$s.exec.json" \
    -n exec "$e exec -s ${exec_cid[$s]} true" -n version "$e version" >/dev/null 2>"$work/t/err" ||
    fail "$s" "hyperfine crictl exec -s: $(tail -n 2 "$work/t/err")"
done
for s in "${sides[@]}"; do
  ok "$s" && { cri "$s" rmp -a -f >/dev/null 2>&1 || true; }
done

# --- 1b, 2b. the same over one gRPC connection (the kubelet's way: no client process per call) ---
grpc_ok=""
if /usr/bin/python3 -c 'import grpc, google.protobuf' 2>/dev/null && command -v grpc_python_plugin >/dev/null; then
  echo "pod start/stop and ExecSync over one gRPC connection: $RUNS runs…" >&2
  mkdir -p "$work/py"
  protoc --proto_path="$here/src" --python_out="$work/py" --grpc_out="$work/py" \
    --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$here/src/cri/api.proto"
  touch "$work/py/cri/__init__.py"
  gsides=()
  for s in "${sides[@]}"; do ok "$s" && gsides+=("$s=${sock[$s]},/$cgname/$s"); done
  if [ "${#gsides[@]}" -gt 0 ] &&
     /usr/bin/python3 "$here/bench/cri_client.py" "$work/py" "$RUNS" "$IMAGE" "$work" "${gsides[@]}" > "$work/t/grpc.json" 2>"$work/t/err"; then
    grpc_ok=1
    for s in "${sides[@]}"; do
      err=$(jq -r --arg s "$s" '.[$s].error // empty' "$work/t/grpc.json")
      [ -z "$err" ] || fail "$s" "over one gRPC connection: $err"
    done
  else
    echo "bench/cri_client.py failed: $(tail -n 3 "$work/t/err")" >&2
  fi
else
  echo "no python3-grpcio or grpc_python_plugin: the one-connection rows are left out" >&2
fi
for s in "${sides[@]}"; do
  ok "$s" && { cri "$s" rmp -a -f >/dev/null 2>&1 || true; }
done

# --- 3, 4. N pods at once; memory with them up -------------------------------------------------
mem_sample() {  # mem_sample SIDE ROUND: the monitors' and daemon's memory, into $work/t/SIDE.mem.*
  local s=$1 shims pauses p
  # The long-running monitors only (containerd's `… start`/`… delete` invocations of the shim
  # end otherwise), once there are N of each (10 s at most; the counts are printed).
  for _ in $(seq 100); do
    if [ "$s" = berth ]; then
      shims=$(pgrep -f -- "berth-shim $work/berth/run/" || true)
      pauses=$(pgrep -f -- "berth-shim --pause $work/berth/run/" || true)
    else
      shims=$(pgrep -f -- "containerd-shim-runc-v2 .*-address $work/ctrd/containerd.sock\$" || true)
      pauses=$(for p in $shims; do pgrep -P "$p" -x pause; done || true)
    fi
    [ "$(echo "$shims" | grep -c .)" = "$N" ] && [ "$(echo "$pauses" | grep -c .)" = "$N" ] && break
    sleep 0.1
  done
  if [ "$s" = berth ]; then rss_kib "$berthd_pid"; else rss_kib "$ctrd_pid"; fi >> "$work/t/$s.mem.daemon"
  echo "$(echo "$shims" | grep -c .) $(echo "$pauses" | grep -c .)" >> "$work/t/$s.mem.count"
  for p in $shims; do pss_kib "$p"; done | sum >> "$work/t/$s.mem.shim_pss"
  for p in $shims; do rss_kib "$p"; done | sum >> "$work/t/$s.mem.shim_rss"
  for p in $pauses; do pss_kib "$p"; done | sum >> "$work/t/$s.mem.pause_pss"
}
par_round() {  # par_round SIDE ROUND
  local s=$1 r=$2 i pids=() files=() n t0 t1
  for i in $(seq "$N"); do files+=("$(pod_json "$s" par$r-$i)"); done
  rm -f "$work/par/$s".*
  t0=${EPOCHREALTIME/./}
  for i in $(seq "$N"); do
    pod_up "$s" "${files[$((i - 1))]}" > "$work/par/$s.$i.out" 2> "$work/par/$s.$i.err" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  t1=${EPOCHREALTIME/./}
  n=$(cat "$work/par/$s".*.out | grep -c . || true)
  if [ "$n" != "$N" ]; then
    fail "$s" "$N pods at once: $n started; $(cat "$work/par/$s".*.err | sort | uniq -c | sort -rn | head -n 1)"
    cri "$s" rmp -a -f >/dev/null 2>&1 || true
    return 0
  fi
  n=$(cri "$s" ps -q --state running | wc -l)
  [ "$n" = "$N" ] || { fail "$s" "$N pods at once: $n containers Running"; cri "$s" rmp -a -f >/dev/null 2>&1; return 0; }
  echo $((t1 - t0)) >> "$work/t/$s.par_start"
  sleep 2
  mem_sample "$s" "$r"
  pids=()
  t0=${EPOCHREALTIME/./}
  while read -r p _; do
    pod_down "$s" "$p" 2>>"$work/par/$s.down.err" &
    pids+=($!)
  done < <(cat "$work/par/$s".*.out)
  wait "${pids[@]}" || true
  t1=${EPOCHREALTIME/./}
  n=$(npods "$s")
  [ "$n" = 0 ] || { fail "$s" "$N pods at once: $n pods left after stopp+rmp; $(head -n 1 "$work/par/$s.down.err")"; cri "$s" rmp -a -f >/dev/null 2>&1; return 0; }
  echo $((t1 - t0)) >> "$work/t/$s.par_stop"
}
for r in $(seq "$PAR_RUNS"); do
  echo "$N pods at once: round $r of $PAR_RUNS…" >&2
  order=("${sides[@]}")
  ((r % 2)) || order=(containerd berth)
  for s in "${order[@]}"; do
    ok "$s" || continue
    par_round "$s" "$r"
    sleep 2
  done
done

# --- 5. critest's own -benchmark mode (cri-tools v1.27: pod and container lifecycles) ----------
CRITEST=${CRITEST:-$(dirname "$CRICTL")/critest}
crit_ok=""
if [ -x "$CRITEST" ]; then
  echo "critest -benchmark: $CRITEST_N pods and $CRITEST_N containers per side…" >&2
  printf 'defaultTestContainerImage: %s\nwebServerTestImage: %s\n' "$IMAGE" "$IMAGE" > "$work/crit-images.yaml"
  printf 'podsNumber: %s\npodsNumberParallel: 1\ncontainersNumber: %s\ncontainersNumberParallel: 1\n' \
    "$CRITEST_N" "$CRITEST_N" > "$work/crit-params.yaml"
  for s in "${sides[@]}"; do
    ok "$s" || continue
    mkdir -p "$work/crit/$s"
    if (cd "$work/crit/$s" && "$CRITEST" -runtime-endpoint "unix://${sock[$s]}" -image-endpoint "unix://${sock[$s]}" \
          -benchmark -benchmarking-params-file "$work/crit-params.yaml" -benchmarking-output-dir "$work/crit/$s" \
          -test-images-file "$work/crit-images.yaml" > "$work/crit/$s.log" 2>&1); then
      crit_ok=1
    else
      fail "$s" "critest -benchmark: $(grep -m1 -E 'FAIL|Error|error' "$work/crit/$s.log" || tail -n 1 "$work/crit/$s.log")"
    fi
  done
  for s in "${sides[@]}"; do
    ok "$s" && { cri "$s" rmp -a -f >/dev/null 2>&1 || true; }
  done
else
  echo "no critest next to crictl: critest's -benchmark rows are left out" >&2
fi
cmed() {  # cmed SIDE FILE OPERATION: critest's median for one operation, µs
  local f=$work/crit/$1/$2
  [ -n "$crit_ok" ] && [ -s "$f" ] || { echo ""; return; }
  jq -r --arg op "$3" '(.operationsNames | index($op)) as $i | .datapoints[] | .operationsDurationsNs[$i] / 1000' "$f" | median
}

# --- the table -----------------------------------------------------------------------------------
med() { [ -s "$work/t/$1" ] && median < "$work/t/$1" || echo ""; }
hmed() { [ -s "$work/t/$1.exec.json" ] && jq -r --arg n "$2" '.results[] | select(.command == $n) | .median * 1e6 | round' "$work/t/$1.exec.json" || echo ""; }
row() {  # row LABEL UNIT-DIVISOR DECIMALS BERTH CONTAINERD
  local b=$4 c=$5 vb vc ratio
  vb=$(awk -v v="$b" -v d="$2" -v p="$3" 'BEGIN {if (v == "") print "-"; else printf "%.*f", p, v / d}')
  vc=$(awk -v v="$c" -v d="$2" -v p="$3" 'BEGIN {if (v == "") print "-"; else printf "%.*f", p, v / d}')
  ok berth || vb=failed
  ok containerd || vc=failed
  ratio=$(awk -v b="$b" -v c="$c" 'BEGIN {if (b == "" || c == "" || c == 0) print "-"; else printf "%.3f", b / c}')
  printf '%-46s %12s %12s %9s\n' "$1" "$vb" "$vc" "$ratio"
}
per() { awk -v v="$1" -v n="$N" 'BEGIN {if (v == "") print ""; else print v / n}'; }
gmed() {  # gmed SIDE KEY: the median of the one-connection client's µs
  [ -n "$grpc_ok" ] && jq -r --arg s "$1" --arg k "$2" '.[$s][$k] // [] | .[]' "$work/t/grpc.json" | median || echo ""
}
declare -A start stop ex floor pst pstop shim_pss shim_rss pod_pss drss
for s in "${sides[@]}"; do
  start[$s]=$(med "$s.start"); stop[$s]=$(med "$s.stop")
  ex[$s]=$(hmed "$s" exec); floor[$s]=$(hmed "$s" version)
  pst[$s]=$(med "$s.par_start"); pstop[$s]=$(med "$s.par_stop")
  shim_pss[$s]=$(per "$(med "$s.mem.shim_pss")"); shim_rss[$s]=$(per "$(med "$s.mem.shim_rss")")
  pod_pss[$s]=""
  if [ -s "$work/t/$s.mem.shim_pss" ]; then
    pod_pss[$s]=$(per "$(paste "$work/t/$s.mem.shim_pss" "$work/t/$s.mem.pause_pss" | awk '{print $1 + $2}' | median)")
  fi
  drss[$s]=$(med "$s.mem.daemon")
done

echo
echo "CRI bench ($(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), crictl $CRICTL)"
echo "berth: ${ver_b:-?}(copied from $src); containerd: ${ver_c:-?}+ runc $(runc --version 2>/dev/null | awk 'NR == 1 {print $3}')"
echo "medians: pod start/stop of $RUNS runs, exec of $((RUNS * 3)), $N pods at once of $PAR_RUNS rounds; times in ms or s, memory in KiB or MiB"
printf '%-46s %12s %12s %9s\n' measure berth containerd ratio
row "pod start: runp+create+start (ms)" 1000 1 "${start[berth]}" "${start[containerd]}"
row "  of which runp (ms)" 1000 1 "$(med berth.runp)" "$(med containerd.runp)"
row "  of which create (ms)" 1000 1 "$(med berth.create)" "$(med containerd.create)"
row "  of which start (ms)" 1000 1 "$(med berth.cstart)" "$(med containerd.cstart)"
row "pod stop+remove: stopp+rmp (ms)" 1000 1 "${stop[berth]}" "${stop[containerd]}"
declare -A gpod
for s in "${sides[@]}"; do gpod[$s]=$(gmed "$s" pod); done
row "one gRPC connection: pod start (ms)" 1000 1 "${gpod[berth]}" "${gpod[containerd]}"
row "  RunPodSandbox (ms)" 1000 1 "$(gmed berth runp)" "$(gmed containerd runp)"
row "  CreateContainer (ms)" 1000 1 "$(gmed berth create)" "$(gmed containerd create)"
row "  StartContainer (ms)" 1000 1 "$(gmed berth start)" "$(gmed containerd start)"
row "one gRPC connection: Stop+RemovePodSandbox (ms)" 1000 1 "$(gmed berth stop)" "$(gmed containerd stop)"
row "one gRPC connection: ExecSync true (ms)" 1000 2 "$(gmed berth exec)" "$(gmed containerd exec)"
row "ExecSync: exec -s CID true (ms)" 1000 2 "${ex[berth]}" "${ex[containerd]}"
row "client floor: crictl version (ms)" 1000 2 "${floor[berth]}" "${floor[containerd]}"
for op in RunPodSandbox:CreatePod StopPodSandbox:StopPod RemovePodSandbox:RemovePod; do
  row "critest -benchmark: ${op%%:*} (ms)" 1000 1 "$(cmed berth pod_benchmark_data.json "${op#*:}")" "$(cmed containerd pod_benchmark_data.json "${op#*:}")"
done
for op in CreateContainer StartContainer StatusContainer StopContainer RemoveContainer; do
  row "critest -benchmark: $op (ms)" 1000 1 "$(cmed berth container_benchmark_data.json "$op")" "$(cmed containerd container_benchmark_data.json "$op")"
done
row "$N pods at once: all Running (s)" 1000000 2 "${pst[berth]}" "${pst[containerd]}"
row "$N pods at once: all stopped+removed (s)" 1000000 2 "${pstop[berth]}" "${pstop[containerd]}"
row "monitor PSS per container (KiB)" 1 0 "${shim_pss[berth]}" "${shim_pss[containerd]}"
row "monitor RSS per container (KiB)" 1 0 "${shim_rss[berth]}" "${shim_rss[containerd]}"
row "monitor + pause PSS per pod (KiB)" 1 0 "${pod_pss[berth]}" "${pod_pss[containerd]}"
row "daemon RSS idle (MiB)" 1024 1 "${idle_rss[berth]}" "${idle_rss[containerd]}"
row "daemon RSS with $N pods (MiB)" 1024 1 "${drss[berth]}" "${drss[containerd]}"
for s in "${sides[@]}"; do
  [ -s "$work/t/$s.start" ] && echo "$s pod start, all runs (ms): $(awk '{printf "%s%.0f", (NR > 1 ? " " : ""), $1 / 1000}' "$work/t/$s.start")"
  [ -s "$work/t/$s.mem.count" ] && echo "$s processes counted with $N pods up (monitors, pauses) per round: $(tr '\n' ';' < "$work/t/$s.mem.count")"
done
echo "monitor = berth: the container's berth-shim; containerd: the pod's containerd-shim-runc-v2 (pause and container in one)."
echo "pause = berth: berth-shim --pause; containerd: the pause container (static C, $(stat -c %s "$work/ctx/pause") bytes). PSS from /proc/PID/smaps_rollup; daemon: VmRSS."
if [ -n "${start[berth]}" ] && [ -n "${start[containerd]}" ] && [ -n "${floor[berth]}" ]; then
  awk -v b="${start[berth]}" -v c="${start[containerd]}" -v fb="${floor[berth]}" -v fc="${floor[containerd]}" 'BEGIN {
    printf "pod start above the client floor (3 crictl runs, 3x crictl version): berth %.1f ms, containerd %.1f ms, ratio %.3f\n",
      (b - 3 * fb) / 1000, (c - 3 * fc) / 1000, (b - 3 * fb) / (c - 3 * fc) }'
fi
if [ -n "${ex[berth]}" ] && [ -n "${ex[containerd]}" ] && [ -n "${floor[berth]}" ]; then
  awk -v b="${ex[berth]}" -v c="${ex[containerd]}" -v fb="${floor[berth]}" -v fc="${floor[containerd]}" 'BEGIN {
    printf "ExecSync above the client floor: berth %.1f ms, containerd %.1f ms, ratio %.3f\n",
      (b - fb) / 1000, (c - fc) / 1000, (b - fb) / (c - fc) }'
fi
echo
echo "targets (the issue):"
if [ -n "${gpod[berth]}" ] && [ -n "${gpod[containerd]}" ]; then
  awk -v b="${gpod[berth]}" -v c="${gpod[containerd]}" 'BEGIN {
    r = b / c; printf "  pod start <= 0.3x containerd (the RPCs, over one connection): %.3fx -> %s\n", r, (r <= 0.3 ? "met" : "NOT met") }'
fi
if [ -n "${start[berth]}" ] && [ -n "${start[containerd]}" ]; then
  awk -v b="${start[berth]}" -v c="${start[containerd]}" 'BEGIN {
    r = b / c; printf "  pod start <= 0.3x containerd (through crictl, 3 processes): %.3fx -> %s\n", r, (r <= 0.3 ? "met" : "NOT met") }'
else
  echo "  pod start <= 0.3x containerd: not measured (a side failed)"
fi
if [ -n "${shim_pss[berth]}" ]; then
  awk -v m="${shim_pss[berth]}" -v p="${pod_pss[berth]}" 'BEGIN {
    printf "  monitor < 1 MiB per container: %.0f KiB PSS -> %s (with the pod'"'"'s pause: %.0f KiB -> %s)\n",
      m, (m < 1024 ? "met" : "NOT met"), p, (p < 1024 ? "met" : "NOT met") }'
else
  echo "  monitor < 1 MiB per container: not measured (berth failed)"
fi
for s in "${sides[@]}"; do
  ok "$s" || echo "$s FAILED: ${failed[$s]}"
done
ok berth && ok containerd
