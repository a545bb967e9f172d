#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Remote mirroring: `run --mirror-vxlan` on the node, `collect` elsewhere (the load-test tap's
# collector, and AWS VPC Traffic Mirroring's receiving end).
#
#   [ns $NS_CLI] clients; collect --listen $CLI4 ... --shadow 127.0.0.1:$SHADOW; recorder.py
#        ||  $CLI_IF == veth == $SRV_IF
#   [ns $NS_SRV] http_server.py on $PORT; run --iface $SRV_IF --mirror-vxlan $CLI4 --vni 7
#
# The collector sits behind the tapped NIC on purpose: the VXLAN copies leave by $SRV_IF's egress,
# where the tap sees them again and would clone the inner TCP (port $PORT) once more, forever, if
# the clones did not carry the skip mark (counted `marked`, never re-cloned).
#   A. 10 keep-alive connections of POSTs: every client stream reaches the collector's shadow
#      byte-identical; the collector counts 10 flows and 10 completed replays, nothing malformed,
#      nothing dropped; the node's kernel counts every VXLAN copy as marked; stopping the agent
#      removes its VXLAN device (st-*.v) with the rest of the tap.
#   B. the tcpdump capture of A's connections, each frame wrapped in VXLAN as AWS VPC Traffic
#      Mirroring sends it (VNI 99, UDP checksum 0) plus one non-VXLAN datagram and one of another
#      VNI, sent with tcpreplay into a collector started with --vni 99: the same 10 streams,
#      byte-identical; the two extra datagrams counted not_vxlan and other_vni.
#   C. the same capture in VNIs 99 and 100 at once, frame by frame (two nodes mirroring connections
#      with the same addresses and ports), into a collector taking any VNI: 20 connections, each
#      stream delivered whole twice — connections are keyed by VNI as well as their tuple.
#   D. bad flags: --mirror-vxlan with --shadow, with --mode xdp, with a bad address; collect with
#      no --listen: exit 2, one line, nothing left attached.
# Usage: vxlan_collect_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
h_init --need tcpreplay --need tcpdump --need ethtool
h_agent "${1:-}"
h_topology vx
# Segments as a NIC puts them on the wire (no TSO/GSO super-packets, no GRO): part B replays this
# side's capture, wrapped in VXLAN, frame by frame.
ip netns exec "$NS_CLI" ethtool -K "$CLI_IF" tso off gso off gro off >/dev/null || fail "ethtool -K $CLI_IF failed"
ip netns exec "$NS_SRV" ethtool -K "$SRV_IF" tso off gso off gro off >/dev/null || fail "ethtool -K $SRV_IF failed"
PORT=18080
SHADOW=19701
serve_http "$PORT"
RECORDER_NS=$NS_CLI serve_recorder main "$H_TMP/shadow.jsonl" --host 127.0.0.1 --port "$SHADOW"

# collector_start NAME ARGS...: `collect ARGS --json` in the client namespace, in the background,
# summary in $H_TMP/NAME.json, log in $H_TMP/NAME.log; returns once it listens.
collector_start() {
  local name="$1" i
  shift
  h_bg ip netns exec "$NS_CLI" "$AGENT" collect --json "$@" >"$H_TMP/$name.json" 2>"$H_TMP/$name.log"
  COLLECTOR_PID=$BG_PID
  for ((i = 0; i < 100; i++)); do
    grep -q "ready" "$H_TMP/$name.log" 2>/dev/null && return 0
    kill -0 "$COLLECTOR_PID" 2>/dev/null || fail "collect exited at start: $(cat "$H_TMP/$name.log")"
    sleep 0.1
  done
  fail "collect not ready within 10 s: $(cat "$H_TMP/$name.log")"
}

# collector_stop NAME: SIGTERM, and the summary must be there.
collector_stop() {
  h_stop_pid "$COLLECTOR_PID" TERM 10
  [ "$STOP_RC" = 0 ] || fail "collect exited with $STOP_RC: $(tail -n 20 "$H_TMP/$1.log")"
  log "$1: collector $(jget "$H_TMP/$1.json" 'j["collector"]')"
  log "$1: flows $(jget "$H_TMP/$1.json" '{k: j["pipeline"]["flows"][k] for k in ("started","completed","reset","broken")}')"
}

# check_collected NAME [COPIES=1]: the collector replayed the 10 connections of A COPIES times
# (once per VNI they were sent in), byte-identical.
check_collected() {
  local S="$H_TMP/$1.json" copies="${2:-1}"
  local n=$((10 * copies))
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$n" 20 || true
  collector_stop "$1"
  compare_streams "$H_TMP/$1.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW" \
    --copies "$copies"
  assert_eq "$1: flows started" "$n" "$(jget "$S" 'j["pipeline"]["flows"]["started"]')"
  assert_eq "$1: flows completed" "$n" "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "$1: client bytes" $((NBYTES * copies)) "$(jget "$S" 'j["pipeline"]["flows"]["client_bytes"]')"
  assert_eq "$1: replays completed" "$n" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
  assert_eq "$1: bytes out" $((NBYTES * copies)) "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["bytes_out"]')"
  assert_eq "$1: capture malformed+bad_checksum+truncated" 0 \
    "$(jget "$S" 'sum(j["pipeline"]["capture"][k] for k in ("malformed","bad_checksum","truncated"))')"
  assert_eq "$1: socket drops" 0 "$(jget "$S" 'j["collector"]["socket_drops"]')"
  assert_eq "$1: cut datagrams" 0 "$(jget "$S" 'j["collector"]["cut"]')"
}

# --- A. a node mirroring to a collector -------------------------------------------------------------
collector_start a --listen "$CLI4" --vni 7 --port "$PORT" --shadow "127.0.0.1:$SHADOW"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mirror-vxlan "$CLI4" --vni 7
VX_DEV="$(jget "$H_TMP/status.start.json" 'j["mirror_iface"]')"
assert_eq "the mirror is the agent's VXLAN device" "vxlan" \
  "$(ip -n "$NS_SRV" -d -o link show dev "$VX_DEV" | grep -o 'vxlan' | head -n1)"
ip -n "$NS_SRV" -d -o link show dev "$VX_DEV" | grep -q "id 7 remote $CLI4 " ||
  fail "VXLAN device $VX_DEV is not VNI 7 toward $CLI4: $(ip -n "$NS_SRV" -d -o link show dev "$VX_DEV")"
CAPTURE_NS=$NS_SRV CAPTURE_IF=$SRV_IF capture_start cap --snaplen 262144 tcp port "$PORT"
http_client "$H_TMP/a.json" --host "$SRV4" --port "$PORT" --id vx --conns 10 --reqs 5 --body 3000 \
  --concurrency 3 --pace 0.02 --out-conns "$H_TMP/a.conns"
capture_stop
NBYTES=$(jlines "$H_TMP/a.conns" 'sum(r["bytes"] for r in s)')
log "10 client connections, $NBYTES request bytes"
check_collected a
agent_status "$H_TMP/a.status.json"
S="$H_TMP/a.status.json"
CLONED=$(counter "$S" cloned)
log "node kernel counters: $(jget "$S" '{k: v for k, v in j["counters"].items() if v}')"
assert_gt "node: cloned" 0 "$CLONED"
assert_eq "node: clone_failed" 0 "$(counter "$S" clone_failed)"
# Every clone's VXLAN copy crossed the tapped NIC's egress once, marked: none cloned again.
assert_ge "node: marked (the VXLAN copies of the clones, seen on egress)" "$CLONED" "$(counter "$S" marked)"
assert_ge "collector: VXLAN frames received (one per clone at least)" "$CLONED" "$(jget "$H_TMP/a.json" 'j["collector"]["frames"]')"
assert_eq "collector: not_vxlan + other_vni" 0 \
  "$(jget "$H_TMP/a.json" 'j["collector"]["not_vxlan"] + j["collector"]["other_vni"]')"
agent_stop_checked
check_untapped "$NS_SRV" "$SRV_IF" 0 "after --mirror-vxlan"

# --- B. an AWS-style VXLAN capture, replayed into the collector ------------------------------------
# VXLAN adds 50 bytes to a full-sized frame: room for them on the link the capture is sent over.
ip -n "$NS_CLI" link set dev "$CLI_IF" mtu 1600
ip -n "$NS_SRV" link set dev "$SRV_IF" mtu 1600
CLI_MAC="$(ip netns exec "$NS_CLI" cat "/sys/class/net/$CLI_IF/address")"
"$PYTHON" "$H_TOOLS/vxlan_wrap.py" --in "$H_TMP/cap.pcap" --out "$H_TMP/aws.pcap" --src "$SRV4" --dst "$CLI4" \
  --dst-mac "$CLI_MAC" --vni 99 --junk >"$H_TMP/wrap.json" || fail "vxlan_wrap.py failed"
log "wrapped: $(cat "$H_TMP/wrap.json")"
: >"$H_TMP/shadow.jsonl"
collector_start b --listen "$CLI4:4789" --vni 99 --port "$PORT" --shadow "127.0.0.1:$SHADOW"
ip netns exec "$NS_SRV" tcpreplay -q -i "$SRV_IF" --pps 2000 "$H_TMP/aws.pcap" >"$H_TMP/tcpreplay.log" 2>&1 ||
  fail "tcpreplay failed: $(cat "$H_TMP/tcpreplay.log")"
check_collected b
assert_eq "collector: frames" "$(jget "$H_TMP/wrap.json" 'j["frames"]')" "$(jget "$H_TMP/b.json" 'j["collector"]["frames"]')"
assert_eq "collector: not_vxlan (the datagram without the I flag)" 1 "$(jget "$H_TMP/b.json" 'j["collector"]["not_vxlan"]')"
assert_eq "collector: other_vni" 1 "$(jget "$H_TMP/b.json" 'j["collector"]["other_vni"]')"

# --- C. two VNIs, the same connections in each, interleaved ----------------------------------------
"$PYTHON" "$H_TOOLS/vxlan_wrap.py" --in "$H_TMP/cap.pcap" --out "$H_TMP/two.pcap" --src "$SRV4" --dst "$CLI4" \
  --dst-mac "$CLI_MAC" --vni 99,100 >"$H_TMP/wrap2.json" || fail "vxlan_wrap.py failed"
: >"$H_TMP/shadow.jsonl"
collector_start c --listen "$CLI4" --port "$PORT" --shadow "127.0.0.1:$SHADOW"
ip netns exec "$NS_SRV" tcpreplay -q -i "$SRV_IF" --pps 2000 "$H_TMP/two.pcap" >"$H_TMP/tcpreplay2.log" 2>&1 ||
  fail "tcpreplay failed: $(cat "$H_TMP/tcpreplay2.log")"
check_collected c 2
assert_eq "collector: frames (every frame in both VNIs)" "$(jget "$H_TMP/wrap2.json" 'j["frames"]')" \
  "$(jget "$H_TMP/c.json" 'j["collector"]["frames"]')"

# --- D. bad flags -------------------------------------------------------------------------------------
bad() { # WHAT EXPECTED_TEXT ARGS...
  local what="$1" want="$2" rc=0
  shift 2
  ip netns exec "$NS_SRV" "$AGENT" "$@" >"$H_TMP/bad.out" 2>&1 || rc=$?
  assert_eq "$what: exit status" 2 "$rc"
  grep -q -- "$want" "$H_TMP/bad.out" || fail "$what: no '$want' in: $(cat "$H_TMP/bad.out")"
}
bad "--mirror-vxlan with --shadow" "no --shadow or --record" run --iface "$SRV_IF" --port "$PORT" \
  --mirror-vxlan "$CLI4" --shadow "127.0.0.1:$SHADOW"
bad "--mirror-vxlan in xdp mode" "needs --mode tc" run --iface "$SRV_IF" --port "$PORT" --mirror-vxlan "$CLI4" --mode xdp
bad "--mirror-vxlan bad address" "invalid --mirror-vxlan" run --iface "$SRV_IF" --port "$PORT" --mirror-vxlan nohost:99999
bad "--vni too large" "invalid --vni" run --iface "$SRV_IF" --port "$PORT" --mirror-vxlan "$CLI4" --vni 16777216
bad "collect without --listen" "missing --listen" collect --port "$PORT" --shadow "127.0.0.1:$SHADOW"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after the refused starts"
