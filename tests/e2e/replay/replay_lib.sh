# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Harness of the replay e2e tests (issue 3: reassembly + replay to shadow services).
# Self-contained on purpose: tests/e2e/lib.sh is being written concurrently and these tests must
# not break when it changes; the conventions are the same (per-run unique names, one EXIT trap
# that kills what the test started and deletes every namespace, bounded waits everywhere).
#
# Topology (rl_topology):
#
#   [ns $NS_CLI] $CLI_IF ==veth== $SRV_IF [ns $NS_SRV] $SRV_SH_IF ==veth== $SHD_IF [ns $NS_SHD]
#     $CLI4                          $SRV4   http_server.py   $SRV_SH4          $SHD4  recorder.py
#                                    ^ the agent taps $SRV_IF (st-mirror0/1 are created in $NS_SRV)
#                                      and replays from $SRV_SH4 to the recorder(s) in $NS_SHD
#
# rl_topology router: the client sits one hop further, behind a router namespace $NS_RTR whose
# forward chain can impair traffic per segment (TCP hands GSO super-packets to the client's own
# output hook even with GSO off, so per-segment loss/duplication has to happen on a forwarding hop):
#
#   [ns $NS_CLI] $CLI_IF ==== $RTC_IF [ns $NS_RTR] $RTS_IF ==== $SRV_IF [ns $NS_SRV] ...
#     $CLI4 (10.88.2.2)    10.88.2.1               10.88.0.2        $SRV4
#
# Only 10.88.x addresses, only inside these namespaces. The agent and its status run through
# `nsenter --net` (`ip netns exec` remounts /sys: another bpffs per process); the rest uses
# `ip netns exec`. Usage: source this file, then `rl_init "$1"` with the agent binary path.

set -euo pipefail

RL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RL_TOOLS="$RL_DIR/tools"
RL_NAME="$(basename "$0" .sh)"

AGENT=""
PYTHON="${PYTHON:-}"
RL_TMP=""
RL_NETNS=()
RL_BG_PIDS=()
RL_ON_EXIT=()    # commands (eval'd) that undo host-wide settings a test changed
RL_FAILED=0
AGENT_PID=""
AGENT_LOG=""
AGENT_RC=""
AGENT_WANT_PIPELINE=0
RSS_PID=""
RSS_FILE=""

log() { printf '[%s %s] %s\n' "$RL_NAME" "$(date +%T.%3N)" "$*"; }

fail() {
  RL_FAILED=1
  printf '[%s] FAIL: %s\n' "$RL_NAME" "$*" >&2
  if [ -n "$AGENT_LOG" ] && [ -s "$AGENT_LOG" ]; then
    printf '[%s] last agent log lines (%s):\n' "$RL_NAME" "$AGENT_LOG" >&2
    tail -n 15 "$AGENT_LOG" >&2 || true
  fi
  exit 1
}

assert_eq() { # what expected actual
  [ "$3" = "$2" ] || fail "$1: expected $2, got $3"
  log "ok: $1 = $3"
}

assert_ge() { # what floor actual
  [ "$3" -ge "$2" ] || fail "$1: expected >= $2, got $3"
  log "ok: $1 = $3 (>= $2)"
}

assert_le() { # what ceiling actual
  [ "$3" -le "$2" ] || fail "$1: expected <= $2, got $3"
  log "ok: $1 = $3 (<= $2)"
}

assert_gt() { # what floor actual
  [ "$3" -gt "$2" ] || fail "$1: expected > $2, got $3"
  log "ok: $1 = $3 (> $2)"
}

rl_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ "$rc" -ne 0 ] && RL_FAILED=1
  local pid
  for pid in "${RL_BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 30); do # bounded (3 s): the agent gets to detach itself
    local alive=0
    for pid in "${RL_BG_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${RL_BG_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Pins and the stats file are machine-wide and outlive the namespace: detach, then remove.
  if [ -n "${SRV_IF:-}" ]; then
    if [ -d "/sys/fs/bpf/shadowtap/$SRV_IF" ] && [ -e "/run/netns/$NS_SRV" ] && [ -n "$AGENT" ]; then
      timeout 10 nsenter --net="/run/netns/$NS_SRV" "$AGENT" detach --iface "$SRV_IF" >/dev/null 2>&1
    fi
    rm -rf "/sys/fs/bpf/shadowtap/${SRV_IF:?}" "/run/shadowtap/${SRV_IF:?}.json"
  fi
  local ns cmd
  for cmd in "${RL_ON_EXIT[@]}"; do eval "$cmd"; done
  for ns in "${RL_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ -n "$RL_TMP" ] && [ -d "$RL_TMP" ]; then
    if [ "$RL_FAILED" -ne 0 ] && [ -n "${E2E_KEEP:-}" ]; then
      echo "[$RL_NAME] keeping $RL_TMP for inspection (E2E_KEEP set)" >&2
    else
      rm -rf "$RL_TMP"
    fi
  fi
  [ "$RL_FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && log "PASS (${SECONDS}s)"
  exit "$rc"
}

# rl_init AGENT_BINARY
rl_init() {
  AGENT="${1:-}"
  [ -n "$AGENT" ] || fail "usage: $0 PATH_TO_SHADOWTAP"
  [ -x "$AGENT" ] || fail "agent binary '$AGENT' is not executable"
  AGENT="$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")"
  [ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, BPF)"
  local tool
  for tool in ip nsenter python3 timeout nft ethtool; do
    command -v "$tool" >/dev/null || fail "required tool '$tool' not found"
  done
  # The distribution's interpreter: a pyenv shim costs ~1 s per start and slows every step.
  if [ -z "${PYTHON:-}" ]; then
    PYTHON="$(command -v python3)"
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
  fi
  trap rl_cleanup EXIT
  trap 'fail "interrupted"' INT TERM
  SECONDS=0
  # Unique per run: pid (hex) + 16 random bits; interface names = 3-char prefix + <= 10 = 13.
  RL_ID="$(printf '%x%04x' "$$" "$((RANDOM * 2 + RANDOM % 2))")"
  [ "${#RL_ID}" -le 10 ] || RL_ID="${RL_ID: -10}"
  NS_CLI="rp-cli-$RL_ID" NS_SRV="rp-srv-$RL_ID" NS_SHD="rp-shd-$RL_ID" NS_RTR="rp-rtr-$RL_ID"
  CLI_IF="rpc$RL_ID" SRV_IF="rps$RL_ID" SRV_SH_IF="rph$RL_ID" SHD_IF="rpd$RL_ID"
  RTC_IF="rpa$RL_ID" RTS_IF="rpb$RL_ID"
  SRV4=10.88.0.1 CLI4=10.88.0.2 SRV_SH4=10.88.1.1 SHD4=10.88.1.2
  RL_TMP="$(mktemp -d "/tmp/shadowtap-replay-$RL_NAME.XXXXXX")"
  log "run id $RL_ID, tmp $RL_TMP, agent $AGENT"
}

in_cli() { ip netns exec "$NS_CLI" "$@"; }
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_shd() { ip netns exec "$NS_SHD" "$@"; }
in_rtr() { ip netns exec "$NS_RTR" "$@"; }
# The agent's short commands, bounded.
st() { timeout 20 nsenter --net="/run/netns/$NS_SRV" "$AGENT" "$@"; }

rl_add_netns() {
  ip netns add "$1" || fail "cannot create namespace $1"
  RL_NETNS+=("$1")
  ip -n "$1" link set lo up
}

# rl_veth NS_A IF_A ADDR_A/LEN NS_B IF_B ADDR_B/LEN
rl_veth() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || fail "cannot create veth $2/$5"
  ip -n "$1" addr add "$3" dev "$2"
  ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

rl_wait_up() { # NS IF
  for _ in $(seq 50); do
    ip -n "$1" -o link show dev "$2" | grep -q 'state UP' && return 0
    sleep 0.1
  done
  fail "$2 in $1 did not come up"
}

# rl_topology [router]
rl_topology() {
  rl_add_netns "$NS_SRV"
  rl_add_netns "$NS_CLI"
  rl_add_netns "$NS_SHD"
  if [ "${1:-}" = router ]; then
    rl_add_netns "$NS_RTR"
    CLI4=10.88.2.2
    rl_veth "$NS_CLI" "$CLI_IF" 10.88.2.2/24 "$NS_RTR" "$RTC_IF" 10.88.2.1/24
    rl_veth "$NS_RTR" "$RTS_IF" 10.88.0.2/24 "$NS_SRV" "$SRV_IF" "$SRV4/24"
    ip netns exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
    ip -n "$NS_CLI" route add default via 10.88.2.1
    ip -n "$NS_SRV" route add 10.88.2.0/24 via 10.88.0.2
    rl_wait_up "$NS_RTR" "$RTC_IF"
    rl_wait_up "$NS_RTR" "$RTS_IF"
  else
    rl_veth "$NS_CLI" "$CLI_IF" "$CLI4/24" "$NS_SRV" "$SRV_IF" "$SRV4/24"
  fi
  rl_veth "$NS_SRV" "$SRV_SH_IF" "$SRV_SH4/24" "$NS_SHD" "$SHD_IF" "$SHD4/24"
  rl_wait_up "$NS_CLI" "$CLI_IF"
  rl_wait_up "$NS_SRV" "$SRV_IF"
  rl_wait_up "$NS_SRV" "$SRV_SH_IF"
  rl_wait_up "$NS_SHD" "$SHD_IF"
  log "topology: $NS_CLI($CLI4) -> $NS_SRV($SRV4, tapped $SRV_IF) -> $NS_SHD($SHD4)${1:+ via $NS_RTR}"
}

rl_wait_file() { # FILE WHAT LOG
  for _ in $(seq 100); do
    [ -e "$1" ] && return 0
    sleep 0.05
  done
  fail "$2 did not start within 5 s: $(cat "$3" 2>/dev/null)"
}

# rl_http_server PORT: the real HTTP/1.1 service in the server namespace.
rl_http_server() {
  local ready="$RL_TMP/http.$1.ready"
  ip netns exec "$NS_SRV" "$PYTHON" "$RL_TOOLS/http_server.py" --port "$1" --ready-file "$ready" \
    >"$RL_TMP/http.$1.log" 2>&1 &
  RL_BG_PIDS+=("$!")
  rl_wait_file "$ready" "http server on port $1" "$RL_TMP/http.$1.log"
}

# rl_recorder NAME OUT_JSONL ARGS...: a recorder in the shadow namespace; pid in RECORDER_PID.
rl_recorder() {
  local name="$1" out="$2"
  shift 2
  local ready="$RL_TMP/rec.$name.ready"
  : >"$out"
  ip netns exec "$NS_SHD" "$PYTHON" "$RL_TOOLS/recorder.py" --out "$out" --ready-file "$ready" "$@" \
    >"$RL_TMP/rec.$name.log" 2>&1 &
  RECORDER_PID=$!
  RL_BG_PIDS+=("$RECORDER_PID")
  rl_wait_file "$ready" "recorder $name" "$RL_TMP/rec.$name.log"
}

# rl_client SUMMARY_JSON ARGS...: http_client.py in the client namespace, bounded; fails the test
# if any connection failed.
rl_client() {
  local out="$1"
  shift
  if ! timeout 110 ip netns exec "$NS_CLI" "$PYTHON" "$RL_TOOLS/http_client.py" "$@" >"$out" 2>"$out.err"; then
    fail "client $* failed: $(cat "$out" "$out.err" | head -c 2000)"
  fi
}

# jget FILE EXPR: one value from a JSON file (EXPR is python on `j`).
jget() {
  "$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2" ||
    fail "cannot read '$2' from $1: $(head -c 400 "$1")"
}

# rl_status OUT: status --json of the tapped interface.
rl_status() {
  st status --iface "$SRV_IF" --json >"$1" 2>"$1.err" || fail "status --iface $SRV_IF failed: $(cat "$1.err")"
}

# rl_agent_start ARGS...: `shadowtap run --iface $SRV_IF ARGS` in the server namespace; waits until
# status says this agent is ready (and, with --shadow, shows its pipeline stats).
rl_agent_start() {
  AGENT_LOG="$RL_TMP/agent.$(date +%s%N).log"
  nsenter --net="/run/netns/$NS_SRV" "$AGENT" run --iface "$SRV_IF" "$@" >"$AGENT_LOG" 2>&1 &
  AGENT_PID=$!
  RL_BG_PIDS+=("$AGENT_PID")
  local want_pipeline=0 a
  for a in "$@"; do [ "$a" = --shadow ] && want_pipeline=1; done
  AGENT_WANT_PIPELINE=$want_pipeline
  local st_file="$RL_TMP/status.start.json"
  for _ in $(seq 150); do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then
      wait "$AGENT_PID" && AGENT_RC=0 || AGENT_RC=$?
      fail "agent exited ($AGENT_RC) during start-up: $(cat "$AGENT_LOG")"
    fi
    if st status --iface "$SRV_IF" --json >"$st_file" 2>/dev/null &&
      [ "$(jget "$st_file" 'j["agent_pid"] == '"$AGENT_PID"' and j["ready"]')" = true ] &&
      { [ "$want_pipeline" = 0 ] || [ "$(jget "$st_file" '"pipeline" in j')" = true ]; }; then
      log "agent $AGENT_PID running: run --iface $SRV_IF $*"
      return 0
    fi
    sleep 0.1
  done
  fail "agent did not answer status within 15 s: $(cat "$AGENT_LOG")"
}

# rl_agent_stop: SIGTERM, bounded wait; exit status in AGENT_RC, final pipeline JSON in
# $RL_TMP/final.json (from the agent's last `pipeline: {...}` log line).
rl_agent_stop() {
  kill -TERM "$AGENT_PID" 2>/dev/null || fail "agent $AGENT_PID is not running"
  for _ in $(seq 100); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$AGENT_PID" 2>/dev/null && fail "agent $AGENT_PID still runs 10 s after SIGTERM"
  if wait "$AGENT_PID"; then AGENT_RC=0; else AGENT_RC=$?; fi
  [ "$AGENT_RC" = 0 ] || fail "agent exited with $AGENT_RC after SIGTERM"
  grep -o 'pipeline: {.*}' "$AGENT_LOG" | tail -n1 | sed 's/^pipeline: //' >"$RL_TMP/final.json" || true
  if [ "${AGENT_WANT_PIPELINE:-0}" = 1 ]; then
    # With --shadow the agent logs its final stats as one `pipeline: {json}` line on SIGTERM.
    "$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert {"capture","flows","replay"} <= set(j)' \
      "$RL_TMP/final.json" 2>/dev/null || fail "no final 'pipeline: {json}' line in the agent log after SIGTERM"
    log "agent $AGENT_PID stopped (exit 0), final flows: $(jget "$RL_TMP/final.json" '{k: j["flows"][k] for k in ("started","completed","reset","broken","shutdown")}')"
  else
    log "agent $AGENT_PID stopped (exit 0)"
  fi
}

# rl_count_lines FILE PATTERN: lines of a recorder file containing PATTERN (fixed string).
rl_count_lines() { grep -cF -- "$2" "$1" 2>/dev/null || true; }

# rl_wait_records FILE PATTERN COUNT TIMEOUT_S: waits (bounded) until COUNT lines match.
rl_wait_records() {
  local file="$1" pat="$2" want="$3" limit="$4" n=0
  for _ in $(seq $((limit * 10))); do
    n=$(rl_count_lines "$file" "$pat")
    [ "$n" -ge "$want" ] && return 0
    sleep 0.1
  done
  log "waited ${limit}s for $want records matching '$pat' in $(basename "$file"): have $n"
  return 1
}

# rl_wait_idle TIMEOUT_S: waits (bounded) until status shows no active flow and no active
# replay connection on any target; the last status is left in $RL_TMP/idle.json. The agent
# publishes its pipeline stats once a second: the first 1.1 s are always waited, so a stale file
# from before the workload is never taken for "idle".
rl_wait_idle() {
  sleep 1.1
  for _ in $(seq $(($1 * 4))); do
    rl_status "$RL_TMP/idle.json"
    if [ "$(jget "$RL_TMP/idle.json" 'j["pipeline"]["flows"]["active"] + sum(t["active"] for t in j["pipeline"]["replay"]["targets"])')" = 0 ]; then
      return 0
    fi
    sleep 0.25
  done
  log "not idle after $1 s: $(jget "$RL_TMP/idle.json" 'j["pipeline"]')"
  return 1
}

# rl_rss_watch_start: samples the agent's VmRSS (kB) every 0.2 s into RSS_FILE, until it exits.
rl_rss_watch_start() {
  RSS_FILE="$RL_TMP/rss.$AGENT_PID"
  (
    for _ in $(seq 3000); do # bounded: 10 min at most
      [ -r "/proc/$AGENT_PID/status" ] || break
      awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status" 2>/dev/null || break
      sleep 0.2
    done
  ) >"$RSS_FILE" &
  RSS_PID=$!
  RL_BG_PIDS+=("$RSS_PID")
}

rl_rss_max_kb() { sort -n "$RSS_FILE" | tail -n1; }

# rl_compare REPORT ARGS...: compare.py, failing the test with its report on any difference.
rl_compare() {
  local out="$1"
  shift
  if ! timeout 60 "$PYTHON" "$RL_TOOLS/compare.py" "$@" >"$out" 2>&1; then
    fail "shadow streams differ from the client's ($*): $(head -c 3000 "$out")"
  fi
  log "compare: $(cat "$out")"
}

# rl_assert_no_kernel_drops STATUS_JSON WHAT: checked before comparing streams, so a capture loss
# (frames the kernel dropped because the agent's packet ring was full) is reported as the root
# cause instead of as N missing or truncated shadow streams.
rl_assert_no_kernel_drops() {
  assert_eq "$2: capture kernel_drops (frames lost before the agent read them; cloned $(jget "$1" 'j["counters"]["cloned"]'), read $(jget "$1" 'j["pipeline"]["capture"]["frames"]'))" \
    0 "$(jget "$1" 'j["pipeline"]["capture"]["kernel_drops"]')"
}
