#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent and its tests built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan), then
# the unit and BPF layers run under them: any finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ASAN_BUILD_DIR:-build-asan} CMAKE_ARGS="-DSHADOWTAP_SANITIZE=ON" BUILD_TYPE=Debug bash scripts/build.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
cd "${ASAN_BUILD_DIR:-build-asan}" && ctest --output-on-failure -L 'unit|bpf' -E '^deploy_'
