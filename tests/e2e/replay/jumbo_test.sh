#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Big frames are mirrored whole (issue 6). Every link of the replay topology has MTU 9000.
#   A. jumbo: the client's TSO/GSO are off, so its packets reach the tapped NIC as real 9000-byte
#      frames, one segment each, the way a jumbo-frame NIC without LRO delivers them.
#   B. super-packets: TSO/GSO on (the veth default), so TCP hands the tap GSO packets of up to
#      64 KiB, the way GRO hands them to tc on a real NIC.
# Each phase: 40 connections of 2 POSTs with 128 KiB bodies, 20 of 5 keep-alive GETs. The shadow must get
# every stream byte-identical (compare.py), with no capture loss, no clone failure, no flow broken;
# a tcpdump on the mirror port (st-mirror1) proves the big frames really were there: frames
# > 1514 bytes in A (and none > 9014+), frames > 9014 bytes in B.
# Usage: jumbo_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/replay_lib.sh"
rl_init "${1:-}"

PORT=18080
MTU=9000

rl_topology ""
for pair in "$NS_CLI $CLI_IF" "$NS_SRV $SRV_IF" "$NS_SRV $SRV_SH_IF" "$NS_SHD $SHD_IF"; do
  set -- $pair
  ip -n "$1" link set "$2" mtu "$MTU"
done
rl_http_server "$PORT"

# phase NAME TSO(on|off) SHADOW_PORT: the workload with the client's offloads set, checked end to end.
phase() {
  local name="$1" tso="$2" shadow="$3" conns="$RL_TMP/$1.conns" rec="$RL_TMP/$1.shadow.jsonl"
  in_cli ethtool -K "$CLI_IF" tso "$tso" gso "$tso" >/dev/null 2>&1 ||
    fail "$name: cannot set tso/gso $tso on $CLI_IF (ethtool -K)"
  rl_recorder "$name" "$rec" --port "$shadow"
  rl_agent_start --port "$PORT" --percent 100 --shadow "$SHD4:$shadow"
  # Frame sizes on the mirror port, as the agent's capture sees them (headers only: -s 128).
  in_srv tcpdump -i st-mirror1 -nn -s 128 -w "$RL_TMP/$name.pcap" 'tcp' >"$RL_TMP/$name.tcpdump.log" 2>&1 &
  local dump=$!
  RL_BG_PIDS+=("$dump")
  sleep 1
  : >"$conns"
  local common=(--host "$SRV4" --port "$PORT" --out-conns "$conns")
  rl_client "$RL_TMP/$name.post.json" "${common[@]}" --id "${name}po" --conns 40 --reqs 2 --body $((128 << 10)) --concurrency 8
  rl_client "$RL_TMP/$name.get.json" "${common[@]}" --id "${name}ka" --conns 20 --reqs 5 --concurrency 5
  local n
  n=$(wc -l <"$conns")
  rl_wait_records "$rec" '"event": "close"' "$n" 30 || true
  rl_wait_idle 10 || true
  sleep 0.5
  # TERM, not INT: a background job of a non-interactive shell starts with SIGINT ignored.
  kill -TERM "$dump" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$dump" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$dump" 2>/dev/null || true
  wait "$dump" 2>/dev/null || true
  rl_status "$RL_TMP/$name.status.json"
  local s="$RL_TMP/$name.status.json"
  rl_assert_no_kernel_drops "$s" "$name"
  assert_eq "$name: kernel clone_failed" 0 "$(jget "$s" 'j["counters"]["clone_failed"]')"
  assert_eq "$name: capture malformed" 0 "$(jget "$s" 'j["pipeline"]["capture"]["malformed"]')"
  assert_eq "$name: flows started" "$n" "$(jget "$s" 'j["pipeline"]["flows"]["started"]')"
  assert_eq "$name: flows completed" "$n" "$(jget "$s" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "$name: flows broken+reset+evicted" 0 \
    "$(jget "$s" 'sum(j["pipeline"]["flows"][k] for k in ("broken","reset","evicted"))')"
  assert_eq "$name: replays completed" "$n" "$(jget "$s" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
  rl_compare "$RL_TMP/$name.compare.json" --client "$conns" --shadow "$rec"
  # Frame lengths on st-mirror1 (wire length, not the 128-byte capture).
  read -r big jumbo max <<<"$("$PYTHON" - "$RL_TMP/$name.pcap" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
off, big, jumbo, mx = 24, 0, 0, 0
while off + 16 <= len(data):
    _, _, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
    off += 16 + incl
    mx = max(mx, orig)
    big += orig > 1514
    jumbo += orig > 9014
print(big, jumbo, mx)
PY
)"
  log "$name: frames on st-mirror1 > 1514 bytes: $big, > 9014 bytes: $jumbo, largest $max"
  if [ "$tso" = off ]; then
    assert_ge "$name: jumbo frames (> 1514 bytes) mirrored" 1 "$big"
    assert_eq "$name: frames > 9014 bytes with TSO/GSO off (harness: really one segment per frame)" 0 "$jumbo"
  else
    assert_ge "$name: GSO super-packets (> 9014 bytes) mirrored" 1 "$jumbo"
  fi
  rl_agent_stop
}

phase jumbo off 19301
phase super on 19302
