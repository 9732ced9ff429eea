#!/bin/sh
set -e
cd "$1"
mkdir -p hl/sub
echo shared > hl/a.txt
ln hl/a.txt hl/b.txt
ln hl/a.txt hl/sub/c.txt
echo alone > hl/alone.txt
