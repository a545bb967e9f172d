#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: builds, then runs every ctest layer (unit, bpf, e2e). Needs root: the bpf
# and e2e layers load BPF programs and make network namespaces. Extra arguments go to ctest,
# e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: run as root (the BPF and network-namespace tests need it)" >&2
  exit 1
fi
bash scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure "$@")
# libFuzzer targets (clang, ASan+UBSan) for a bounded time from the committed corpus.
if [ $# -eq 0 ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
fi
