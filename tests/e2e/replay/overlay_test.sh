#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Overlays (issue 14, item 2): two node namespaces joined by kernel VXLAN devices over the veth
# underlay; the service listens on node B's overlay addresses and the agent taps node B's
# *underlay* veth, where every request and response is VXLAN-encapsulated:
#
#   [ns $NS_CLI]  vxlan 4789 (VNI 42) 10.77.0.2 ... 10.77.0.1 vxlan 4789 (VNI 42)  [ns $NS_SRV]
#                 vxlan 8472 (VNI 43) 10.76.0.2 ... 10.76.0.1 vxlan 8472 (VNI 43)
#                 $CLI_IF $CLI4 ==========veth underlay========== $SRV_IF $SRV4  <- the agent
#
# For each mode (tc: clones read from the mirror veth by one worker; tc2: by two workers, which the
# capture fan-out must give whole connections; xdp: ring copies) keep-alive GETs, POSTs
# with bodies and one 1 MiB POST cross both overlays at --percent 100: the shadow must receive
# every client stream byte-identical (compare.py on SHA-256 of each stream), the kernel counts
# decap_vxlan, and nothing is malformed or lost. Without decapsulation nothing matches port 18080
# on the underlay (it is UDP there) and the comparison fails.
# Usage: overlay_test.sh PATH_TO_SHADOWTAP   (OVERLAY_MODES="tc2" runs only the listed modes)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19601
OVL_SRV=10.77.0.1 OVL_CLI=10.77.0.2       # VXLAN on the IANA port 4789
OVL8472_SRV=10.76.0.1 OVL8472_CLI=10.76.0.2 # VXLAN on Linux's old default port 8472
VX_CLI="ovc$H_ID" VX_SRV="ovs$H_ID" VX8_CLI="o8c$H_ID" VX8_SRV="o8s$H_ID"

# overlay NS DEV VNI PORT LOCAL REMOTE UNDERLAY ADDR: a VXLAN device in NS (deleted with NS).
overlay() {
  ip -n "$1" link add "$2" type vxlan id "$3" dstport "$4" local "$5" remote "$6" dev "$7" ||
    fail "cannot create vxlan $2 in $1"
  ip -n "$1" addr add "$8/24" dev "$2"
  ip -n "$1" link set "$2" up
}
overlay "$NS_CLI" "$VX_CLI" 42 4789 "$CLI4" "$SRV4" "$CLI_IF" "$OVL_CLI"
overlay "$NS_SRV" "$VX_SRV" 42 4789 "$SRV4" "$CLI4" "$SRV_IF" "$OVL_SRV"
overlay "$NS_CLI" "$VX8_CLI" 43 8472 "$CLI4" "$SRV4" "$CLI_IF" "$OVL8472_CLI"
overlay "$NS_SRV" "$VX8_SRV" 43 8472 "$SRV4" "$CLI4" "$SRV_IF" "$OVL8472_SRV"
log "overlays: $VX_CLI/$VX_SRV (4789, $OVL_CLI -> $OVL_SRV), $VX8_CLI/$VX8_SRV (8472, $OVL8472_CLI -> $OVL8472_SRV) over $SRV_IF"

serve_recorder overlay "$H_TMP/shadow.jsonl" --port "$SHADOW"

# workload NAME: every client run appends its per-connection records to $H_TMP/NAME.conns.
workload() {
  local name="$1" conns="$H_TMP/$1.conns" host
  : >"$conns"
  for host in "$OVL_SRV" "$OVL8472_SRV"; do
    local common=(--host "$host" --port "$PORT" --out-conns "$conns")
    http_client "$H_TMP/$name.$host.ka.json" "${common[@]}" --id "${name}ka$host" --conns 30 --reqs 5 --concurrency 10
    http_client "$H_TMP/$name.$host.post.json" "${common[@]}" --id "${name}po$host" --conns 10 --reqs 3 --body 20000 --concurrency 5
    http_client "$H_TMP/$name.$host.1m.json" "${common[@]}" --id "${name}1m$host" --conns 1 --reqs 1 --body $((1 << 20))
  done
  NCONN=$(wc -l <"$conns")
  NBYTES=$(jlines "$conns" 'sum(r["bytes"] for r in s)')
  log "$name: $NCONN client connections over the overlays, $NBYTES request bytes"
}

for mode in ${OVERLAY_MODES:-tc tc2 xdp}; do
  : >"$H_TMP/shadow.jsonl"
  # tc2: two workers reading the mirror, each connection (both directions, different outer UDP
  # ports) must reach one of them: the fan-out hashes the inner connection.
  workers=1
  [ "$mode" = tc2 ] && workers=2
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "${mode%2}" --workers "$workers" \
    --shadow "$SHD4:$SHADOW"
  agent_status "$H_TMP/$mode.before.json"
  workload "$mode"
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
  agent_settle "$mode" 10 "$mode mode over VXLAN"
  S="$H_TMP/$mode.status.json"
  compare_streams "$H_TMP/$mode.compare.json" --client "$H_TMP/$mode.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
  decap=$(($(counter "$S" decap_vxlan) - $(counter "$H_TMP/$mode.before.json" decap_vxlan)))
  assert_gt "$mode: decap_vxlan counter growth" 0 "$decap"
  assert_eq "$mode: decap_geneve + decap_ipip + decap_ip6ip6" 0 \
    "$(($(counter "$S" decap_geneve) + $(counter "$S" decap_ipip) + $(counter "$S" decap_ip6ip6)))"
  assert_eq "$mode: capture malformed" 0 "$(jget "$S" 'j["pipeline"]["capture"]["malformed"]')"
  assert_eq "$mode: flows started" "$NCONN" "$(jget "$S" 'j["pipeline"]["flows"]["started"]')"
  assert_eq "$mode: flows completed" "$NCONN" "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "$mode: flows client_bytes" "$NBYTES" "$(jget "$S" 'j["pipeline"]["flows"]["client_bytes"]')"
  if [ "$workers" = 2 ]; then
    per_worker="$(jget "$S" '[w["flows_started"] for w in j["pipeline"]["per_worker"]]')"
    log "$mode: connections per worker $per_worker"
    assert_eq "$mode: workers that started flows (both must share the load)" 2 \
      "$(jget "$S" 'sum(1 for w in j["pipeline"]["per_worker"] if w["flows_started"] > 0)')"
  fi
  log "$mode: $decap VXLAN packets decapsulated; kernel: $(jget "$S" '{k: v for k, v in j["counters"].items() if v}')"
  agent_stop_checked
done
