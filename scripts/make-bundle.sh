#!/usr/bin/env bash
# make-bundle.sh DIR [ARGS...]: an OCI bundle in DIR with a busybox-static rootfs and a
# config.json from `berth-runtime spec`, running ARGS (default: sh) without a terminal.
set -euo pipefail
dir=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${BERTH_RUNTIME:-$here/build/src/berth-runtime}
# The rootfs is built once per busybox binary into a cache and copied from there: one `cp -a`
# instead of ~400 `ln -s` processes per bundle (tests make one bundle per test).
cache=${BERTH_ROOTFS_CACHE:-/var/tmp/berth-busybox-rootfs}-$(sha256sum /bin/busybox | cut -c1-16)
if [ ! -d "$cache" ]; then
  tmpc=$(mktemp -d "$cache.tmp.XXXXXX")
  chmod 755 "$tmpc"  # mktemp makes it 0700; the rootfs must be traversable by any uid
  mkdir -p "$tmpc"/{bin,dev,proc,sys,tmp,etc,root}
  chmod 1777 "$tmpc/tmp"
  cp /bin/busybox "$tmpc/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$tmpc/bin/$applet" ] || ln -s busybox "$tmpc/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$tmpc/etc/passwd"
  echo 'root:x:0:' > "$tmpc/etc/group"
  mv -T "$tmpc" "$cache" 2>/dev/null || rm -rf "$tmpc"  # another process won the race
fi
mkdir -p "$dir/rootfs"
cp -a "$cache/." "$dir/rootfs/"
rm -f "$dir/config.json"
"$runtime" spec --bundle "$dir"
args='["sh"]'
if (($#)); then args=$(printf '%s\n' "$@" | jq -R . | jq -s .); fi
tmp=$(mktemp)
jq --argjson a "$args" '.process.args = $a | .process.terminal = false | .root.readonly = false' \
  "$dir/config.json" > "$tmp" && mv "$tmp" "$dir/config.json"
