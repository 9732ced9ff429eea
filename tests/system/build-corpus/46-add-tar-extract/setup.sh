#!/bin/sh
set -e
cd "$1"
src=$(mktemp -d)
mkdir -p "$src/t/sub" "$src/p"
echo in-tar > "$src/t/f.txt"
echo deep > "$src/t/sub/deep.txt"
chmod 0640 "$src/t/sub/deep.txt"
ln -s f.txt "$src/t/link"
echo plain > "$src/p/plain.txt"
# Ownership in the archive is kept by ADD.
tar -C "$src" --owner=321 --group=654 --numeric-owner -czf archive.tar.gz t
tar -C "$src" --owner=0 --group=0 --numeric-owner -cf plain.tar p
rm -rf "$src"
