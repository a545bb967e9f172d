#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Which Linux capabilities does `shadowtap run` really need on THIS kernel?
#
# Runs the agent as uid 0 with a reduced capability set (bounding = inheritable = ambient = the set,
# the same thing a container with `runAsUser: 0`, `capabilities: {drop: [ALL], add: [...]}` gets)
# in a private network namespace, taps a veth, opens a few HTTP connections through it and checks
# that (1) the agent starts, (2) the connections are cloned AND replayed to a shadow, (3) SIGTERM
# detaches everything (exit 0, no pins, no filter left). Prints one line per capability set.
# A second series runs with the bpffs NOT mounted (private mount namespace, --bpffs on an empty
# directory) to show when CAP_SYS_ADMIN is needed (mounting bpffs).
#
# usage: sudo bash tests/deploy/caps_probe.sh [path/to/shadowtap]
# Not a ctest: it needs root and takes ~1 minute. Results are recorded in deploy/README-section.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${1:-$ROOT/build/agent/shadowtap}
AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
[ "$(id -u)" -eq 0 ] || { echo "caps_probe: run as root" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "caps_probe: no agent at $AGENT" >&2; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

ID=$(printf '%x%04x' $$ $RANDOM)
NS_C=cp-c-$ID NS_S=cp-s-$ID IF_C=cpc$ID IF_S=cps$ID
TMP=$(mktemp -d /tmp/st-caps.XXXXXX)
PIDS=()
AGENT_PID=""

cleanup() {
  set +e
  local p
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && sleep 1 && kill -KILL "$AGENT_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -d "/sys/fs/bpf/shadowtap/$IF_S" ]; then
    timeout 10 nsenter --net="/run/netns/$NS_S" "$AGENT" detach --iface "$IF_S" >/dev/null 2>&1
    rm -rf "/sys/fs/bpf/shadowtap/$IF_S"
  fi
  rm -f "/run/shadowtap/$IF_S.json"
  ip netns del "$NS_C" 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS_S"
ip netns add "$NS_C"
ip -n "$NS_S" link set lo up
ip -n "$NS_C" link set lo up
ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_S" netns "$NS_S"
ip -n "$NS_C" addr add 10.89.0.2/24 dev "$IF_C"
ip -n "$NS_S" addr add 10.89.0.1/24 dev "$IF_S"
ip -n "$NS_C" link set "$IF_C" up
ip -n "$NS_S" link set "$IF_S" up
sleep 1

# The primary on 10.89.0.1:8080 and the shadow on 127.0.0.1:9090, both in the server namespace.
for port in 8080 9090; do
  ip netns exec "$NS_S" "$PY" -m http.server --bind 0.0.0.0 "$port" --directory "$TMP" >/dev/null 2>&1 &
  PIDS+=($!)
done
sleep 1

in_s() { nsenter --net="/run/netns/$NS_S" "$@"; }
jget() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

# probe LABEL CAPS(comma list, setpriv names, or "" for none) MODE [mountns]
probe() {
  local label=$1 caps=$2 mode=$3 mnt=${4:-} log="$TMP/agent.log" bpffs=/sys/fs/bpf pid i ok=0
  local set="-all"
  [ -n "$caps" ] && set="-all,$(echo "$caps" | sed 's/[^,]*/+&/g')"
  local wrap=(setpriv --inh-caps="$set" --ambient-caps="$set" --bounding-set="$set" --)
  [ "$caps" = ALL ] && wrap=(env) # plain root, for reference
  local args=(run --iface "$IF_S" --port 8080 --mode "$mode" --shadow 127.0.0.1:9090)
  if [ -n "$mnt" ]; then
    # Private mount namespace in which the bpffs is not mounted at $TMP/bpffs: the agent must mount it.
    mkdir -p "$TMP/bpffs"
    bpffs=$TMP/bpffs
    nsenter --net="/run/netns/$NS_S" unshare -m --propagation private "${wrap[@]}" "$AGENT" "${args[@]}" --bpffs "$bpffs" >"$log" 2>&1 &
  else
    nsenter --net="/run/netns/$NS_S" "${wrap[@]}" "$AGENT" "${args[@]}" >"$log" 2>&1 &
  fi
  pid=$! # the agent itself: nsenter, unshare and setpriv exec, none forks
  AGENT_PID=$pid
  for i in $(seq 40); do
    kill -0 "$pid" 2>/dev/null || break
    grep -q 'replay' "$log" 2>/dev/null && [ -e "/run/shadowtap/$IF_S.json" ] && { ok=1; break; }
    sleep 0.1
  done
  local result reason=""
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    reason="exit $rc: $(grep -m1 -i 'shadowtap:\|error\|fail\|setpriv' "$log" | cut -c1-160 || true)"
    result=FAIL
  else
    for i in 1 2 3 4 5; do
      ip netns exec "$NS_C" curl -s -o /dev/null --max-time 2 http://10.89.0.1:8080/ || true
    done
    sleep 1.5
    local frames=0 replayed=0
    if [ -e "/run/shadowtap/$IF_S.json" ]; then
      cp "/run/shadowtap/$IF_S.json" "$TMP/stats.json"
      frames=$(jget "$TMP/stats.json" 'j["capture"]["frames"]' || echo 0)
      replayed=$(jget "$TMP/stats.json" 'sum(t["opened"] for t in j["replay"]["targets"])' || echo 0)
    fi
    kill -TERM "$pid"
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; rc="hung"; }
    local left=""
    [ -e "$bpffs/shadowtap/$IF_S" ] && left="pins "
    in_s tc filter show dev "$IF_S" ingress 2>/dev/null | grep -q . && left+="tc-filter "
    if [ "${frames:-0}" -gt 0 ] && [ "${replayed:-0}" -ge 5 ] && [ "$rc" = 0 ] && [ -z "$left" ]; then
      result=OK
    else
      result=FAIL
    fi
    reason="frames=$frames replayed=$replayed exit=$rc ${left:+left:$left}"
    [ "$result" = FAIL ] && reason+=" $(grep -m2 -i 'warn\|error\|fail' "$log" | tr '\n' ' ' | cut -c1-200 || true)"
  fi
  AGENT_PID=""
  # Never leave anything for the next probe.
  # A failed start must leave nothing attached: report it if it did, then clean up for the next probe.
  local residue=""
  [ -d "/sys/fs/bpf/shadowtap/$IF_S" ] && residue+="pins "
  in_s ip -d link show dev "$IF_S" | grep -q 'prog/xdp' && residue+="xdp-prog "
  in_s tc filter show dev "$IF_S" ingress 2>/dev/null | grep -q . && residue+="tc-filter "
  in_s ip link show st-mirror0 >/dev/null 2>&1 && residue+="veth "
  [ "$result" = FAIL ] && [ -n "$residue" ] && reason+=" LEFT BEHIND: $residue"
  in_s "$AGENT" detach --iface "$IF_S" >/dev/null 2>&1 || true
  rm -rf "/sys/fs/bpf/shadowtap/$IF_S"
  in_s ip link set dev "$IF_S" xdp off 2>/dev/null || true
  in_s tc qdisc del dev "$IF_S" clsact 2>/dev/null || true
  in_s ip link del st-mirror0 2>/dev/null || true
  rm -f "/run/shadowtap/$IF_S.json"
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
