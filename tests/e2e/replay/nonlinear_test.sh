#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Headers outside the linear area of the skb (issue 11), end to end: BPF_PROG_TEST_RUN builds only
# linear skbs, so this test makes real non-linear ones. tests/tools/vnet_inject.py writes crafted
# client connections to an AF_PACKET socket with PACKET_VNET_HDR and a zero virtio header: every
# data frame (6000 bytes of payload, above a page, on a 9000-MTU veth) becomes an skb whose linear
# part is the Ethernet header alone, its IP and TCP headers in page fragments. They cross the veth
# into the tapped namespace as they are. The frames carry a foreign destination MAC, so the
# server's stack drops them after tc (nothing answers, nothing resets). The injector also plays the
# server's half on the server's interface (SYN-ACK, ACKs, FIN-ACK through its egress hooks, dropped
# by the client's stack the same way): the agent replays only what a server acknowledged.
#   - Every frame is mirrored: `cloned` grows by exactly the frames sent, no malformed_* counter
#     moves (before the fix, the data frames counted as malformed_ipv4 and the flow broke).
#   - Each connection carries one bad-checksum duplicate of a segment, sent FIRST with different
#     bytes: the kernel never verified these frames (CHECKSUM_NONE, no TP_STATUS_CSUM_VALID), so
#     the agent checks them, drops the bad copies (capture.bad_checksum = 1 per connection) and
#     replays every connection byte-identical to the shadow, ended by a FIN.
# Usage: nonlinear_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19301
CONNS=3
# Frames above a page need an MTU above a page on both ends of the client's veth.
ip -n "$NS_CLI" link set dev "$CLI_IF" mtu 9000
ip -n "$NS_SRV" link set dev "$SRV_IF" mtu 9000

serve_recorder vn "$H_TMP/shadow.jsonl" --port "$SHADOW"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW"
agent_status "$H_TMP/before.json"

in_cli "$PYTHON" "$H_TOOLS/vnet_inject.py" --iface "$CLI_IF" --src "$CLI4" --dst "$SRV4" --dport "$PORT" \
  --conns "$CONNS" --segment 6000 --segments 5 --bad-duplicate --server-netns "$NS_SRV" --server-iface "$SRV_IF" \
  --out-conns "$H_TMP/conns.jsonl" \
  >"$H_TMP/inject.json" || fail "vnet_inject.py failed: $(cat "$H_TMP/inject.json")"
log "injected: $(cat "$H_TMP/inject.json")"
FRAMES=$(jget "$H_TMP/inject.json" 'j["frames"]')
assert_ge "frames larger than a page (non-linear skbs)" $((CONNS * 6)) "$(jget "$H_TMP/inject.json" 'j["frames_over_a_page"]')"

wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$CONNS" 20 || true
sleep 1.1 # the agent publishes its pipeline counters once a second
agent_status "$H_TMP/after.json"
delta() { echo $(($(jget "$H_TMP/after.json" "$1") - $(jget "$H_TMP/before.json" "$1"))); }
assert_eq "frames cloned (every injected frame, headers in page fragments or not)" "$FRAMES" "$(delta 'j["counters"]["cloned"]')"
assert_eq "malformed frames in the kernel" 0 \
  "$(delta 'sum(j["counters"][k] for k in ("malformed_l2","malformed_ipv4","malformed_ipv6","malformed_tcp"))')"
assert_eq "frames the agent read" "$FRAMES" "$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["frames"]')"
assert_eq "capture malformed" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["malformed"]')"
assert_eq "bad-checksum copies dropped by the agent" "$CONNS" "$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["bad_checksum"]')"
assert_eq "flows broken" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["broken"]')"
compare_streams "$H_TMP/compare.json" --client "$H_TMP/conns.jsonl" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
agent_stop_checked
