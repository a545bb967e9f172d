#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Uploads larger than the capture ring, with the agent too slow for them (issue 12): streams are
# replayed whole or given up whole, never broken by capture loss.
#
# iperf3 sends 4 streams at 2 Gbit/s in total for 3 s (750 MB, the ring holds 64 MiB) to a server
# whose NIC the agent taps; every connection is replayed to a byte sink (tests/tools/st_load.c
# serve). The agent is held to 5 % of one CPU (its own cgroup: 1 ms every 20 ms, so it is slowed,
# never stopped long enough to fill the ring by itself), far below what 2 Gbit/s costs it. Before
# the fix every stream got a hole when the ring overflowed (broken, capture loss); now, as its ring
# keeps filling, the agent gives up the heaviest connections in flight (the kernel stops mirroring
# them) and the rest stay whole. Checked, bounded and not timed:
#   - the uploads themselves are untouched (iperf3 succeeds, every byte acknowledged);
#   - no capture loss (kernel_drops 0), no flow broken;
#   - the agent really was behind: at least one connection shed in flight (flows.shed_inflight),
#     and the kernel counted their packets as not mirrored (counter shed_inflight);
#   - every connection ended one way: replayed whole (the sink saw its FIN: closed_eof) or shed
#     (its replay reset: closed_rst), replay completed + aborted = opened, the ledger adds up.
# Usage: upload_test.sh PATH_TO_SHADOWTAP [PATH_TO_ST_LOAD]
set -euo pipefail
source "$(dirname "$0")/../../lib/harness.sh"
h_init --need iperf3 --need cc
h_agent "${1:-}"
h_st_load "${2:-}"
H_NET=10.94 # shellcheck disable=SC2034 # read by h_topology
h_topology up --shadow
IPERF_PORT=5201
SINK_PORT=19500

h_bg ip netns exec "$NS_SHD" "$ST_LOAD" serve --listen "$SHD4:$SINK_PORT" --stats "$H_TMP/sink.json" \
  >"$H_TMP/sink.log" 2>&1
h_bg ip netns exec "$NS_SRV" iperf3 -s -B "$SRV4" -p "$IPERF_PORT" >"$H_TMP/iperf3-server.log" 2>&1
h_wait_until "iperf3 server listening" 10 in_srv sh -c "ss -ltnH 'sport = :$IPERF_PORT' | grep -q ." ||
  fail "iperf3 -s did not start: $(cat "$H_TMP/iperf3-server.log")"
h_wait_file "$H_TMP/sink.json" "byte sink" "$H_TMP/sink.log"

agent_start --iface "$SRV_IF" --port "$IPERF_PORT" --percent 100 --shadow "$SHD4:$SINK_PORT"
h_cpu_limit "$AGENT_PID" 5

in_cli iperf3 -c "$SRV4" -p "$IPERF_PORT" -P 4 -b 500M -t 3 -J >"$H_TMP/iperf3.json" 2>"$H_TMP/iperf3.err" ||
  fail "the upload itself failed with the agent tapping: $(head -c 2000 "$H_TMP/iperf3.json" "$H_TMP/iperf3.err")"
SENT=$(jget "$H_TMP/iperf3.json" 'j["end"]["sum_sent"]["bytes"]')
RECEIVED=$(jget "$H_TMP/iperf3.json" 'j["end"]["sum_received"]["bytes"]')
log "upload: $SENT bytes sent, $RECEIVED received by the server"
assert_eq "the server received every byte sent" "$SENT" "$RECEIVED"
assert_gt "bytes uploaded (more than the 64 MiB ring)" $((256 << 20)) "$RECEIVED"

agent_wait_idle 60 || fail "the agent did not finish its replays within 60 s"
sleep 0.5 # the sink rewrites its stats every 200 ms
agent_status "$H_TMP/after.json"
log "flows: $(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]')"
log "replay: $(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]')"
log "sink: $(cat "$H_TMP/sink.json")"

assert_eq "capture loss (kernel_drops)" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["kernel_drops"]')"
assert_eq "flows broken" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["broken"]')"
SHED=$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["shed_inflight"]')
assert_ge "connections shed in flight (the agent was behind)" 1 "$SHED"
assert_gt "packets the kernel did not mirror after a shed" 0 "$(counter "$H_TMP/after.json" shed_inflight)"
CONNS=$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["started"]')
assert_eq "connections followed (iperf3's control one + 4 streams)" 5 "$CONNS"
COMPLETED=$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')
ABORTED=$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["aborted"]')
assert_eq "each connection replayed whole or shed (completed + shed_inflight)" "$CONNS" $((COMPLETED + SHED))
assert_eq "each shed connection's replay reset (aborted)" "$SHED" "$ABORTED"
assert_eq "sink: connections that ended with a FIN" "$COMPLETED" "$(jget "$H_TMP/sink.json" 'j["closed_eof"]')"
assert_eq "sink: connections reset" "$ABORTED" "$(jget "$H_TMP/sink.json" 'j["closed_rst"]')"
check_identities "$H_TMP/after.json" --flows
agent_stop_checked
