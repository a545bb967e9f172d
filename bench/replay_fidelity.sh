#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Replay fidelity under load (not a timed test): an HTTP load at rising concurrency against nginx,
# every connection mirrored (100 %) and replayed to a recording shadow. Per load level:
#   requests the primary served (wrk)  vs  requests the shadow received (bytes / request size),
#   agent CPU seconds per 10,000 replayed requests, and the agent's peak memory (VmHWM).
# Target: shadow >= 99.9 % of primary at every level the primary sustains.
#
#   client ns ==veth== server ns (nginx, shadowtap on its NIC) ==veth== shadow ns (recorder)
#   (the harness's topology, tests/lib/netns.sh; tests/tools/recorder.py as the shadow)
#
# No peer tool (GoReplay, tcpcopy) is packaged in Debian 12, so there is no side-by-side run; the
# table says so. Usage: sudo bench/replay_fidelity.sh [--duration S] [--levels "1 4 16 64"] [--doc FILE|--no-doc]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args 8 --levels LEVELS "1 4 16 64" "$@"
bench_init rf 10.91 512 9000

# Each level gets its own agent and recorder, so the counts of one level never mix with another's.
run_level() { # connections -> writes "served received cpu_s hwm_kib" to $H_TMP/result.<connections>
  local conns=$1 rec="$H_TMP/rec.$1.jsonl"
  serve_recorder "$conns" "$rec" --host "$SHD4" --port "$SHADOW_PORT"
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_PORT" --metrics-addr off
  local t0 t1
  t0=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  in_cli wrk -t "$((conns < 2 ? conns : 2))" -c "$conns" -d "${DURATION}s" "http://$SRV4:$PORT/" >"$H_TMP/wrk.$conns.txt" 2>&1
  sleep 3 # let the replays drain
  t1=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat")
  local hwm
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$AGENT_PID/status")
  agent_stop TERM
  h_stop_pid "$RECORDER_PID" TERM 5
  local served
  served=$(awk '/requests in/ {print $1}' "$H_TMP/wrk.$conns.txt")
  served=${served:-0}
  # wrk's request is fixed: received requests = bytes received / its size.
  local reqlen=$((${#SRV4} + ${#PORT} + 27)) # "GET / HTTP/1.1\r\nHost: A:P\r\n\r\n": 16 + 6 + A + 1 + P + 2 + 2
  local bytes
  bytes=$(jlines "$rec" 'sum(r["bytes"] for r in s)')
  local hz
  hz=$(getconf CLK_TCK)
  echo "$served $((bytes / reqlen)) $(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", d / hz}') $hwm" \
    >"$H_TMP/result.$conns"
}

printf '%-12s %12s %12s %9s %14s %12s\n' connections served received share "cpu_s/10k_req" "peak_rss_MiB"
ROWS=""
ALL_OK=1
for level in $LEVELS; do
  # In this shell, not a subshell: the processes it starts must reach the cleanup trap.
  served=""
  run_level "$level" || true
  read -r served received cpu hwm <"$H_TMP/result.$level" 2>/dev/null || true
  if [ -z "$served" ]; then
    echo "level $level failed: $(tail -3 "$AGENT_LOG" 2>/dev/null; tail -3 "$H_TMP/wrk.$level.txt" 2>/dev/null)" >&2
    ALL_OK=0
    continue
  fi
  share=$(awk -v r="$received" -v s="$served" 'BEGIN { if (s == 0) print "n/a"; else printf "%.4f", (r > s ? s : r) / s }')
  per10k=$(awk -v c="$cpu" -v r="$received" 'BEGIN { if (r == 0) print "n/a"; else printf "%.2f", c * 10000 / r }')
  mib=$(awk -v k="$hwm" 'BEGIN { printf "%.0f", k / 1024 }')
  printf '%-12s %12s %12s %9s %14s %12s\n' "$level" "$served" "$received" "$share" "$per10k" "$mib"
  ROWS+="| $level | $served | $received | $share | $per10k | $mib |"$'\n'
  awk -v x="$share" 'BEGIN { exit !(x != "n/a" && x >= 0.999) }' || ALL_OK=0
done
verdict=$([ "$ALL_OK" = 1 ] && echo "met at every level" || echo "NOT met at every level")
echo "target (shadow >= 99.9 % of primary): $verdict"

if [ -n "$DOC" ]; then
  section="<!-- replay_fidelity:begin -->
## Replay fidelity (\`bench/replay_fidelity.sh\`)

$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs. nginx (1 worker, 512-byte page) in a server
namespace, \`shadowtap run --percent 100 --shadow …\` on its NIC, a recorder as the shadow in a third
namespace; wrk (2 threads, 1 for one connection; ${DURATION} s) at each concurrency. *received* = bytes the shadow got ÷
wrk's fixed request size; *share* = received ÷ served (capped at 1: wrk counts only answered
requests); CPU = the agent's user+system time over the level, per 10,000 replayed requests;
peak RSS = the agent's VmHWM.

| connections | served (primary) | received (shadow) | share | agent CPU s / 10k req | agent peak RSS MiB |
|---|---:|---:|---:|---:|---:|
${ROWS}
Target: share ≥ 0.999 at every level — **${verdict}**. Peer tools: GoReplay and tcpcopy are not
packaged in Debian 12 (no network access beyond its archive here), so no side-by-side numbers.
<!-- replay_fidelity:end -->"
  bench_doc_section replay_fidelity "$section"
fi
