#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Many agents, one host (issue 11): one server namespace with two tapped NICs, an agent on each,
# each replaying to its own shadow recorder.
#
#   [ns cli] $CLI_IF ==== $SRV_IF  [ns srv]  $SRV2_IF ==== $CL2_IF [ns cl2]
#                          agent A            agent B
#                           \-> shadow :19401  \-> shadow :19402   (both in the shadow namespace)
#
#   - status shows each agent its own mirror pair (named after its interface, both ends present,
#     the two pairs distinct: four st-* interfaces in the namespace);
#   - each shadow receives exactly its own NIC's connections, byte-identical, and nothing else;
#   - stopping either agent leaves the other working: its pair stays, and new connections through
#     its NIC are still replayed (while the stopped agent's NIC is not mirrored at all).
# Before pairs were named per interface, the second agent reused st-mirror0/1 and the first one
# to stop deleted it: the other then mirrored nothing more.
# Usage: two_agents_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW_A=19401
SHADOW_B=19402
NS_CL2="rp-cl2-$H_ID" CL2_IF="rpy$H_ID" SRV2_IF="rpx$H_ID"
SRV2_4="$H_NET.3.1" CL2_4="$H_NET.3.2"
node_neighbour "$NS_CL2" "$SRV2_IF" "$CL2_IF" "$SRV2_4" "$CL2_4"

serve_recorder a "$H_TMP/shadow_a.jsonl" --port "$SHADOW_A"
serve_recorder b "$H_TMP/shadow_b.jsonl" --port "$SHADOW_B"

# The harness follows one agent at a time (AGENT_*): keep each agent's in A_* / B_*.
remember() { eval "$1_PID=\$AGENT_PID $1_IF=\$AGENT_IFACE $1_LOG=\$AGENT_LOG $1_TX=\$AGENT_MIRROR_TX $1_RX=\$AGENT_MIRROR_RX"; }
use() { eval "AGENT_PID=\$$1_PID AGENT_IFACE=\$$1_IF AGENT_LOG=\$$1_LOG AGENT_MIRROR_TX=\$$1_TX AGENT_MIRROR_RX=\$$1_RX"; AGENT_SHADOW=1; }
# Two agents in one namespace: each serves its endpoint on a port of its own (0: any free one).
start_a() { agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_A" --metrics-addr 127.0.0.1:0; remember A; }
start_b() { agent_start --iface "$SRV2_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_B" --metrics-addr 127.0.0.1:0; remember B; }

# traffic ROUND: 10 connections x 3 requests through each NIC; their streams in ROUND.{a,b}.conns.
traffic() {
  : >"$H_TMP/$1.a.conns"
  : >"$H_TMP/$1.b.conns"
  http_client "$H_TMP/$1.a.json" --host "$SRV4" --port "$PORT" --out-conns "$H_TMP/$1.a.conns" --id "$1a" --conns 10 --reqs 3 --concurrency 5
  local save="$NS_CLI"
  NS_CLI="$NS_CL2"
  http_client "$H_TMP/$1.b.json" --host "$SRV2_4" --port "$PORT" --out-conns "$H_TMP/$1.b.conns" --id "$1b" --conns 10 --reqs 3 --concurrency 5
  NS_CLI="$save"
}

# check_pair WHO: status shows the agent's own pair, named after its interface, both ends present.
check_pair() {
  use "$1"
  agent_status "$H_TMP/pair.$1.json"
  local tx rx
  tx="$(jget "$H_TMP/pair.$1.json" 'j["mirror_pair"][0]')"
  rx="$(jget "$H_TMP/pair.$1.json" 'j["mirror_pair"][1]')"
  [[ "$tx" == st-* && "$rx" == st-* && "$tx" != "$rx" ]] || fail "agent $1: unexpected mirror pair '$tx' '$rx'"
  assert_eq "agent $1 reads its pair's other end" "$rx" "$(jget "$H_TMP/pair.$1.json" 'j["mirror_read_iface"]')"
  in_srv ip link show dev "$tx" >/dev/null 2>&1 || fail "agent $1: its mirror $tx is gone"
  in_srv ip link show dev "$rx" >/dev/null 2>&1 || fail "agent $1: its mirror $rx is gone"
  log "ok: agent $1 on $AGENT_IFACE has its own mirror pair $tx -> $rx"
}

start_a
start_b
check_pair A
check_pair B
[ "$A_TX" != "$B_TX" ] && [ "$A_RX" != "$B_RX" ] || fail "the agents share a mirror pair: $A_TX/$A_RX vs $B_TX/$B_RX"
assert_eq "st-* interfaces in the server namespace" 4 "$(mirror_ifaces "$NS_SRV" | wc -l)"

# 1. Both running: each shadow gets its own NIC's connections only.
traffic r1
wait_records "$H_TMP/shadow_a.jsonl" '"event": "close"' 10 20 || true
wait_records "$H_TMP/shadow_b.jsonl" '"event": "close"' 10 20 || true
compare_streams "$H_TMP/r1.a.cmp" --client "$H_TMP/r1.a.conns" --shadow "$H_TMP/shadow_a.jsonl" --port "$SHADOW_A"
compare_streams "$H_TMP/r1.b.cmp" --client "$H_TMP/r1.b.conns" --shadow "$H_TMP/shadow_b.jsonl" --port "$SHADOW_B"

# 2. A stops: B's pair stays and B keeps replaying; A's NIC is no longer mirrored anywhere.
use A
agent_stop_checked
check_pair B
traffic r2
wait_records "$H_TMP/shadow_b.jsonl" '"event": "close"' 20 20 || true
sleep 1 # anything mirrored from A's NIC would have reached a shadow by now
compare_streams "$H_TMP/r2.a.cmp" --client "$H_TMP/r1.a.conns" --shadow "$H_TMP/shadow_a.jsonl" --port "$SHADOW_A"
compare_streams "$H_TMP/r2.b.cmp" --client "$H_TMP/r1.b.conns" --client "$H_TMP/r2.b.conns" \
  --shadow "$H_TMP/shadow_b.jsonl" --port "$SHADOW_B"

# 3. A again, then B stops: A's pair stays and A keeps replaying.
start_a
check_pair A
use B
agent_stop_checked
check_pair A
traffic r3
wait_records "$H_TMP/shadow_a.jsonl" '"event": "close"' 20 20 || true
sleep 1
compare_streams "$H_TMP/r3.a.cmp" --client "$H_TMP/r1.a.conns" --client "$H_TMP/r3.a.conns" \
  --shadow "$H_TMP/shadow_a.jsonl" --port "$SHADOW_A"
compare_streams "$H_TMP/r3.b.cmp" --client "$H_TMP/r1.b.conns" --client "$H_TMP/r2.b.conns" \
  --shadow "$H_TMP/shadow_b.jsonl" --port "$SHADOW_B"
use A
agent_stop_checked
check_untapped "$NS_SRV" "$SRV_IF" 0 "agent A's interface"
check_untapped "$NS_SRV" "$SRV2_IF" 0 "agent B's interface"
