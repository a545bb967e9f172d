# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# agent.sh: the real shadowtap agent under the harness.
#   h_agent BINARY          the binary (absolute path in AGENT)
#   agent_start ARGS...     `shadowtap run ARGS` (ARGS name --iface) in $AGENT_NS (default
#                           $NS_SRV) in the background, then waits (bounded) until `status` says
#                           THIS agent (its pid) is ready: attached, capture open, capabilities
#                           dropped, loop running (pins alone appear earlier than that); with
#                           --shadow also that its pipeline counters are there
#   agent_launch / agent_wait_ready   the two halves, for scripts that expect a start to fail
#   agent_stop [SIG]        signal (TERM), bounded wait; exit status in AGENT_RC; the final
#                           `pipeline: {json}` log line in $H_TMP/final.json
#   agent_stop_checked      agent_stop TERM, which must exit 0 (and log its final pipeline)
#   st ARGS...              the agent's other commands (status, set, detach...), bounded in time
# The agent and its commands run through `nsenter --net` (not `ip netns exec`, which remounts
# /sys and so gives each process its own bpffs: status would not see run's pins).
# Every interface an agent is started on is remembered: on exit, a tap left behind is detached and
# its pins (/sys/fs/bpf/shadowtap/IF) and /run/shadowtap/IF.* files are removed, whatever way the
# script ended. AGENT_WRAP=(CMD...) runs the agent under CMD (setpriv, unshare, a cgroup); with
# AGENT_ST_MNT=1 `st` enters the agent's mount namespace and AGENT_BPFFS is passed as --bpffs.

AGENT=""
AGENT_NS=""
AGENT_IFACE=""
AGENT_PID=""
AGENT_LOG=""
AGENT_RC=""
AGENT_SHADOW=0
AGENT_WRAP=()
AGENT_ST_MNT=""
AGENT_BPFFS=""
H_TAPPED=() # "ns iface": may hold a tap (detached on exit if left behind)
RSS_PID=""
RSS_FILE=""

h_agent() {
  [ -n "${1:-}" ] || fail "usage: $0 PATH_TO_SHADOWTAP"
  [ -x "$1" ] || fail "agent binary '$1' is not executable"
  AGENT="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# st ARGS...: a short agent command in $AGENT_NS (default $NS_SRV), bounded (20 s).
st() {
  local ns="${AGENT_NS:-$NS_SRV}" mnt=() sub="$1"
  shift
  [ -n "$AGENT_ST_MNT" ] && [ -n "$AGENT_PID" ] && mnt=(--mount="/proc/$AGENT_PID/ns/mnt")
  timeout 20 nsenter --net="/run/netns/$ns" "${mnt[@]}" "$AGENT" "$sub" ${AGENT_BPFFS:+--bpffs "$AGENT_BPFFS"} "$@"
}

h_tap_register() { # NS IFACE
  local e
  for e in "${H_TAPPED[@]}"; do [ "$e" = "$1 $2" ] && return 0; done
  H_TAPPED+=("$1 $2")
}

# Clean-up hook: pins and the /run/shadowtap files live machine-wide and outlive the namespace:
# detach whatever is left, and remove the files even if detach could not.
h_agent_cleanup() {
  local entry ns ifc
  for entry in "${H_TAPPED[@]}"; do
    read -r ns ifc <<<"$entry"
    if [ -d "/sys/fs/bpf/shadowtap/$ifc" ] && [ -e "/run/netns/$ns" ] && [ -n "$AGENT" ]; then
      timeout 10 nsenter --net="/run/netns/$ns" "$AGENT" detach --iface "$ifc" --log-level warn >/dev/null 2>&1
    fi
    rm -rf "/sys/fs/bpf/shadowtap/${ifc:?}"
    rm -f "/run/shadowtap/${ifc:?}".*
  done
}
H_CLEANUP_HOOKS+=(h_agent_cleanup)

h_agent_log_tail() {
  if [ -n "$AGENT_LOG" ] && [ -s "$AGENT_LOG" ]; then
    printf '[%s] last agent log lines (%s):\n' "$H_NAME" "$AGENT_LOG"
    tail -n 20 "$AGENT_LOG"
  fi
}
H_FAIL_HOOKS+=(h_agent_log_tail)

# agent_launch ARGS...: `shadowtap run ARGS` in the background; AGENT_PID, AGENT_LOG, AGENT_IFACE.
agent_launch() {
  local prev="" arg
  AGENT_IFACE="" AGENT_SHADOW=0 AGENT_RC=""
  for arg in "$@"; do
    [ "$prev" = --iface ] && AGENT_IFACE="$arg"
    [ "$arg" = --shadow ] && AGENT_SHADOW=1
    prev="$arg"
  done
  [ -n "$AGENT_IFACE" ] || fail "agent_launch: no --iface in: $*"
  local ns="${AGENT_NS:-$NS_SRV}"
  h_tap_register "$ns" "$AGENT_IFACE"
  AGENT_LOG="$H_TMP/agent.$(date +%s%N).log"
  nsenter --net="/run/netns/$ns" "${AGENT_WRAP[@]}" "$AGENT" run "$@" >"$AGENT_LOG" 2>&1 &
  AGENT_PID=$! # the agent itself: nsenter, setpriv and unshare exec, none forks
  H_BG_PIDS+=("$AGENT_PID")
}

# agent_wait_ready [SECONDS=15]: 0 once status says this agent is ready, 1 if it exited first
# (status in AGENT_RC), 2 on timeout. The last status is in $H_TMP/status.start.json.
agent_wait_ready() {
  local limit="${1:-15}" f="$H_TMP/status.start.json" i
  local want="j['agent_pid'] == $AGENT_PID and j['ready']"
  [ "$AGENT_SHADOW" = 1 ] && want+=" and 'pipeline' in j"
  for ((i = 0; i < limit * 10; i++)); do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then
      if { wait "$AGENT_PID"; } 2>/dev/null; then AGENT_RC=0; else AGENT_RC=$?; fi
      return 1
    fi
    if st status --iface "$AGENT_IFACE" --json >"$f" 2>/dev/null && [ "$(jtry "$f" "$want")" = true ]; then
      return 0
    fi
    sleep 0.1
  done
  return 2
}

agent_start() {
  agent_launch "$@"
  local rc=0
  agent_wait_ready || rc=$?
  [ "$rc" = 1 ] && fail "agent exited ($AGENT_RC) during start-up: $(cat "$AGENT_LOG")"
  [ "$rc" = 2 ] && fail "agent was not ready within 15 s: $(cat "$AGENT_LOG")"
  log "agent $AGENT_PID ready: run $*"
}

agent_stop() {
  local sig="${1:-TERM}" i
  kill "-$sig" "$AGENT_PID" 2>/dev/null || fail "agent $AGENT_PID is not running (before SIG$sig)"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$AGENT_PID" 2>/dev/null && fail "agent $AGENT_PID still runs 10 s after SIG$sig"
  if { wait "$AGENT_PID"; } 2>/dev/null; then AGENT_RC=0; else AGENT_RC=$?; fi
  grep -o 'pipeline: {.*}' "$AGENT_LOG" | tail -n1 | sed 's/^pipeline: //' >"$H_TMP/final.json" || true
  log "agent $AGENT_PID stopped by SIG$sig, exit status $AGENT_RC"
}

agent_stop_checked() {
  agent_stop TERM
  [ "$AGENT_RC" = 0 ] || fail "agent exited with $AGENT_RC after SIGTERM"
  if [ "$AGENT_SHADOW" = 1 ]; then
    # With --shadow the agent logs its final stats as one `pipeline: {json}` line on SIGTERM.
    [ "$(jtry "$H_TMP/final.json" '{"capture","flows","replay"} <= set(j)')" = true ] ||
      fail "no final 'pipeline: {json}' line in the agent log after SIGTERM"
    log "final flows: $(jget "$H_TMP/final.json" '{k: j["flows"][k] for k in ("started","completed","reset","broken","shutdown")}')"
  fi
}

# status_json IFACE OUT: the agent's `status --json`, failing the script if it does not answer.
status_json() {
  st status --iface "$1" --json >"$2" 2>"$2.err" || fail "status --iface $1 failed: $(cat "$2.err")"
}
# agent_status OUT: status_json of the interface the agent was started on.
agent_status() { status_json "$AGENT_IFACE" "$1"; }

# counter STATUS_JSON NAME: a kernel counter.
counter() { jget "$1" "j['counters']['$2']"; }

# agent_capeff: the running agent's effective capabilities (a number).
agent_capeff() { echo $((16#$(awk '/^CapEff/ {print $2}' "/proc/$AGENT_PID/status"))); }

# agent_wait_idle SECONDS: waits (bounded) until status shows no active flow and no active
# replay on any target; the last status is left in $H_TMP/idle.json. The agent publishes its
# pipeline stats once a second: the first 1.1 s are always waited, so a stale file from before
# the workload is never taken for "idle".
agent_wait_idle() {
  local i
  sleep 1.1
  for ((i = 0; i < $1 * 4; i++)); do
    agent_status "$H_TMP/idle.json"
    if [ "$(jget "$H_TMP/idle.json" 'j["pipeline"]["flows"]["active"] + sum(t["active"] for t in j["pipeline"]["replay"]["targets"])')" = 0 ]; then
      return 0
    fi
    sleep 0.25
  done
  log "not idle after $1 s: $(jget "$H_TMP/idle.json" 'j["pipeline"]')"
  return 1
}

# assert_no_kernel_drops STATUS_JSON WHAT: checked before comparing streams, so a capture loss
# (frames the kernel dropped because the agent's packet ring was full) is reported as the root
# cause instead of as N missing or truncated shadow streams.
assert_no_kernel_drops() {
  assert_eq "$2: capture kernel_drops (frames lost before the agent read them; cloned $(jget "$1" 'j["counters"]["cloned"]'), read $(jget "$1" 'j["pipeline"]["capture"]["frames"]'))" \
    0 "$(jget "$1" 'j["pipeline"]["capture"]["kernel_drops"]')"
}

# agent_settle NAME [IDLE_S=10] [WHAT=NAME]: once a workload is over: wait (bounded) for the
# pipeline to go idle, take the status ($H_TMP/NAME.status.json), log it and check that no frame
# was lost.
agent_settle() {
  agent_wait_idle "${2:-10}" || true
  agent_status "$H_TMP/$1.status.json"
  log "${3:-$1}: pipeline $(jget "$H_TMP/$1.status.json" 'j["pipeline"]')"
  assert_no_kernel_drops "$H_TMP/$1.status.json" "${3:-$1}"
}

# check_identities STATUS_JSON COPIES [--flows]: the replay counters add up, per target
# (opened + shed_backoff + skipped_empty = flows started x COPIES; opened = the sum of the
# outcomes + active); --flows: also flows started = the sum of their ends + active.
check_identities() {
  local out
  out="$("$PYTHON" "$H_TOOLS/st_json.py" identities "$@" 2>&1)" || fail "counter identities: $out"
  log "ok: counter identities hold"
}

# agent_rss_watch_start: samples the agent's VmRSS (kB) every 0.2 s into RSS_FILE until it exits.
agent_rss_watch_start() {
  RSS_FILE="$H_TMP/rss.$AGENT_PID"
  local pid="$AGENT_PID"
  (
    for _ in $(seq 3000); do # bounded: 10 min at most
      [ -r "/proc/$pid/status" ] || break
      awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || break
      sleep 0.2
    done
  ) >"$RSS_FILE" &
  RSS_PID=$!
  H_BG_PIDS+=("$RSS_PID")
}
agent_rss_max_kb() { sort -n "$RSS_FILE" | tail -n1; }

# check_untapped NS IFACE CLSACT_EXPECTED(0|1) WHAT: nothing of shadowtap is left on IFACE: no tc
# filter, clsact only if it pre-existed, no XDP program, no st-mirror interface in the namespace,
# no pinned maps.
check_untapped() {
  local ns="$1" ifc="$2" clsact="$3" what="${4:-}"
  local out
  out="$(ip netns exec "$ns" tc filter show dev "$ifc" ingress 2>&1)"
  [ -z "$out" ] || fail "$what: tc ingress filter left on $ifc: $out"
  out="$(ip netns exec "$ns" tc filter show dev "$ifc" egress 2>&1)"
  [ -z "$out" ] || fail "$what: tc egress filter left on $ifc: $out"
  out="$(ip netns exec "$ns" tc qdisc show dev "$ifc")"
  if [ "$clsact" = 1 ]; then
    grep -q clsact <<<"$out" || fail "$what: the pre-existing clsact qdisc on $ifc was removed: $out"
  else
    grep -q clsact <<<"$out" && fail "$what: clsact qdisc left on $ifc: $out"
  fi
  out="$(ip -n "$ns" link show dev "$ifc")"
  grep -q xdp <<<"$out" && fail "$what: XDP program left on $ifc: $out"
  out="$(ip -n "$ns" -o link show)"
  grep -q st-mirror <<<"$out" && fail "$what: mirror interface left in $ns: $(grep st-mirror <<<"$out")"
  if command -v xdp-loader >/dev/null; then
    out="$(timeout 10 nsenter --net="/run/netns/$ns" xdp-loader status "$ifc" 2>&1 || true)"
    grep -Eq 'xdp_ingress|xdp_dispatcher' <<<"$out" && fail "$what: xdp-loader still shows a program on $ifc: $out"
  fi
  [ -e "/sys/fs/bpf/shadowtap/$ifc" ] && fail "$what: pinned maps left: $(ls "/sys/fs/bpf/shadowtap/$ifc")"
  log "ok: $what: nothing of shadowtap left on $ifc"
}

# check_tapped NS IFACE MODE(tc|xdp) WHAT: the positive control of check_untapped, so that its
# "nothing left" is known to look at the right places: the tap's filters, XDP program, mirror pair
# and pins are all there while an agent runs (or after it was killed).
check_tapped() {
  local ns="$1" ifc="$2" mode="$3" what="$4"
  ip netns exec "$ns" tc filter show dev "$ifc" egress | grep -q tc_egress ||
    fail "$what: no tc egress filter on $ifc"
  if [ "$mode" = tc ]; then
    ip netns exec "$ns" tc filter show dev "$ifc" ingress | grep -q tc_ingress ||
      fail "$what: no tc ingress filter on $ifc"
  else
    ip -n "$ns" link show dev "$ifc" | grep -q xdp || fail "$what: no XDP program on $ifc"
    if command -v xdp-loader >/dev/null; then
      timeout 10 nsenter --net="/run/netns/$ns" xdp-loader status "$ifc" 2>&1 | grep -q xdp_ingress ||
        fail "$what: xdp-loader does not show xdp_ingress on $ifc"
    fi
  fi
  ip netns exec "$ns" tc qdisc show dev "$ifc" | grep -q clsact || fail "$what: no clsact qdisc on $ifc"
  [ "$(ip -n "$ns" -o link show | grep -c 'st-mirror[01]')" -eq 2 ] || fail "$what: no st-mirror0/st-mirror1 pair in $ns"
  [ -e "/sys/fs/bpf/shadowtap/$ifc/st_state" ] || fail "$what: no pinned maps at /sys/fs/bpf/shadowtap/$ifc"
  log "ok: $what: tap present on $ifc ($mode mode)"
}
