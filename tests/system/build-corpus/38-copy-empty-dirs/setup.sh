#!/bin/sh
set -e
cd "$1"
mkdir -p empty tree/a/empty-leaf tree/b
echo f > tree/b/f.txt
chmod 0750 tree/a/empty-leaf
