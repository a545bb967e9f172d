#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A pod's host-side veth (issue 14, item 1: "a pod veth sees requests on its egress hook: direction
# comes from the ports, not the hook"). The server runs in a pod namespace behind the node
# namespace, which routes to it; the agent taps the node's end of the pod's veth:
#
#   [ns $NS_CLI] $CLI4 ==veth== $SRV_IF [ns $NS_SRV, the node] $POD_IF ==veth== [ns $NS_POD] $POD4
#                                        $SRV_SH_IF ==veth== [ns $NS_SHD] recorder   ^ the agent taps $POD_IF
#                                        $POD2_IF ==veth== [ns $NS_POD2] $POD2_4 (a client pod)
#
# Requests to the pod leave the node by $POD_IF's *egress* and its responses arrive by *ingress*,
# the other way round from a server's NIC.
#   A. --direction auto (the default), tc and xdp modes: $POD_IF is a veth, so the service port is
#      looked for on either side; status says so. Connections from a client outside the node
#      (routed), from the node itself and from a second pod on the node ($NS_POD2, pod to pod) reach
#      the shadow byte-identical, every one.
#   B. --direction hook (a server's NIC): the same traffic matches nothing (port_miss grows, the
#      shadow receives no new stream) - what every pod veth tap did before.
#   C. the pod's veth is deleted while tapped (tcx, clsact and xdp attachments): the agent exits 1
#      within 3 s, naming the interface, and leaves no mirror pair, pins or run files behind (and logs
#      no warning doing so).
# Usage: pod_veth_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19700
POD_PORT=18090
NS_POD="rp-pod-$H_ID" POD_IF="rpp$H_ID" POD_PEER="rpq$H_ID"
NODE_POD4="$H_NET.3.1" POD4="$H_NET.3.2"
node_neighbour "$NS_POD" "$POD_IF" "$POD_PEER" "$NODE_POD4" "$POD4"
ip -n "$NS_POD" route add default via "$NODE_POD4"
# A second pod on the same node, a client of the first: pod to pod never leaves the node.
NS_POD2="rp-po2-$H_ID" POD2_IF="rpm$H_ID" POD2_PEER="rpn$H_ID"
NODE_POD2_4="$H_NET.4.1" POD2_4="$H_NET.4.2"
node_neighbour "$NS_POD2" "$POD2_IF" "$POD2_PEER" "$NODE_POD2_4" "$POD2_4"
ip -n "$NS_POD2" route add default via "$NODE_POD2_4"
ip -n "$NS_CLI" route add "$H_NET.3.0/24" via "$SRV4"
in_srv sysctl -qw net.ipv4.ip_forward=1
h_serve http.pod "$NS_POD" "$PYTHON" "$H_TOOLS/http_server.py" --port "$POD_PORT"
log "pod: $NS_POD($POD4:$POD_PORT) behind $POD_IF in $NS_SRV"

serve_recorder pod "$H_TMP/shadow.jsonl" --port "$SHADOW"

# workload NAME: 20 keep-alive connections from the client namespace (routed through the node), 10
# from the node itself and 10 from the second pod, all to the pod; the client streams go to
# $H_TMP/NAME.conns.
workload() {
  local conns="$H_TMP/$1.conns"
  : >"$conns"
  http_client "$H_TMP/$1.routed.json" --host "$POD4" --port "$POD_PORT" --out-conns "$conns" --id "${1}r" \
    --conns 20 --reqs 5 --concurrency 5
  timeout 110 ip netns exec "$NS_SRV" "$PYTHON" "$H_TOOLS/http_client.py" --host "$POD4" --port "$POD_PORT" \
    --out-conns "$conns" --id "${1}n" --conns 10 --reqs 3 --body 3000 --concurrency 5 >"$H_TMP/$1.node.json" ||
    fail "$1: client on the node failed: $(head -c 2000 "$H_TMP/$1.node.json")"
  timeout 110 ip netns exec "$NS_POD2" "$PYTHON" "$H_TOOLS/http_client.py" --host "$POD4" --port "$POD_PORT" \
    --out-conns "$conns" --id "${1}p" --conns 10 --reqs 4 --concurrency 5 >"$H_TMP/$1.pod.json" ||
    fail "$1: client in the second pod failed: $(head -c 2000 "$H_TMP/$1.pod.json")"
  NCONN=$(wc -l <"$conns")
}

# ---- A: auto on a veth: either side, in both modes -------------------------------------------------
for mode in tc xdp; do
  : >"$H_TMP/shadow.jsonl"
  agent_start --iface "$POD_IF" --port "$POD_PORT" --percent 100 --shadow "$SHD4:$SHADOW" --mode "$mode"
  agent_status "$H_TMP/a$mode.before.json"
  assert_eq "A $mode: status: service port side on a veth (auto)" either \
    "$(jget "$H_TMP/a$mode.before.json" 'j["service_port_side"]')"
  workload "a$mode"
  assert_eq "A $mode: client connections" 40 "$NCONN"
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
  agent_settle "a$mode" 10 "A: $mode, auto"
  S="$H_TMP/a$mode.status.json"
  compare_streams "$H_TMP/a$mode.compare.json" --client "$H_TMP/a$mode.conns" --shadow "$H_TMP/shadow.jsonl" \
    --port "$SHADOW"
  assert_eq "A $mode: identical streams at the shadow" 40 "$(jget "$H_TMP/a$mode.compare.json" 'j["identical_streams"]')"
  assert_eq "A $mode: flows completed" 40 "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
  check_identities "$S" --flows
  agent_stop_checked
done

# ---- B: hook semantics on the same veth: nothing matches ------------------------------------------
: >"$H_TMP/shadow.jsonl"
agent_start --iface "$POD_IF" --port "$POD_PORT" --percent 100 --shadow "$SHD4:$SHADOW" --direction hook
agent_status "$H_TMP/b.before.json"
assert_eq "B: status: service port side with --direction hook" hook "$(jget "$H_TMP/b.before.json" 'j["service_port_side"]')"
workload b
sleep 1
agent_status "$H_TMP/b.status.json"
assert_gt "B: port_miss counter growth (requests leave by egress)" 0 \
  "$(($(counter "$H_TMP/b.status.json" port_miss) - $(counter "$H_TMP/b.before.json" port_miss)))"
assert_eq "B: mirrored (cloned)" "$(counter "$H_TMP/b.before.json" cloned)" "$(counter "$H_TMP/b.status.json" cloned)"
assert_eq "B: streams at the shadow" 0 "$(count_lines "$H_TMP/shadow.jsonl" '"event": "close"')"
agent_stop_checked

# ---- C: the pod goes while tapped --------------------------------------------------------------------
# The CNI deletes a pod's veth when the pod goes (deleting the namespace alone would not while a
# process still runs in it), and the agent's programs go with it: the agent notices within a tick,
# stops, removes the rest (mirror pair, pins, run files) and exits with an error.
# Each way of attaching: tcx links, cls_bpf filters on a clsact qdisc the agent made, XDP.
for variant in tcx clsact xdp; do
  mode=tc
  [ "$variant" = xdp ] && mode=xdp
  if [ "$variant" = clsact ]; then export SHADOWTAP_TC_ATTACH=clsact; else unset SHADOWTAP_TC_ATTACH; fi
  ip -n "$NS_SRV" link show "$POD_IF" >/dev/null 2>&1 ||
    h_veth "$NS_SRV" "$POD_IF" "$NODE_POD4/24" "$NS_POD" "$POD_PEER" "$POD4/24"
  agent_start --iface "$POD_IF" --port "$POD_PORT" --percent 100 --shadow "$SHD4:$SHADOW" --mode "$mode"
  T0=$(date +%s%N)
  ip -n "$NS_SRV" link del "$POD_IF"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.05
  done
  MS=$((($(date +%s%N) - T0) / 1000000))
  kill -0 "$AGENT_PID" 2>/dev/null && fail "C $variant: the agent still runs 5 s after its interface was deleted"
  if { wait "$AGENT_PID"; } 2>/dev/null; then AGENT_RC=0; else AGENT_RC=$?; fi
  assert_eq "C $variant: exit status once the tapped interface is gone" 1 "$AGENT_RC"
  assert_le "C $variant: milliseconds from deleting the veth to the agent's exit" 3000 "$MS"
  grep -q "shadowtap: $POD_IF disappeared while tapped" "$AGENT_LOG" ||
    fail "C $variant: no error line naming the interface: $(tail -n 5 "$AGENT_LOG")"
  assert_eq "C $variant: mirror interfaces left in the node namespace" "" "$(mirror_ifaces "$NS_SRV")"
  [ -e "/sys/fs/bpf/shadowtap/$POD_IF" ] && fail "C $variant: pinned maps left: $(ls "/sys/fs/bpf/shadowtap/$POD_IF")"
  compgen -G "/run/shadowtap/$POD_IF.*" >/dev/null && fail "C $variant: run files left: $(ls /run/shadowtap/"$POD_IF".*)"
  sed -n '/ ready$/,$p' "$AGENT_LOG" | grep -E '^W ' &&
    fail "C $variant: warnings while cleaning up after the interface went (see above)"
  log "ok: C $variant: the agent stopped $MS ms after its interface went, nothing left"
done
unset SHADOWTAP_TC_ATTACH

log "pod_veth_test passed"
