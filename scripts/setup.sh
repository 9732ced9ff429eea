#!/usr/bin/env bash
# Installs every Debian package berth needs to build, test and benchmark, then builds.
# Idempotent: packages already present are not reinstalled; the build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  # build (clang and its sanitizer/libFuzzer runtimes: the fuzz targets)
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  nlohmann-json3-dev libseccomp-dev libcap-dev libgtest-dev googletest
  libssl-dev libsqlite3-dev libarchive-dev liblzma-dev libbz2-dev libzstd-dev libisal-dev zlib1g-dev libcurl4-openssl-dev
  # berthd's HTTP server (Boost.Beast/Asio, headers only)
  libboost1.81-dev
  # tests: a busybox-static rootfs, bats, tools the tests drive
  busybox-static bats jq iproute2 util-linux procps python3 sqlite3
  # build: git contexts (the host's git clones them, as Docker's does)
  git
  # engine: the tiny init of `run --init`; networking: Debian's CNI plugins and iptables
  tini containernetworking-plugins iptables
  # drop-in tests and benchmarks: the peers, side by side
  runc crun hyperfine time podman buildah docker.io curl zstd bzip2 xz-utils
  # a sandboxed runtime per container (--runtime): gVisor
  runsc
  # image tests: a real registry and independent clients to cross-check with
  docker-registry skopeo umoci
  # berthd's clients: the docker CLI (docker.io above), docker-compose, the Docker SDK for Python
  docker-compose python3-docker python3-pytest
  # certificates for the TLS listener tests
  openssl
  # berthd's CRI server (gRPC, protobuf); Go for critest/crictl comes with scripts/cri-tools.sh
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # the CRI tests' own gRPC client
  python3-grpcio python3-protobuf
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake --preset release >/dev/null
cmake --build --preset release
