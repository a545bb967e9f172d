#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# One agent, many interfaces (issue 14, item 1 and its first "done when"): `--iface 'PREFIX*'` taps
# every pod veth on the node, follows pods as they come and go, and replays them all.
#
#   [ns $NS_CLI] ==veth== [ns $NS_SRV, the node] ${PFX}1 ==veth== [ns pod 1] http_server
#                                                ${PFX}2 ==veth== [ns pod 2] http_server
#                                                ${PFX}3 ==veth== [ns pod 3] http_server
#                                                (${PFX}4 ==veth== [ns pod 4], added in B)
#                                                $SRV_SH_IF ==veth== [ns $NS_SHD] recorder
#   the agent: run --iface "${PFX}*" (a pattern), in tc mode and in xdp mode
#
#   A. the three pods are tapped at start; status lists three interfaces, each with the service port
#      looked for on either side (veths); connections routed to each pod from outside the node, from
#      the node itself, and from one pod to another on the node all reach the shadow byte-identical.
#   B. a fourth pod is added while the agent runs: it is tapped within 3 s (logged, listed) and its
#      connections are replayed byte-identical.
#   C. the second pod is deleted: the agent goes on (still running, the pod forgotten: pins and run
#      files of its veth gone), and the other three pods' connections are still replayed whole.
#   D. SIGTERM: exit 0, nothing of shadowtap left on any interface (no mirror, pins or run files).
#   E. inside a pod (--netns): an agent started in the node's namespace enters pod 1's and taps the
#      pod's own end of its veth, whose name it shares with nothing here but could (pins and run
#      files are keyed IFACE@NETNS); its replays leave from inside the pod; status, and stop, through
#      the same --netns.
# Usage: many_pods_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19710
POD_PORT=18091
PFX="rk$H_ID"

# add_pod N: namespace rp-kN-$H_ID (made once) plugged into the node by ${PFX}N, the pod at
# $H_NET.(N+2).2 serving $POD_PORT. Again after its veth was deleted: a new veth, same pod.
add_pod() {
  local n="$1" ns="rp-k$1-$H_ID" net="$H_NET.$(($1 + 2))"
  if [ -e "/run/netns/$ns" ]; then
    h_veth "$NS_SRV" "$PFX$n" "$net.1/24" "$ns" "rkq$n$H_ID" "$net.2/24"
  else
    node_neighbour "$ns" "$PFX$n" "rkq$n$H_ID" "$net.1" "$net.2"
    ip -n "$NS_CLI" route add "$net.0/24" via "$SRV4"
    h_serve "http.pod$n" "$ns" "$PYTHON" "$H_TOOLS/http_server.py" --port "$POD_PORT"
  fi
  ip -n "$ns" route add default via "$net.1"
  h_tap_register "$NS_SRV" "$PFX$n"
}
pod4() { echo "$H_NET.$(($1 + 2)).2"; }
in_srv sysctl -qw net.ipv4.ip_forward=1
for n in 1 2 3; do add_pod "$n"; done
serve_recorder pods "$H_TMP/shadow.jsonl" --port "$SHADOW"

# workload NAME PODS...: 8 keep-alive connections routed from the client namespace to each pod;
# then 6 from the node to the first pod, and 6 from the last pod to the first (pod to pod: both ends
# tapped). Client streams go to $H_TMP/NAME.conns, their number to NCONN.
workload() {
  local name="$1" conns="$H_TMP/$1.conns" n first last
  shift
  first="$1" last="${*: -1}"
  : >"$conns"
  for n in "$@"; do
    http_client "$H_TMP/$name.$n.json" --host "$(pod4 "$n")" --port "$POD_PORT" --out-conns "$conns" \
      --id "$name$n" --conns 8 --reqs 4 --concurrency 4
  done
  timeout 110 ip netns exec "$NS_SRV" "$PYTHON" "$H_TOOLS/http_client.py" --host "$(pod4 "$first")" \
    --port "$POD_PORT" --out-conns "$conns" --id "${name}n" --conns 6 --reqs 3 --body 2000 --concurrency 3 \
    >"$H_TMP/$name.node.json" || fail "$name: client on the node failed: $(head -c 2000 "$H_TMP/$name.node.json")"
  timeout 110 ip netns exec "rp-k$last-$H_ID" "$PYTHON" "$H_TOOLS/http_client.py" --host "$(pod4 "$first")" \
    --port "$POD_PORT" --out-conns "$conns" --id "${name}p" --conns 6 --reqs 3 --concurrency 3 \
    >"$H_TMP/$name.pod.json" || fail "$name: client in pod $last failed: $(head -c 2000 "$H_TMP/$name.pod.json")"
  NCONN=$(wc -l <"$conns")
}

# replayed NAME WHAT: every connection of workload NAME reached the shadow byte-identical.
replayed() {
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
  agent_settle "$1" 10 "$2"
  compare_streams "$H_TMP/$1.compare.json" --client "$H_TMP/$1.conns" --shadow "$H_TMP/shadow.jsonl" \
    --port "$SHADOW"
  assert_eq "$2: identical streams at the shadow" "$NCONN" "$(jget "$H_TMP/$1.compare.json" 'j["identical_streams"]')"
  check_identities "$H_TMP/$1.status.json" --flows
  : >"$H_TMP/shadow.jsonl"
}

# tapped_ifaces STATUS_JSON: the interfaces the agent lists, sorted, space separated.
tapped_ifaces() { jget "$1" '" ".join(sorted(i["name"] for i in j["pipeline"]["interfaces"]))'; }

for mode in tc xdp; do
  for n in 1 2 3; do ip -n "$NS_SRV" link show "$PFX$n" >/dev/null 2>&1 || add_pod "$n"; done

  # ---- A: three pods at start -----------------------------------------------------------------------
  AGENT_STATUS_IFACE="${PFX}1" agent_start --iface "$PFX*" --port "$POD_PORT" --percent 100 \
    --shadow "$SHD4:$SHADOW" --mode "$mode"
  agent_status "$H_TMP/a$mode.before.json"
  assert_eq "A $mode: interfaces tapped at start" "${PFX}1 ${PFX}2 ${PFX}3" "$(tapped_ifaces "$H_TMP/a$mode.before.json")"
  assert_eq "A $mode: service port side on every pod veth" "either either either" \
    "$(jget "$H_TMP/a$mode.before.json" '" ".join(i["service_port_side"] for i in j["pipeline"]["interfaces"])')"
  st status --iface "${PFX}3" --json >"$H_TMP/a$mode.third.json" ||
    fail "A $mode: status --iface ${PFX}3 failed: $(cat "$H_TMP/a$mode.third.json")"
  assert_eq "A $mode: status through the third pod's veth reaches the same agent" "$AGENT_PID" \
    "$(jget "$H_TMP/a$mode.third.json" 'j["agent_pid"]')"
  # /metrics: kernel counters per interface (one family), the set's own gauges and counters.
  in_srv curl -sf --max-time 5 http://127.0.0.1:9477/metrics >"$H_TMP/a$mode.metrics" || fail "A $mode: /metrics"
  for n in 1 2 3; do
    grep -q "^shadowtap_packets_total{iface=\"$PFX$n\",reason=\"seen\"}" "$H_TMP/a$mode.metrics" ||
      fail "A $mode: no kernel counters for $PFX$n in /metrics"
  done
  assert_eq "A $mode: /metrics HELP lines of the kernel counters (one family)" 1 \
    "$(grep -c '^# HELP shadowtap_packets_total ' "$H_TMP/a$mode.metrics")"
  assert_eq "A $mode: /metrics interfaces tapped" 3 \
    "$(awk '/^shadowtap_tap_set_tapped[{ ]/ {print $2}' "$H_TMP/a$mode.metrics")"
  if command -v promtool >/dev/null; then
    promtool check metrics <"$H_TMP/a$mode.metrics" >"$H_TMP/a$mode.promtool" 2>&1 ||
      fail "A $mode: promtool check metrics: $(head -c 2000 "$H_TMP/a$mode.promtool")"
  fi
  workload "a$mode" 1 2 3
  assert_eq "A $mode: client connections" 36 "$NCONN"
  replayed "a$mode" "A $mode: three pods"
  # TCP mode: responses are captured up to their TCP header (tc: the capture socket's filter; xdp:
  # the ring copy) and not reassembled; the replays above are whole all the same.
  assert_gt "A $mode: responses captured up to their TCP header" 0 \
    "$(jget "$H_TMP/a$mode.status.json" 'j["pipeline"]["capture"]["response_headers_only"]')"
  assert_eq "A $mode: frames counted truncated, server bytes reassembled" "0 0" \
    "$(jget "$H_TMP/a$mode.status.json" '"%d %d" % (j["pipeline"]["capture"]["truncated"], j["pipeline"]["flows"]["server_bytes"])')"
  assert_eq "A $mode: response capture" headers_only "$(jget "$H_TMP/a$mode.status.json" 'j["pipeline"]["response_capture"]')"
  # Pod 3 to pod 1 crosses two tapped veths: decided once, mirrored once, by the first to see its SYN.
  assert_eq "A $mode: connections admitted by the kernel, all interfaces (pod to pod once)" 36 \
    "$(jget "$H_TMP/a$mode.status.json" 'j["pipeline"]["kernel"]["flow_admitted"]')"
  assert_gt "A $mode: packets left to the other interface that mirrors their connection" 0 \
    "$(jget "$H_TMP/a$mode.status.json" 'j["pipeline"]["kernel"]["other_iface"]')"

  # ---- B: a fourth pod appears -----------------------------------------------------------------------
  T0=$(date +%s%N)
  add_pod 4
  for ((i = 0; i < 60; i++)); do
    grep -q "tapping ${PFX}4 (matched by --iface)" "$AGENT_LOG" && break
    sleep 0.05
  done
  MS=$((($(date +%s%N) - T0) / 1000000))
  grep -q "tapping ${PFX}4 (matched by --iface)" "$AGENT_LOG" || fail "B $mode: ${PFX}4 not tapped: $(tail -n 5 "$AGENT_LOG")"
  assert_le "B $mode: milliseconds from the pod's veth appearing to its tap" 3000 "$MS"
  agent_status "$H_TMP/b$mode.before.json"
  assert_eq "B $mode: interfaces tapped" "${PFX}1 ${PFX}2 ${PFX}3 ${PFX}4" "$(tapped_ifaces "$H_TMP/b$mode.before.json")"
  workload "b$mode" 4 1
  assert_eq "B $mode: client connections" 28 "$NCONN"
  replayed "b$mode" "B $mode: the pod added later"

  # ---- C: the second pod goes --------------------------------------------------------------------------
  ip -n "$NS_SRV" link del "${PFX}2"
  for ((i = 0; i < 60; i++)); do
    grep -q "${PFX}2 is gone: forgotten" "$AGENT_LOG" && break
    sleep 0.05
  done
  grep -q "${PFX}2 is gone: forgotten" "$AGENT_LOG" || fail "C $mode: ${PFX}2 not forgotten: $(tail -n 5 "$AGENT_LOG")"
  kill -0 "$AGENT_PID" 2>/dev/null || fail "C $mode: the agent stopped when a pod went"
  [ -e "/sys/fs/bpf/shadowtap/${PFX}2" ] && fail "C $mode: pins of the deleted pod's veth left"
  compgen -G "/run/shadowtap/${PFX}2.*" >/dev/null && fail "C $mode: run files of the deleted pod's veth left"
  agent_status "$H_TMP/c$mode.before.json"
  assert_eq "C $mode: interfaces tapped" "${PFX}1 ${PFX}3 ${PFX}4" "$(tapped_ifaces "$H_TMP/c$mode.before.json")"
  assert_eq "C $mode: interfaces forgotten" 1 "$(jget "$H_TMP/c$mode.before.json" 'j["pipeline"]["tap_set"]["forgotten"]')"
  workload "c$mode" 1 3 4
  assert_eq "C $mode: client connections" 36 "$NCONN"
  replayed "c$mode" "C $mode: the pods left"

  # ---- D: stop ----------------------------------------------------------------------------------------
  agent_stop_checked
  assert_eq "D $mode: mirror interfaces left" "" "$(mirror_ifaces "$NS_SRV")"
  for n in 1 3 4; do
    check_untapped "$NS_SRV" "$PFX$n" 0 "D $mode: ${PFX}$n after SIGTERM"
    compgen -G "/run/shadowtap/$PFX$n.*" >/dev/null && fail "D $mode: run files of $PFX$n left"
  done
  ip -n "$NS_SRV" link del "${PFX}4" # the next round adds it again while its agent runs
  log "ok: $mode: pods followed, $(($(wc -l <"$H_TMP/a$mode.conns") + $(wc -l <"$H_TMP/b$mode.conns") + $(wc -l <"$H_TMP/c$mode.conns"))) connections replayed"
done

# ---- E: inside a pod, by --netns ------------------------------------------------------------------
NS_P1="rp-k1-$H_ID" P1_IF="rkq1$H_ID" KEY="rkq1$H_ID@rp-k1-$H_ID"
ip -n "$NS_SHD" route add "$H_NET.3.0/24" via "$SRV_SH4" # replies to replays leaving from the pod
# What the harness would not find (it knows interfaces by name in a namespace, not IF@NETNS keys).
netns_cleanup() {
  if [ -d "/sys/fs/bpf/shadowtap/$KEY" ] && [ -e "/run/netns/$NS_SRV" ]; then
    timeout 10 nsenter --net="/run/netns/$NS_SRV" "$AGENT" detach --netns "$NS_P1" --iface "$P1_IF" \
      --log-level warn >/dev/null 2>&1
  fi
  rm -rf "/sys/fs/bpf/shadowtap/${KEY:?}"
  rm -f "/run/shadowtap/${KEY:?}".*
}
H_CLEANUP_HOOKS+=(netns_cleanup)
AGENT_STATUS_IFACE="" agent_launch --netns "$NS_P1" --iface "$P1_IF" --port "$POD_PORT" --percent 100 \
  --shadow "$SHD4:$SHADOW"
for ((i = 0; i < 150; i++)); do
  st status --netns "$NS_P1" --iface "$P1_IF" --json >"$H_TMP/e.start.json" 2>/dev/null &&
    [ "$(jtry "$H_TMP/e.start.json" "j['ready'] and 'pipeline' in j")" = true ] && break
  kill -0 "$AGENT_PID" 2>/dev/null || fail "E: the agent exited: $(cat "$AGENT_LOG")"
  sleep 0.1
done
assert_eq "E: ready, through status --netns" true "$(jget "$H_TMP/e.start.json" 'j["ready"]')"
[ -d "/sys/fs/bpf/shadowtap/$KEY" ] || fail "E: no pins at /sys/fs/bpf/shadowtap/$KEY: $(ls /sys/fs/bpf/shadowtap)"
[ -e "/sys/fs/bpf/shadowtap/$P1_IF" ] && fail "E: pins keyed by the bare interface name, where another namespace's could be"
assert_eq "E: mirror made inside the pod" 2 "$(mirror_ifaces "$NS_P1" | wc -l)"
assert_eq "E: nothing made in the node's namespace" "" "$(mirror_ifaces "$NS_SRV")"
: >"$H_TMP/e.conns"
http_client "$H_TMP/e.json" --host "$(pod4 1)" --port "$POD_PORT" --out-conns "$H_TMP/e.conns" --id e --conns 12 \
  --reqs 4 --concurrency 4
NCONN=$(wc -l <"$H_TMP/e.conns")
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
compare_streams "$H_TMP/e.compare.json" --client "$H_TMP/e.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
assert_eq "E: identical streams at the shadow, tapped inside the pod" 12 \
  "$(jget "$H_TMP/e.compare.json" 'j["identical_streams"]')"
kill -TERM "$AGENT_PID"
if { wait "$AGENT_PID"; } 2>/dev/null; then AGENT_RC=0; else AGENT_RC=$?; fi
assert_eq "E: exit status after SIGTERM" 0 "$AGENT_RC"
[ -e "/sys/fs/bpf/shadowtap/$KEY" ] && fail "E: pins left after SIGTERM"
compgen -G "/run/shadowtap/$KEY.*" >/dev/null && fail "E: run files left after SIGTERM"
assert_eq "E: mirror interfaces left in the pod" "" "$(mirror_ifaces "$NS_P1")"
log "ok: E: tapped inside a pod by --netns, $NCONN connections replayed"

log "many_pods_test passed"
