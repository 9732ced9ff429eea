#!/usr/bin/env bash
# Builds critest and crictl (kubernetes-sigs/cri-tools v1.27.0, the CRI's conformance suite and
# CLI) with Debian's Go from their vendored modules — test tools, never part of berth.
#
#   scripts/cri-tools.sh [OUT_DIR]     (default build/cri-tools; prints OUT_DIR on success)
#
# The source: $CRI_TOOLS_SRC (a checkout), else a git repository of cri-tools holding the tag
# v1.27.0 ($CRI_TOOLS_GIT, default /work/.mirror/kubernetes-sigs+cri-tools/repo, where this
# machine's `fetch` puts it). No network is used (GOFLAGS=-mod=vendor, GOPROXY=off). Without a
# source, exit 3 with one line saying so. Built once: an existing OUT_DIR/critest is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/cri-tools}")
tag=v1.27.0
if [ -x "$out/critest" ] && [ -x "$out/crictl" ]; then
  echo "$out"
  exit 0
fi
src=${CRI_TOOLS_SRC:-}
tmp=""
if [ -z "$src" ]; then
  git_dir=${CRI_TOOLS_GIT:-/work/.mirror/kubernetes-sigs+cri-tools/repo}
  if ! git --git-dir "$git_dir" rev-parse -q --verify "$tag^{commit}" >/dev/null 2>&1; then
    echo "cri-tools: no source (set CRI_TOOLS_SRC to a cri-tools $tag checkout, or CRI_TOOLS_GIT to a repository with the tag)" >&2
    exit 3
  fi
  tmp=$(mktemp -d /tmp/cri-tools.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  git --git-dir "$git_dir" archive "$tag" | tar -C "$tmp" -x
  src=$tmp
fi
# Go only for this tool (not in scripts/setup.sh), and only once a source is found.
if ! command -v go >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >/dev/null ||
    { echo "cri-tools: Go is not installed and apt-get could not install golang-go" >&2; exit 3; }
fi
mkdir -p "$out"
export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0
export GOCACHE=${GOCACHE:-$out/.gocache} GOPATH=${GOPATH:-$out/.gopath}
(cd "$src" && go test -c -o "$out/critest" -trimpath ./cmd/critest && go build -o "$out/crictl" -trimpath ./cmd/crictl)
echo "$out"
