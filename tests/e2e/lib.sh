# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Shared harness of the e2e tests (in the style of xdp-tools' test_runner.sh): every test gets its
# own network namespaces and interfaces with per-run unique names, so tests can run in parallel
# and next to other users of the machine; an EXIT/INT/TERM trap kills what the test started,
# removes any tap it left and deletes every namespace it made, whatever way the test ends.
#
# Topology made by e2e_make_pair:
#
#   [ns $NS_CLI]  $CLI_IF ==== veth ==== $SRV_IF  [ns $NS_SRV]   <- the agent taps $SRV_IF
#    $CLI4 $CLI4_EXCL                         $SRV4                  st-mirror0 -> st-mirror1
#    $CLI6 $CLI6_EXCL                         $SRV6                  (created by `run`, tc mode)
#
# Only 10.x and ULA fd00::/8 addresses, and only inside these namespaces.
#
# The agent and its set/status/detach run through `nsenter --net` (not `ip netns exec`, which
# remounts /sys and so gives each process its own bpffs: status would not see run's pins).
# Servers, clients and tcpdump use `ip netns exec`.
#
# Usage: source lib.sh, then `e2e_init "$1"` with the agent binary path.

set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E_TOOLS="$E2E_DIR/tools"
E2E_NAME="$(basename "$0" .sh)"

AGENT=""
PYTHON="${PYTHON:-}"
E2E_DEADLINE="${E2E_DEADLINE:-100}" # seconds; below the ctest TIMEOUT of 120
E2E_TMP=""
E2E_NETNS=()      # namespaces to delete on exit
E2E_BG_PIDS=()    # background processes to kill on exit
E2E_TAPPED=()     # "ns iface" pairs that may hold a tap (detached on exit if left behind)
E2E_FAILED=0
AGENT_PID=""
AGENT_LOG=""
AGENT_RC=""
CAP_PID=""
CAP_FILE=""

log() { printf '[%s %s] %s\n' "$E2E_NAME" "$(date +%T)" "$*"; }

# The one way a test fails: a clear line on stderr, then the trap cleans up.
fail() {
  E2E_FAILED=1
  printf '[%s] FAIL: %s\n' "$E2E_NAME" "$*" >&2
  if [ -n "$AGENT_LOG" ] && [ -s "$AGENT_LOG" ]; then
    printf '[%s] last agent log lines (%s):\n' "$E2E_NAME" "$AGENT_LOG" >&2
    tail -n 20 "$AGENT_LOG" >&2 || true
  fi
  exit 1
}

assert_eq() { # what expected actual
  [ "$3" = "$2" ] || fail "$1: expected $2, got $3"
  log "ok: $1 = $3"
}

assert_between() { # what low high actual
  if [ "$4" -lt "$2" ] || [ "$4" -gt "$3" ]; then
    fail "$1: expected $2..$3, got $4"
  fi
  log "ok: $1 = $4 (bounds $2..$3)"
}

assert_gt() { # what floor actual
  [ "$3" -gt "$2" ] || fail "$1: expected > $2, got $3"
  log "ok: $1 = $3 (> $2)"
}

e2e_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [ "$rc" -ne 0 ] && E2E_FAILED=1
  local pid
  for pid in "${E2E_BG_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null
  done
  # Bounded wait (2 s) for a graceful exit, so an agent gets to detach itself; then force.
  for _ in $(seq 20); do
    local alive=0
    for pid in "${E2E_BG_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${E2E_BG_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # Pins live in the machine-wide bpffs and outlive the namespace: detach whatever is left,
  # and remove the pin directory even if detach could not.
  local entry ns ifc
  for entry in "${E2E_TAPPED[@]}"; do
    read -r ns ifc <<<"$entry"
    if [ -d "/sys/fs/bpf/shadowtap/$ifc" ] && [ -e "/run/netns/$ns" ] && [ -n "$AGENT" ]; then
      timeout 10 nsenter --net="/run/netns/$ns" "$AGENT" detach --iface "$ifc" >/dev/null 2>&1
    fi
    rm -rf "/sys/fs/bpf/shadowtap/${ifc:?}"
  done
  for ns in "${E2E_NETNS[@]}"; do
    ip netns del "$ns" 2>/dev/null
  done
  if [ -n "$E2E_TMP" ] && [ -d "$E2E_TMP" ]; then
    if [ "$E2E_FAILED" -ne 0 ] && [ -n "${E2E_KEEP:-}" ]; then
      echo "[$E2E_NAME] keeping $E2E_TMP for inspection (E2E_KEEP set)" >&2
    else
      rm -rf "$E2E_TMP"
    fi
  fi
  [ "$E2E_FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && log "PASS"
  exit "$rc"
}

# e2e_init AGENT_BINARY: checks the environment, names this run's namespaces and interfaces.
e2e_init() {
  AGENT="${1:-}"
  [ -n "$AGENT" ] || fail "usage: $0 PATH_TO_SHADOWTAP"
  [ -x "$AGENT" ] || fail "agent binary '$AGENT' is not executable"
  AGENT="$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")"
  # These tests must really run in CI: no silent skip when not root or a tool is missing.
  [ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, BPF)"
  local tool
  for tool in ip tc nsenter tcpdump python3 timeout setpriv; do
    command -v "$tool" >/dev/null || fail "required tool '$tool' not found"
  done
  # The distribution's interpreter when there is one: a version manager's shim (pyenv) costs about
  # a second per start, and the tests start python for every JSON value they read.
  if [ -z "${PYTHON:-}" ]; then
    PYTHON="$(command -v python3)"
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
  fi
  trap e2e_cleanup EXIT
  trap 'fail "interrupted by a signal (or the ${E2E_DEADLINE}s self-deadline)"' INT TERM
  # ctest ends a test past its TIMEOUT with SIGKILL, which no trap sees, and the namespaces would
  # leak: so the test sends itself SIGTERM first, and the trap cleans up.
  local self=$$
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$E2E_DEADLINE" &
    s=$!
    wait "$s"
    kill -TERM "$self"
  ) &
  E2E_BG_PIDS+=("$!")

  # Unique per run: pid (hex) plus 16 random bits. Interface names stay <= 15 characters
  # (prefix 3 + at most 6 + 4 hex digits).
  E2E_ID="$(printf '%x%04x' "$$" "$((RANDOM * 2 + RANDOM % 2))")"
  [ "${#E2E_ID}" -le 10 ] || E2E_ID="${E2E_ID: -10}"
  NS_SRV="e2e-srv-$E2E_ID"
  NS_CLI="e2e-cli-$E2E_ID"
  SRV_IF="e2s$E2E_ID"
  CLI_IF="e2c$E2E_ID"
  SRV4=10.77.0.1 CLI4=10.77.0.2 CLI4_EXCL=10.77.0.3
  SRV6=fd00:5354:e2e::1 CLI6=fd00:5354:e2e::2 CLI6_EXCL=fd00:5354:e2e::ee03
  E2E_TMP="$(mktemp -d "/tmp/shadowtap-e2e-$E2E_NAME.XXXXXX")"
  log "run id $E2E_ID, namespaces $NS_SRV/$NS_CLI, interfaces $SRV_IF/$CLI_IF, tmp $E2E_TMP"
}

# Never put these functions in the background: $! would be a subshell, not the command.
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_cli() { ip netns exec "$NS_CLI" "$@"; }
# The agent's commands, always bounded in time except `run` (see agent_start).
st() { timeout 20 nsenter --net="/run/netns/$NS_SRV" "$AGENT" "$@"; }

e2e_add_netns() {
  ip netns add "$1" || fail "cannot create namespace $1"
  E2E_NETNS+=("$1")
  ip -n "$1" link set lo up
}

# Client and server namespace joined by a veth pair, IPv4 and IPv6 on both ends, plus a second
# client address per family (the one the tests exclude).
e2e_make_pair() {
  e2e_add_netns "$NS_SRV"
  e2e_add_netns "$NS_CLI"
  E2E_TAPPED+=("$NS_SRV $SRV_IF")
  ip link add "$SRV_IF" netns "$NS_SRV" type veth peer name "$CLI_IF" netns "$NS_CLI" ||
    fail "cannot create veth $SRV_IF/$CLI_IF"
  ip -n "$NS_SRV" addr add "$SRV4/24" dev "$SRV_IF"
  ip -n "$NS_CLI" addr add "$CLI4/24" dev "$CLI_IF"
  ip -n "$NS_CLI" addr add "$CLI4_EXCL/24" dev "$CLI_IF"
  # nodad: the addresses are usable at once instead of after duplicate address detection.
  ip -n "$NS_SRV" addr add "$SRV6/64" dev "$SRV_IF" nodad
  ip -n "$NS_CLI" addr add "$CLI6/64" dev "$CLI_IF" nodad
  ip -n "$NS_CLI" addr add "$CLI6_EXCL/64" dev "$CLI_IF" nodad
  ip -n "$NS_SRV" link set "$SRV_IF" up
  ip -n "$NS_CLI" link set "$CLI_IF" up
  # No ping on minimal CI images: wait for carrier on both ends (bounded); the first client
  # connection of each test then proves the path end to end.
  for _ in $(seq 50); do
    if ip -n "$NS_SRV" -o link show dev "$SRV_IF" | grep -q 'state UP' &&
      ip -n "$NS_CLI" -o link show dev "$CLI_IF" | grep -q 'state UP'; then
      return 0
    fi
    sleep 0.1
  done
  fail "no connectivity between $NS_CLI and $NS_SRV"
}

# e2e_start_server PORT[,PORT...]: the short-response server in the server namespace.
e2e_start_server() {
  local ready="$E2E_TMP/server.ready"
  rm -f "$ready"
  ip netns exec "$NS_SRV" "$PYTHON" "$E2E_TOOLS/tcp_server.py" --ports "$1" --ready-file "$ready" \
    >"$E2E_TMP/server.log" 2>&1 &
  E2E_BG_PIDS+=("$!")
  for _ in $(seq 100); do
    [ -e "$ready" ] && return 0
    sleep 0.05
  done
  cat "$E2E_TMP/server.log" >&2
  fail "server on port(s) $1 did not start within 5 s"
}

# e2e_client OUT_JSON ARGS...: runs tcp_client.py in the client namespace (bounded), leaves its
# JSON summary in OUT_JSON and fails the test if any connection failed.
e2e_client() {
  local out="$1"
  shift
  if ! timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$E2E_TOOLS/tcp_client.py" "$@" >"$out" 2>&1; then
    fail "client $* failed: $(cat "$out")"
  fi
}

# jget FILE EXPR: one value out of a JSON file, EXPR is a python expression on `j`.
jget() {
  "$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(str(v).lower() if isinstance(v,bool) else v)' "$1" "$2" ||
    fail "cannot read '$2' from $1: $(head -c 400 "$1")"
}

# agent_start ARGS...: `shadowtap run ARGS` in the server namespace in the background, and waits
# (bounded) until `status` says this agent (its pid) is ready: attached, capture open,
# capabilities dropped, loop running. Pins alone appear earlier than that.
agent_start() {
  AGENT_LOG="$E2E_TMP/agent.$(date +%s%N).log"
  nsenter --net="/run/netns/$NS_SRV" "$AGENT" run "$@" >"$AGENT_LOG" 2>&1 &
  AGENT_PID=$!
  E2E_BG_PIDS+=("$AGENT_PID")
  local iface="" prev="" arg
  for arg in "$@"; do
    [ "$prev" = "--iface" ] && iface="$arg"
    prev="$arg"
  done
  for _ in $(seq 100); do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then
      wait "$AGENT_PID" && AGENT_RC=0 || AGENT_RC=$?
      fail "agent exited ($AGENT_RC) during start-up: $(cat "$AGENT_LOG")"
    fi
    if st status --iface "$iface" --json >"$E2E_TMP/status.start.json" 2>/dev/null &&
      [ "$(jget "$E2E_TMP/status.start.json" 'j["agent_pid"] == '"$AGENT_PID"' and j["ready"]')" = true ]; then
      log "agent $AGENT_PID running: run $*"
      return 0
    fi
    sleep 0.1
  done
  fail "agent was not ready within 10 s: $(cat "$AGENT_LOG")"
}

# agent_stop SIGNAL: signals the agent and waits (bounded) for it; exit status in AGENT_RC.
agent_stop() {
  local sig="$1"
  kill "-$sig" "$AGENT_PID" 2>/dev/null || fail "agent $AGENT_PID is not running (before $sig)"
  for _ in $(seq 100); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$AGENT_PID" 2>/dev/null && fail "agent $AGENT_PID still runs 10 s after SIG$sig"
  # Braces with 2>/dev/null: bash's own "Killed" job notice is noise, not a finding.
  if { wait "$AGENT_PID"; } 2>/dev/null; then AGENT_RC=0; else AGENT_RC=$?; fi
  log "agent $AGENT_PID stopped by SIG$sig, exit status $AGENT_RC"
}

# status_json IFACE OUT: the agent's `status --json`, failing the test if it does not answer.
status_json() {
  st status --iface "$1" --json >"$2" 2>"$2.err" || fail "status --iface $1 failed: $(cat "$2.err")"
}

# counter STATUS_JSON NAME
counter() { jget "$1" "j['counters']['$2']"; }

# capture_start NAME: tcpdump on st-mirror1 in the server namespace. -U writes every packet at once;
# --immediate-mode matters more: without it libpcap uses TPACKET_V3, whose partly filled block
# (up to its 1 s timeout) is thrown away on SIGINT, losing the last connections of a capture.
# -s 1600 (the veth MTU plus headers) keeps ring slots small: with -s 0 a 256 KiB slot per packet
# leaves only a few dozen slots in the ring, and bursts are dropped. -Z root: tcpdump must not drop
# privileges before writing into our private (0700) tmp dir.
capture_start() {
  CAP_FILE="$E2E_TMP/$1.pcap"
  local err="$E2E_TMP/$1.tcpdump.log"
  ip netns exec "$NS_SRV" tcpdump -i st-mirror1 -n -U --immediate-mode -s 1600 -B 16384 -Z root -w "$CAP_FILE" >"$err" 2>&1 &
  CAP_PID=$!
  E2E_BG_PIDS+=("$CAP_PID")
  for _ in $(seq 100); do
    grep -q "listening on" "$err" 2>/dev/null && return 0
    kill -0 "$CAP_PID" 2>/dev/null || fail "tcpdump on st-mirror1 died: $(cat "$err")"
    sleep 0.05
  done
  fail "tcpdump did not start within 5 s: $(cat "$err")"
}

# capture_stop: SIGINT (tcpdump flushes and closes the file), bounded wait; checks no drops.
capture_stop() {
  sleep 0.3 # let the last clones cross the mirror veth
  kill -INT "$CAP_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$CAP_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$CAP_PID" 2>/dev/null && fail "tcpdump did not stop on SIGINT"
  wait "$CAP_PID" || true
  local err="${CAP_FILE%.pcap}.tcpdump.log"
  # A kernel drop would make a connection look incomplete: that is the harness's fault, say so.
  if grep -Eq '^[1-9][0-9]* packets dropped by kernel' "$err"; then
    fail "tcpdump dropped packets, the capture is not trustworthy: $(cat "$err")"
  fi
}

# analyse PCAP OUT_JSON PORT...: connection summary of a pcap (see tools/pcap_conns.py).
analyse() {
  local pcap="$1" out="$2"
  shift 2
  local args=() p
  for p in "$@"; do args+=(--port "$p"); done
  timeout 60 "$PYTHON" "$E2E_TOOLS/pcap_conns.py" "${args[@]}" "$pcap" >"$out" ||
    fail "pcap analysis of $pcap failed"
}

# check_untapped NS IFACE CLSACT_EXPECTED(0|1) [MIRROR_NS_CHECK=1]: nothing of shadowtap is left on
# IFACE: no tc filter, clsact only if it pre-existed, no XDP program, no st-mirror interface in
# the namespace, no pinned maps.
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

# 5-sigma bounds of a binomial count: "low high" for N trials at percent P.
binomial_bounds() {
  "$PYTHON" -c 'import math,sys; n=int(sys.argv[1]); p=float(sys.argv[2])/100; m=n*p; s=5*math.sqrt(n*p*(1-p)); print(max(0,math.floor(m-s)), math.ceil(m+s))' "$1" "$2"
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
