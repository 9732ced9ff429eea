#!/bin/sh
set -e
cd "$1"
mkdir -p links/sub real-dir
echo target > links/target.txt
echo in-dir > real-dir/f.txt
ln -s target.txt links/rel-link
ln -s /etc/passwd links/abs-link
ln -s ../nowhere links/dangling
ln -s sub links/dir-link
ln -s links/target.txt top-link
ln -s real-dir dir-link
