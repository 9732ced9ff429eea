#!/bin/sh
set -e
cd "$1"
src=$(mktemp -d)
mkdir -p "$src/a"
echo x > "$src/a/x.txt"
tar -C "$src" --owner=99 --group=98 --numeric-owner -czf archive.tar.gz a
rm -rf "$src"
