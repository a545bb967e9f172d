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
#   AGENT_MIRROR_TX/RX      the started agent's mirror pair (clones go in TX and come out of RX),
#                           read from its `status --json` (mirror_pair, mirror_read_iface)
#   tc_probe ARGS...        tests/tools/tc_probe (TC_PROBE, default: next to the agent binary):
#                           someone else's tc program, and the list of an interface's tcx chain
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
AGENT_MIRROR_TX=""
AGENT_MIRROR_RX=""
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
  TC_PROBE="${TC_PROBE:-$(dirname "$AGENT")/tc_probe}"
}

# tc_probe NS ARGS...: tests/tools/tc_probe in a namespace (see its header).
tc_probe() {
  local ns="$1"
  shift
  [ -x "$TC_PROBE" ] || fail "tc_probe not found at '$TC_PROBE' (build the tc_probe target, or set TC_PROBE)"
  ip netns exec "$ns" "$TC_PROBE" "$@"
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
    # The first --iface names the agent for status; with a pattern, AGENT_STATUS_IFACE (one of the
    # interfaces it matches) does, and the test registers what it taps.
    if [ "$prev" = --iface ] && [ -z "$AGENT_IFACE" ]; then
      case "$arg" in
      *[*?[]*) AGENT_IFACE="${AGENT_STATUS_IFACE:?agent_launch: a pattern --iface needs AGENT_STATUS_IFACE}" ;;
      *) AGENT_IFACE="$arg" ;;
      esac
    fi
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
      AGENT_MIRROR_TX="$(jget "$f" 'j["mirror_pair"][0]')"
      AGENT_MIRROR_RX="$(jget "$f" 'j["mirror_read_iface"]')"
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

# The running agent's capture buffers as the kernel sees them, in bytes, one per line:
# agent_packet_rings: its memory-mapped AF_PACKET rings (mappings of a socket in /proc/PID/maps);
# agent_ringbufs: the BPF ring buffers it holds open (map_type 27 in the fds' fdinfo).
agent_packet_rings() {
  local range rest
  while read -r range _ _ _ _ rest; do
    [[ "$rest" == socket:* ]] && echo $((16#${range#*-} - 16#${range%-*}))
  done <"/proc/$AGENT_PID/maps"
  return 0
}
agent_ringbufs() {
  local info
  for info in /proc/"$AGENT_PID"/fdinfo/*; do
    awk '/^map_type:/ { t = $2 } /^max_entries:/ { n = $2 } END { if (t == 27) print n }' "$info" 2>/dev/null || true
  done | sort -u
}

# agent_wait_idle SECONDS: waits (bounded) until status shows no active flow and no active
# replay on any target; the last status is left in $H_TMP/idle.json. The agent publishes its
# pipeline stats once a second: the first 1.1 s are always waited, so a stale file from before
# the workload is never taken for "idle".
agent_wait_idle() {
  local i
  sleep 1.1
  for ((i = 0; i < $1 * 4; i++)); do
    agent_status "$H_TMP/idle.json"
    if [ "$(jget "$H_TMP/idle.json" 'j["pipeline"]["flows"]["active"] + sum(t["active"] + t["queued"] for t in j["pipeline"]["replay"]["targets"])')" = 0 ]; then
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

# check_identities STATUS_JSON [--copies K] [--flows]: the replay counters add up, per target
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

# tcx_programs NS IFACE DIR: the names on the interface's tcx chain, one per line, in run order.
tcx_programs() { tc_probe "$1" list "$2" "$3" | awk '{print $2}'; }

# mirror_ifaces NS: the interfaces in NS named like shadowtap's mirror pairs (st-...).
mirror_ifaces() { ip -n "$1" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^st-' || true; }

# check_untapped NS IFACE CLSACT_EXPECTED(0|1) WHAT: nothing of shadowtap is left on IFACE: no tc
# filter, no shadowtap program on its tcx chain, clsact only if it pre-existed, no XDP program, no
# st-* mirror interface in the namespace, no pinned maps.
check_untapped() {
  local ns="$1" ifc="$2" clsact="$3" what="${4:-}"
  local out dir
  for dir in ingress egress; do
    out="$(ip netns exec "$ns" tc filter show dev "$ifc" "$dir" 2>&1)"
    [ -z "$out" ] || fail "$what: tc $dir filter left on $ifc: $out"
    out="$(tcx_programs "$ns" "$ifc" "$dir")"
    grep -q '^tc_' <<<"$out" && fail "$what: tcx $dir program left on $ifc: $out"
  done
  out="$(ip netns exec "$ns" tc qdisc show dev "$ifc")"
  if [ "$clsact" = 1 ]; then
    grep -q clsact <<<"$out" || fail "$what: the pre-existing clsact qdisc on $ifc was removed: $out"
  else
    grep -q clsact <<<"$out" && fail "$what: clsact qdisc left on $ifc: $out"
  fi
  out="$(ip -n "$ns" link show dev "$ifc")"
  grep -q xdp <<<"$out" && fail "$what: XDP program left on $ifc: $out"
  out="$(mirror_ifaces "$ns")"
  [ -z "$out" ] || fail "$what: mirror interface left in $ns: $out"
  if command -v xdp-loader >/dev/null; then
    out="$(timeout 10 nsenter --net="/run/netns/$ns" xdp-loader status "$ifc" 2>&1 || true)"
    grep -Eq 'xdp_ingress|xdp_dispatcher' <<<"$out" && fail "$what: xdp-loader still shows a program on $ifc: $out"
  fi
  [ -e "/sys/fs/bpf/shadowtap/$ifc" ] && fail "$what: pinned maps left: $(ls "/sys/fs/bpf/shadowtap/$ifc")"
  log "ok: $what: nothing of shadowtap left on $ifc"
}

# check_tapped NS IFACE MODE(tc|xdp) ATTACH(tcx|clsact) WHAT [--killed]: the positive control of
# check_untapped, so that its "nothing left" is known to look at the right places: the tap's tc
# programs (tcx chain, or cls_bpf filters on clsact), XDP program, mirror pair and pins are all
# there while an agent runs. --killed: after a SIGKILL, where tcx links have ended with the agent
# by design (nothing runs without it) and everything else stays for `detach`.
check_tapped() {
  local ns="$1" ifc="$2" mode="$3" attach="$4" what="$5" killed="${6:-}"
  local dirs=(egress) dir
  [ "$mode" = tc ] && dirs=(ingress egress)
  for dir in "${dirs[@]}"; do
    if [ "$attach" = clsact ]; then
      ip netns exec "$ns" tc filter show dev "$ifc" "$dir" | grep -q "tc_$dir" || fail "$what: no tc $dir filter on $ifc"
    elif [ -n "$killed" ]; then
      [ -z "$(tcx_programs "$ns" "$ifc" "$dir" | grep '^tc_')" ] ||
        fail "$what: a tcx $dir program outlived its agent on $ifc: $(tcx_programs "$ns" "$ifc" "$dir")"
    else
      # At the head of the chain: nothing attached before it can hide a packet from it.
      tcx_programs "$ns" "$ifc" "$dir" | head -n1 | grep -q "^tc_$dir" ||
        fail "$what: tc_$dir is not first on the tcx $dir chain of $ifc: $(tcx_programs "$ns" "$ifc" "$dir" | tr '\n' ' ')"
    fi
  done
  if [ "$mode" = xdp ]; then
    ip -n "$ns" link show dev "$ifc" | grep -q xdp || fail "$what: no XDP program on $ifc"
    if command -v xdp-loader >/dev/null; then
      timeout 10 nsenter --net="/run/netns/$ns" xdp-loader status "$ifc" 2>&1 | grep -q xdp_ingress ||
        fail "$what: xdp-loader does not show xdp_ingress on $ifc"
    fi
  fi
  if [ "$attach" = clsact ]; then
    ip netns exec "$ns" tc qdisc show dev "$ifc" | grep -q clsact || fail "$what: no clsact qdisc on $ifc"
  fi
  [ "$(mirror_ifaces "$ns" | wc -l)" -eq 2 ] || fail "$what: no mirror pair in $ns: $(mirror_ifaces "$ns" | tr '\n' ' ')"
  [ -e "/sys/fs/bpf/shadowtap/$ifc/st_state" ] || fail "$what: no pinned maps at /sys/fs/bpf/shadowtap/$ifc"
  log "ok: $what: tap present on $ifc ($mode mode, $attach${killed:+, agent killed})"
}
