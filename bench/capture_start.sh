#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What a capture ring costs at start (not a timed test): for each --capture-buffer-mb, the agent's
# start-up (launch to `status` ready: the kernel allocates the TPACKET_V3 ring, the agent maps it
# and reads every page once, common/touch_pages.h), its VmRSS once ready, how long it took to exit
# after SIGTERM once ready, and how long after a SIGTERM sent 0.3 s into its start-up (a signal
# is handled once the ring exists: its allocation and first touch are not interruptible). Ratios
# against the default 64 MiB ring, measured in the same run. Why the flag stops at 1024 MiB:
# docs/architecture.md, "Capture ring sizing".
# Usage: sudo bench/capture_start.sh [--sizes "64 256 1024"]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SIZES="64 256 1024"
while [ $# -gt 0 ]; do
  case "$1" in
  --sizes) SIZES="$2"; shift 2 ;;
  *) echo "usage: $0 [--sizes \"64 256 1024\"]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
[ -x "$BIN" ] || bash "$ROOT/scripts/build.sh"
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"
h_init
h_agent "$BIN"
H_NET=10.95
h_topology cs --shadow
PORT=8080

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# exit_ms: SIGTERM to the agent, then the milliseconds until it is gone.
exit_ms() {
  local t0 i
  t0=$(now_ms)
  kill -TERM "$AGENT_PID"
  for ((i = 0; i < 3000; i++)); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.01
  done
  kill -0 "$AGENT_PID" 2>/dev/null && fail "agent $AGENT_PID still runs 30 s after SIGTERM"
  wait "$AGENT_PID" 2>/dev/null || true
  echo $(($(now_ms) - t0))
}

printf '%-10s %10s %10s %10s %14s %10s\n' ring_MiB start_ms vs_64 rss_MiB exit_ready_ms exit_early_ms
base=""
for mb in $SIZES; do
  args=(--iface "$SRV_IF" --port "$PORT" --shadow "$SHD4:9090" --capture-buffer-mb "$mb" --log-level warn)
  t0=$(now_ms)
  agent_launch "${args[@]}"
  rc=0
  agent_wait_ready 60 || rc=$?
  [ "$rc" = 0 ] || fail "agent with --capture-buffer-mb $mb not ready ($rc): $(cat "$AGENT_LOG")"
  start=$(($(now_ms) - t0))
  rss=$(($(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status") / 1024))
  ready_exit=$(exit_ms)
  agent_launch "${args[@]}"
  sleep 0.3
  early_exit=$(exit_ms)
  [ -n "$base" ] || base=$start
  printf '%-10s %10s %10s %10s %14s %10s\n' "$mb" "$start" "$(awk -v a="$start" -v b="$base" 'BEGIN { printf "%.2f", a / b }')" \
    "$rss" "$ready_exit" "$early_exit"
done
