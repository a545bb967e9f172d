#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Which Linux capabilities does `shadowtap run` really need on THIS kernel?
#
# Runs the agent as uid 0 with a reduced capability set (bounding = inheritable = ambient = the set,
# the same thing a container with `runAsUser: 0`, `capabilities: {drop: [ALL], add: [...]}` gets)
# in a private network namespace (the harness's, tests/lib/), taps a veth, opens a few HTTP
# connections through it and checks that (1) the agent starts and says it is ready (`status`: this
# agent's pid, "ready"), (2) the connections are cloned AND replayed to a shadow, (3) SIGTERM
# detaches everything (exit 0, no pins, no filter left). Prints one line per capability set.
# A second series runs with the bpffs NOT mounted (private mount namespace, --bpffs on an empty
# directory) to show when CAP_SYS_ADMIN is needed (mounting bpffs).
#
# usage: sudo bash tests/deploy/caps_probe.sh [path/to/shadowtap]
# Not a ctest: it needs root and takes ~1 minute. Results are recorded in the README (Deploying >
# Privileges).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"
h_init --tool --need setpriv --need unshare --need curl --need tc
h_agent "${1:-$ROOT/build/agent/shadowtap}"

H_NET=10.89
h_topology cp
# The primary on $SRV4:8080 and the shadow on 127.0.0.1:9090, both in the server namespace.
serve_http 8080
RECORDER_NS="$NS_SRV" serve_recorder shadow "$H_TMP/shadow.jsonl" --host 127.0.0.1 --port 9090

# probe LABEL CAPS(comma list, setpriv names, or "" for none) MODE [mnt]
probe() {
  local label=$1 caps=$2 mode=$3 own_mnt=${4:-} bpffs=/sys/fs/bpf i
  local set="-all"
  [ -n "$caps" ] && set="-all,$(echo "$caps" | sed 's/[^,]*/+&/g')"
  AGENT_WRAP=(setpriv --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" --)
  [ "$caps" = ALL ] && AGENT_WRAP=(env) # plain root, for reference
  AGENT_ST_MNT="" AGENT_BPFFS=""
  local args=(--iface "$SRV_IF" --port 8080 --mode "$mode" --shadow 127.0.0.1:9090)
  if [ -n "$own_mnt" ]; then
    # Private mount namespace in which the bpffs is not mounted at $H_TMP/bpffs: the agent must
    # mount it; `status` then has to look from inside that mount namespace.
    mkdir -p "$H_TMP/bpffs"
    bpffs=$H_TMP/bpffs
    AGENT_WRAP=(unshare -m --propagation private "${AGENT_WRAP[@]}")
    AGENT_ST_MNT=1 AGENT_BPFFS=$bpffs
    args+=(--bpffs "$bpffs")
  fi
  agent_launch "${args[@]}"
  local result reason="" ready=0
  agent_wait_ready 10 || ready=$?
  if [ "$ready" = 1 ]; then
    reason="exit $AGENT_RC: $(grep -m1 -i 'shadowtap:\|error\|fail\|setpriv' "$AGENT_LOG" | cut -c1-160 || true)"
    result=FAIL
  elif [ "$ready" = 2 ]; then
    h_stop_pid "$AGENT_PID" KILL 5
    reason="not ready within 10 s: $(grep -m1 -i 'warn\|error\|fail' "$AGENT_LOG" | cut -c1-160 || true)"
    result=FAIL
  else
    for i in 1 2 3 4 5; do
      in_cli curl -s -o /dev/null --max-time 2 "http://$SRV4:8080/" || true
    done
    sleep 1.5
    local frames=0 replayed=0
    if st status --iface "$SRV_IF" --json >"$H_TMP/status.json" 2>/dev/null; then
      frames=$(jtry "$H_TMP/status.json" 'j["pipeline"]["capture"]["frames"]')
      replayed=$(jtry "$H_TMP/status.json" 'sum(t["opened"] for t in j["pipeline"]["replay"]["targets"])')
    fi
    h_stop_pid "$AGENT_PID" TERM 10
    local left=""
    [ -e "$bpffs/shadowtap/$SRV_IF" ] && left="pins "
    in_srv tc filter show dev "$SRV_IF" ingress 2>/dev/null | grep -q . && left+="tc-filter "
    if [ "${frames:-0}" -gt 0 ] && [ "${replayed:-0}" -ge 5 ] && [ "$STOP_RC" = 0 ] && [ -z "$left" ]; then
      result=OK
    else
      result=FAIL
    fi
    reason="frames=${frames:-0} replayed=${replayed:-0} exit=$STOP_RC ${left:+left:$left}"
    [ "$result" = FAIL ] && reason+=" $(grep -m2 -i 'warn\|error\|fail' "$AGENT_LOG" | tr '\n' ' ' | cut -c1-200 || true)"
  fi
  # A failed start must leave nothing attached: report it if it did, then clean up for the next probe.
  local residue=""
  [ -d "/sys/fs/bpf/shadowtap/$SRV_IF" ] && residue+="pins "
  in_srv ip -d link show dev "$SRV_IF" | grep -q 'prog/xdp' && residue+="xdp-prog "
  in_srv tc filter show dev "$SRV_IF" ingress 2>/dev/null | grep -q . && residue+="tc-filter "
  [ -n "$(mirror_ifaces "$NS_SRV")" ] && residue+="veth "
  [ -n "$(tcx_programs "$NS_SRV" "$SRV_IF" ingress; tcx_programs "$NS_SRV" "$SRV_IF" egress)" ] && residue+="tcx-prog "
  [ "$result" = FAIL ] && [ -n "$residue" ] && reason+=" LEFT BEHIND: $residue"
  AGENT_PID="" AGENT_ST_MNT="" AGENT_BPFFS=""
  h_agent_cleanup # detach, pins, /run/shadowtap files
  in_srv ip link set dev "$SRV_IF" xdp off 2>/dev/null || true
  in_srv tc qdisc del dev "$SRV_IF" clsact 2>/dev/null || true
  local m
  for m in $(mirror_ifaces "$NS_SRV"); do in_srv ip link del "$m" 2>/dev/null || true; done
  printf '%-4s %-5s %-40s %s\n' "$result" "$mode" "$label" "$reason"
}

echo "kernel $(uname -r), agent $AGENT"
echo "--- bpffs mounted at /sys/fs/bpf"
probe "all (plain root)" ALL tc
probe "bpf,perfmon,net_admin,net_raw" bpf,perfmon,net_admin,net_raw tc
probe "bpf,perfmon,net_admin,net_raw" bpf,perfmon,net_admin,net_raw xdp
probe "perfmon,net_admin,net_raw (no bpf)" perfmon,net_admin,net_raw tc
probe "bpf,net_admin,net_raw (no perfmon)" bpf,net_admin,net_raw tc
probe "bpf,net_admin,net_raw (no perfmon)" bpf,net_admin,net_raw xdp
probe "bpf,perfmon,net_raw (no net_admin)" bpf,perfmon,net_raw tc
probe "bpf,perfmon,net_admin (no net_raw)" bpf,perfmon,net_admin tc
probe "bpf,perfmon,net_admin (no net_raw)" bpf,perfmon,net_admin xdp
probe "sys_admin,net_admin,net_raw (pre-5.8 style)" sys_admin,net_admin,net_raw tc
probe "none" "" tc
echo "--- bpffs NOT mounted (private mount namespace): the agent must mount it"
probe "bpf,perfmon,net_admin,net_raw" bpf,perfmon,net_admin,net_raw tc mnt
probe "bpf,perfmon,net_admin,net_raw,sys_admin" bpf,perfmon,net_admin,net_raw,sys_admin tc mnt
