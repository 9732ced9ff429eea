#!/bin/sh
set -e
cd "$1"
mkdir -p special
mkfifo special/fifo
chmod 0620 special/fifo
echo f > special/regular
