#!/bin/sh
set -e
cd "$1"
mkdir -p modes/private-dir modes/sticky-dir modes/setgid-dir
for f in setuid setgid sticky-file private none exec world; do echo "$f" > "modes/$f"; done
chmod 4755 modes/setuid
chmod 2755 modes/setgid
chmod 1644 modes/sticky-file
chmod 0600 modes/private
chmod 0000 modes/none
chmod 0711 modes/exec
chmod 0666 modes/world
chmod 0700 modes/private-dir
chmod 1777 modes/sticky-dir
chmod 2775 modes/setgid-dir
echo x > modes/private-dir/inside
