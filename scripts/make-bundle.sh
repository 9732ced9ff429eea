#!/usr/bin/env bash
# make-bundle.sh DIR [ARGS...]: an OCI bundle in DIR with a busybox-static rootfs and a
# config.json from `berth-runtime spec`, running ARGS (default: sh) without a terminal.
set -euo pipefail
dir=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${BERTH_RUNTIME:-$here/build/src/berth-runtime}
mkdir -p "$dir/rootfs"/{bin,dev,proc,sys,tmp,etc,root}
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$dir/rootfs/bin/$applet" ] || ln -s busybox "$dir/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$dir/rootfs/etc/passwd"
echo 'root:x:0:' > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
"$runtime" spec --bundle "$dir"
args='["sh"]'
if (($#)); then args=$(printf '%s\n' "$@" | jq -R . | jq -s .); fi
tmp=$(mktemp)
jq --argjson a "$args" '.process.args = $a | .process.terminal = false | .root.readonly = false' \
  "$dir/config.json" > "$tmp" && mv "$tmp" "$dir/config.json"
