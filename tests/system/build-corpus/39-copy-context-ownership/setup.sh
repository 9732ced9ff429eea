#!/bin/sh
set -e
cd "$1"
mkdir -p owned/sub
echo x > owned/file.txt
echo y > owned/sub/y.txt
chown -R 1234:5678 owned
chown 42:43 owned/sub/y.txt
