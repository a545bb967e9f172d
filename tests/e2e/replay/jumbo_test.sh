#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Big frames are mirrored whole. Every link of the replay topology has MTU 9000.
#   A. jumbo: the client's TSO/GSO are off, so its packets reach the tapped NIC as real 9000-byte
#      frames, one segment each, the way a jumbo-frame NIC without LRO delivers them.
#   B. super-packets: TSO/GSO on (the veth default), so TCP hands the tap GSO packets of up to
#      64 KiB, the way GRO hands them to tc on a real NIC.
# Each phase: 40 connections of 2 POSTs with 128 KiB bodies, 20 of 5 keep-alive GETs. The shadow must get
# every stream byte-identical (compare.py), with no capture loss, no clone failure, no flow broken;
# a tcpdump on the mirror port (the pair's rx end) proves the big frames really were there: frames
# > 1514 bytes in A (and none > 9014+), frames > 9014 bytes in B.
# Usage: jumbo_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

MTU=9000
for pair in "$NS_CLI $CLI_IF" "$NS_SRV $SRV_IF" "$NS_SRV $SRV_SH_IF" "$NS_SHD $SHD_IF"; do
  set -- $pair
  ip -n "$1" link set "$2" mtu "$MTU"
done

# phase NAME TSO(on|off) SHADOW_PORT: the workload with the client's offloads set, checked end to end.
phase() {
  local name="$1" tso="$2" shadow="$3" conns="$H_TMP/$1.conns" rec="$H_TMP/$1.shadow.jsonl"
  in_cli ethtool -K "$CLI_IF" tso "$tso" gso "$tso" >/dev/null 2>&1 ||
    fail "$name: cannot set tso/gso $tso on $CLI_IF (ethtool -K)"
  serve_recorder "$name" "$rec" --port "$shadow"
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$shadow"
  # Frame sizes on the mirror port, as the agent's capture sees them (headers only: -s 128).
  capture_start "$name" --snaplen 128 tcp
  sleep 1
  : >"$conns"
  local common=(--host "$SRV4" --port "$PORT" --out-conns "$conns")
  http_client "$H_TMP/$name.post.json" "${common[@]}" --id "${name}po" --conns 40 --reqs 2 --body $((128 << 10)) --concurrency 8
  http_client "$H_TMP/$name.get.json" "${common[@]}" --id "${name}ka" --conns 20 --reqs 5 --concurrency 5
  local n
  n=$(wc -l <"$conns")
  wait_records "$rec" '"event": "close"' "$n" 30 || true
  agent_wait_idle 10 || true
  sleep 0.5
  capture_stop --allow-drops
  agent_status "$H_TMP/$name.status.json"
  local s="$H_TMP/$name.status.json"
  assert_no_kernel_drops "$s" "$name"
  assert_eq "$name: kernel clone_failed" 0 "$(jget "$s" 'j["counters"]["clone_failed"]')"
  assert_eq "$name: capture malformed" 0 "$(jget "$s" 'j["pipeline"]["capture"]["malformed"]')"
  assert_eq "$name: flows started" "$n" "$(jget "$s" 'j["pipeline"]["flows"]["started"]')"
  assert_eq "$name: flows completed" "$n" "$(jget "$s" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "$name: flows broken+reset+evicted" 0 \
    "$(jget "$s" 'sum(j["pipeline"]["flows"][k] for k in ("broken","reset","evicted"))')"
  assert_eq "$name: replays completed" "$n" "$(jget "$s" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
  compare_streams "$H_TMP/$name.compare.json" --client "$conns" --shadow "$rec"
  # Frame lengths on the mirror port (wire length, not the 128-byte capture).
  analyse "$CAP_FILE" "$H_TMP/$name.frames.json" "$PORT" --count-over=1514 --count-over=9014
  read -r big jumbo max <<<"$(jget "$H_TMP/$name.frames.json" '"%d %d %d" % (j["frames_over"]["1514"], j["frames_over"]["9014"], j["max_frame_len"])')"
  log "$name: frames on $AGENT_MIRROR_RX > 1514 bytes: $big, > 9014 bytes: $jumbo, largest $max"
  if [ "$tso" = off ]; then
    assert_ge "$name: jumbo frames (> 1514 bytes) mirrored" 1 "$big"
    assert_eq "$name: frames > 9014 bytes with TSO/GSO off (harness: really one segment per frame)" 0 "$jumbo"
  else
    assert_ge "$name: GSO super-packets (> 9014 bytes) mirrored" 1 "$jumbo"
  fi
  agent_stop_checked
}

phase jumbo off 19301
phase super on 19302
