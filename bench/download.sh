#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Download-heavy traffic (not a timed test): keep-alive clients fetching 1 MiB responses, every
# connection mirrored (100 %) and replayed to a shadow nginx in TCP mode. What a mirror wastes here
# is the responses: the replay needs only the client's bytes and the server's ACKs, FIN and RST.
#
#   client ns (wrk, keep-alive) ==veth== server ns (nginx primary, shadowtap on its NIC)
#                                         ==veth== shadow ns (nginx shadow)
#
# In one invocation: a no-tap run, then the tap with responses copied whole into the capture ring
# (SHADOWTAP_CAPTURE_RESPONSES=1: what every TC-mode capture did before), then the default (TCP
# mode: responses copied up to their TCP header, capture_snap). Per run: requests the primary
# served and its ratio to the no-tap run, requests the shadow served, bytes the agent read from
# the capture ring and frames the kernel dropped there, and the agent's CPU seconds.
# Usage: sudo bench/download.sh [--duration S] [--conns N] [--doc FILE|--no-doc]
#        (AGENT_ARGS="--mode xdp" adds flags to every tap run: XDP mode's ring copy cuts responses too)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args 10 --conns CONNS 8 "$@"
PAGE=1048576
bench_init dl 10.93 "$PAGE" 9081
serve_nginx shadow "$NS_SHD" "$SHD4:$SHADOW_PORT" "$PAGE"

shadow_requests() { in_ns "$NS_SHD" curl -fsS "http://$SHD4:$SHADOW_PORT/nginx_status" | awk 'NR == 3 {print $3}'; }
agent_cpu_ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"; }

# load NAME: wrk keep-alive for DURATION s; requests served in $H_TMP/NAME.served
load() {
  in_cli wrk -t 2 -c "$CONNS" -d "${DURATION}s" "http://$SRV4:$PORT/" >"$H_TMP/$1.wrk" 2>&1
  awk '/requests in/ {print $1}' "$H_TMP/$1.wrk" >"$H_TMP/$1.served"
}

load notap
BASE=$(cat "$H_TMP/notap.served")
echo "no tap: $BASE requests of 1 MiB in ${DURATION} s"
printf '%-16s %9s %9s %9s %7s %14s %12s %8s %14s\n' responses served vs_notap shadow share captured_MiB kernel_drops cpu_s cpu_ms/replay
ROWS=""
for variant in whole headers; do
  if [ "$variant" = whole ]; then export SHADOWTAP_CAPTURE_RESPONSES=1; else unset SHADOWTAP_CAPTURE_RESPONSES; fi
  # shellcheck disable=SC2086 # AGENT_ARGS: extra flags, word-split on purpose
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_PORT" --log-level warn ${AGENT_ARGS:-}
  unset SHADOWTAP_CAPTURE_RESPONSES
  before=$(shadow_requests)
  c0=$(agent_cpu_ticks)
  load "$variant"
  agent_wait_idle 20 || true
  c1=$(agent_cpu_ticks)
  agent_status "$H_TMP/status.$variant.json"
  after=$(shadow_requests)
  agent_stop TERM
  S="$H_TMP/status.$variant.json"
  served=$(cat "$H_TMP/$variant.served")
  ratio=$(awk -v s="$served" -v b="$BASE" 'BEGIN { printf "%.3f", b ? s / b : 0 }')
  mib=$(jget "$S" '"%.1f" % (j["pipeline"]["capture"]["bytes"] / 1048576)')
  drops=$(jget "$S" 'j["pipeline"]["capture"]["kernel_drops"]')
  cpu=$(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", d / hz}')
  shadow=$((after - before))
  share=$(awk -v r="$shadow" -v s="$served" 'BEGIN { printf "%.3f", s ? r / s : 0 }')
  perreplay=$(awk -v c="$cpu" -v r="$shadow" 'BEGIN { printf "%.3f", r ? c * 1000 / r : 0 }')
  label=$([ "$variant" = whole ] && echo "copied whole" || echo "up to TCP header")
  printf '%-16s %9s %9s %9s %7s %14s %12s %8s %14s\n' "$variant" "$served" "$ratio" "$shadow" "$share" "$mib" "$drops" "$cpu" "$perreplay"
  ROWS+="| $label | $served | $ratio | $shadow | $share | $mib | $drops | $cpu | $perreplay |"$'\n'
  eval "MIB_$variant=$mib CPU_$variant=$cpu"
done
# shellcheck disable=SC2154 # set by the eval above
SAVED=$(awk -v w="$MIB_whole" -v h="$MIB_headers" 'BEGIN { printf "%.3f", w ? h / w : 0 }')
echo "captured bytes, headers only / whole: $SAVED"

if [ -n "$DOC" ]; then
  section="<!-- download:begin -->
## Download-heavy traffic: responses not captured (\`bench/download.sh\`)

$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs. nginx primary (1 worker, 1 MiB page) in a
server namespace, \`shadowtap run --percent 100 --shadow …\` (TCP mode) on its NIC, nginx as the shadow;
\`wrk -t2 -c${CONNS}\` keep-alive for ${DURATION} s. No tap: **${BASE}** requests. *captured* = bytes the agent
read from its capture ring; *share* = shadow ÷ served; CPU = the agent's user+system seconds over the
run, and per request replayed to the shadow.

| responses in the capture | served (primary) | vs no tap | shadow served | share | captured MiB | kernel drops | agent CPU s | agent CPU ms / replayed request |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${ROWS}
Captured bytes with responses cut to their TCP header, against whole: **${SAVED}x**. The replay
needs a response's sequence number, ACK and flags only; with no HTTP service the capture socket's
filter (\`capture_snap\`) copies it that far, and the flow table does not reassemble it
(\`capture.response_headers_only\` counts them). \`SHADOWTAP_CAPTURE_RESPONSES=1\` is the baseline.
Both runs read the shadow's own answers with \`MSG_TRUNC\` (counted, never copied: TCP mode frames
nothing). The four programs (wrk, both nginx, the agent) share the 2 CPUs: a shadow that serves more
replays takes some of the primary's rate (*vs no tap*).
<!-- download:end -->"
  bench_doc_section download "$section"
fi
