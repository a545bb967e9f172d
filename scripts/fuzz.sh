#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for FUZZ_SECONDS (default
# 30) starting from the committed corpus. New inputs go to a scratch copy, never into the repo.
# A crash leaves its reproducer in build-fuzz/crashes/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
bash scripts/deps.sh >/dev/null
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DSHADOWTAP_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(reassembler packet_parser http_framer http_stage pcap_reader record_reader)
cmake --build "$BUILD" -j"$(nproc)" --target "${targets[@]/%/_fuzz}"
mkdir -p "$BUILD/crashes"
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$t"/* "$work"/
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s"
  status=0
  "$BUILD/tests/fuzz/${t}_fuzz" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
    -artifact_prefix="$BUILD/crashes/${t}-" "$work" >"$BUILD/${t}.log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|Done)|SUMMARY|ERROR" "$BUILD/${t}.log" || true
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (reproducer in $BUILD/crashes/)" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran clean"
