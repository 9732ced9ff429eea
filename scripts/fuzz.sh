#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `asan`: clang, ASan+UBSan) and runs each on its seed
# corpus for SECONDS (default 10):
#
#   scripts/fuzz.sh [SECONDS] [TARGET…]      targets: spec image reference auth layer frames template dockerfile spdy http dns
#
# New inputs go to a scratch corpus under build-asan/ (the seeds in fuzz/corpus stay as they
# are); a crash stops the run with its reproducer in build-asan/crashes/. Longer runs by hand:
# scripts/fuzz.sh 3600 layer
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(spec image reference auth layer frames template dockerfile spdy http dns)
cmake --preset asan >/dev/null
cmake --build --preset asan --target "${targets[@]/#/fuzz-}"
mkdir -p build-asan/crashes
for t in "${targets[@]}"; do
  work=build-asan/corpus/$t
  mkdir -p "$work"
  echo "fuzz: $t for ${secs}s"
  # -rss_limit_mb: the layer target holds a tar's worth; anything past 2 GiB is a finding.
  build-asan/fuzz/fuzz-"$t" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=0 \
    -artifact_prefix=build-asan/crashes/"$t"- "$work" "fuzz/corpus/$t" 2>build-asan/"$t".log ||
    { tail -40 build-asan/"$t".log; echo "fuzz: $t found a crash (build-asan/crashes/)"; exit 1; }
  grep -E "^#[0-9]+.*(DONE|pulse)" build-asan/"$t".log | tail -1 || true
done
