#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The release-safety lab: is the next version of a service safe to release? Ask production traffic,
# before any user sees the new version. On this machine, in about a minute, touching nothing outside
# five network namespaces it makes (and removes, also on Ctrl-C or kill):
#
#   [client] --veth--> [primary: book service v1 :8080, shadowtap on this NIC] --veth--> [shadow v2]
#                                                                              --veth--> [shadow v3]
#                                                                              --veth--> [shadow v4]
#   v2 identical to v1 · v3 adds 1.2 s to GET /books/{id}/reviews · v4 answers 500 for even ids
#
# 1. builds shadowtap (scripts/build.sh: Debian packages through scripts/deps.sh, cmake),
# 2. phase 1: a client polls v1 at a steady rate (about 15% of the requests carry
#    `end-user: demo-user`) -> the primary's baseline, as the client sees it,
# 3. phase 2: `shadowtap run --protocol http` on v1's NIC mirrors every request to v2, v3 and v4,
#    except the demo user's; the client polls again, the same requests in the same order,
# 4. prints the client's numbers without vs with the tap, `shadowtap report` (per route x version x
#    status code: count, latency), a verdict per version, and the lab's checks from the services'
#    own logs: no demo-user request reached a shadow, the shadows saw Host books-shadow:8080.
# Exit status 0 only if every check holds.
# usage: sudo bash scripts/demo.sh [--no-build] [--duration SECONDS (20)] [--rate PER_SECOND (20)]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=$ROOT/scripts/lab
BUILD=1
DURATION=20
RATE=20
while [ $# -gt 0 ]; do
  case $1 in
    --no-build) BUILD=0 ;;
    --duration) DURATION=${2:?--duration needs seconds}; shift ;;
    --rate) RATE=${2:?--rate needs requests per second}; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--no-build] [--duration SECONDS] [--rate PER_SECOND]" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh: run as root (it makes network namespaces and loads BPF programs)" >&2
  exit 1
fi

BOLD="" DIM="" RESET=""
if [ -t 1 ]; then
  BOLD=$(tput bold 2>/dev/null || true)
  DIM=$(tput dim 2>/dev/null || true)
  RESET=$(tput sgr0 2>/dev/null || true)
fi
section() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$RESET"; }
say() { printf '   %s\n' "$*"; }
cmd() { printf '   %s$ %s%s\n' "$DIM" "$*" "$RESET"; }
indent() { sed 's/^/   /'; }

# Unique per run (pid in hex + 16 random bits), so that two labs, or the e2e tests, can run side
# by side. Interface names stay within 15 characters.
ID=$(printf '%x%04x' "$$" "$((RANDOM * 2 + RANDOM % 2))")
[ "${#ID}" -le 10 ] || ID=${ID: -10}
NS_CLI=stlab-cli-$ID
NS_V1=stlab-v1-$ID
IF_CLI=lc$ID          # client end of the client <-> primary link
IF_V1=lp$ID           # the primary's NIC: shadowtap taps this one
PORT=8080
ADDR_CLI=10.204.0.2
ADDR_V1=10.204.0.1
HOST_HEADER=books:$PORT   # what clients call the service; the mirrored copy says books-shadow:8080
SHADOWS=(v2 v3 v4)
declare -A SHADOW_NS SHADOW_ADDR SHADOW_WHAT
SHADOW_WHAT[v2]="identical to v1"
SHADOW_WHAT[v3]="+1.2 s on GET /books/{id}/reviews"
SHADOW_WHAT[v4]="500 for even ids"
for v in "${SHADOWS[@]}"; do
  SHADOW_NS[$v]=stlab-$v-$ID
  SHADOW_ADDR[$v]=10.204.${v#v}.2   # its link to the primary is 10.204.N.0/24, the primary .1
done
PYTHON=$(command -v python3 || true)
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3   # not a version manager's shim (slow starts)
BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
TMP=$(mktemp -d /tmp/st-lab.XXXXXX)
NAMESPACES=()
PIDS=()          # every process started in the background: killed on exit
AGENT_PID=""
CLEANED=0
T0=$SECONDS

in_ns() { local ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }
# The agent and its commands run through nsenter --net: `ip netns exec` would also give them a
# private /sys, hence a private bpffs, and `status`/`report` would not see `run`'s pins.
st() { timeout 20 nsenter --net="/run/netns/$NS_V1" "$BIN" "$@"; }
jget() { "$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

stop_pid() { # pid signal seconds
  local pid=$1 sig=$2 secs=$3 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  [ "$CLEANED" = 1 ] && return 0
  CLEANED=1
  set +e
  trap "" INT TERM   # a second Ctrl-C (or a signal to the whole group) must not cut the clean-up short
  local p ns
  # The agent first (SIGINT: it detaches what it attached), then everything else.
  if [ -n "$AGENT_PID" ]; then
    stop_pid "$AGENT_PID" INT 10
    if [ -e "/sys/fs/bpf/shadowtap/$IF_V1" ] && [ -e "/run/netns/$NS_V1" ]; then
      timeout 10 nsenter --net="/run/netns/$NS_V1" "$BIN" detach --iface "$IF_V1" --log-level warn >/dev/null 2>&1
    fi
  fi
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do stop_pid "$p" TERM 3; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  rm -rf "/sys/fs/bpf/shadowtap/${IF_V1:?}" 2>/dev/null
  if [ -n "${KEEP_TMP:-}" ]; then echo "lab files kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; cleanup; exit 130' INT
trap 'echo "terminated: cleaning up" >&2; cleanup; exit 143' TERM

# Starts a long-running process in the background and remembers its pid (nsenter execs the
# command, so $! is the process itself).
bg() { "$@" & PIDS+=($!); }

# --------------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  section "Build (scripts/build.sh: scripts/deps.sh, cmake, make)"
  start=$SECONDS
  if ! bash "$ROOT/scripts/build.sh" >"$TMP/build.log" 2>&1; then
    tail -n 30 "$TMP/build.log"
    echo "build failed (full log above)" >&2
    exit 1
  fi
  say "built $(realpath --relative-to="$ROOT" "$BIN") in $((SECONDS - start)) s"
fi
[ -x "$BIN" ] || { echo "no shadowtap binary at $BIN: run without --no-build" >&2; exit 1; }
[ -n "$PYTHON" ] || { echo "python3 is missing: run scripts/deps.sh" >&2; exit 1; }

HTTP=1
if ! "$BIN" run --help 2>&1 | grep -q -- '--protocol' || ! "$BIN" run --help 2>&1 | grep -q -- '--exclude-header' ||
  ! "$BIN" report --help >/dev/null 2>&1; then
  HTTP=0
  say "${BOLD}note: this shadowtap has no --protocol http / --exclude-header / report: the lab replays${RESET}"
  say "${BOLD}whole TCP connections instead (no per-request rules, no comparison) and its checks will fail.${RESET}"
fi

section "The lab: five network namespaces"
add_ns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}
link() { # ns1 if1 addr1 ns2 if2 addr2 (/24)
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$4" addr add "$6/24" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
add_ns "$NS_CLI"
add_ns "$NS_V1"
link "$NS_CLI" "$IF_CLI" "$ADDR_CLI" "$NS_V1" "$IF_V1" "$ADDR_V1"
say "client      $NS_CLI  $ADDR_CLI"
say "primary v1  $NS_V1   $ADDR_V1:$PORT  on $IF_V1  <- shadowtap taps this NIC"
for v in "${SHADOWS[@]}"; do
  add_ns "${SHADOW_NS[$v]}"
  n=${v#v}
  link "$NS_V1" "p$n$ID" "10.204.$n.1" "${SHADOW_NS[$v]}" "s$n$ID" "${SHADOW_ADDR[$v]}"
  say "shadow $v   ${SHADOW_NS[$v]}   ${SHADOW_ADDR[$v]}:$PORT  (${SHADOW_WHAT[$v]})"
done

start_service() { # version ns
  bg nsenter --net="/run/netns/$2" "$PYTHON" "$LAB/book_service.py" --version "$1" --port "$PORT" \
    --log "$TMP/$1.log" --ready-file "$TMP/$1.ready" 2>"$TMP/$1.err"
}
start_service v1 "$NS_V1"
for v in "${SHADOWS[@]}"; do start_service "$v" "${SHADOW_NS[$v]}"; done
for v in v1 "${SHADOWS[@]}"; do
  for ((i = 0; i < 100; i++)); do [ -e "$TMP/$v.ready" ] && break; sleep 0.05; done
  [ -e "$TMP/$v.ready" ] || { cat "$TMP/$v.err" >&2; echo "book service $v did not start" >&2; exit 1; }
done
cmd "curl -H 'Host: $HOST_HEADER' http://$ADDR_V1:$PORT/books/7        (from the client)"
in_ns "$NS_CLI" curl -fsS -m 2 -H "Host: $HOST_HEADER" "http://$ADDR_V1:$PORT/books/7" | indent
echo
: >"$TMP/v1.log" # the lab's checks read what comes next

poll() { # tag label: the client, in the background (an INT/TERM is handled at once, not after it)
  bg nsenter --net="/run/netns/$NS_CLI" "$PYTHON" "$LAB/poller.py" --url "http://$ADDR_V1:$PORT" \
    --host "$HOST_HEADER" --rate "$RATE" --duration "$DURATION" --seed 7 --excluded-share 0.15 \
    --label "$2" --out "$TMP/$1.json" >/dev/null 2>"$TMP/$1.err"
  local pid=$! rc=0
  wait "$pid" || rc=$?
  [ -s "$TMP/$1.json" ] || { cat "$TMP/$1.err" >&2; echo "the poller failed ($rc)" >&2; exit 1; }
  say "$(jget "$TMP/$1.json" '"%d requests in %.1f s: %s, %d failed, p50 %.1f ms, p99 %.1f ms" % (j["sent"], j["elapsed_s"], ", ".join("%s x%d" % kv for kv in j["codes"].items()), sum(j["errors"].values()), j["latency_ms"]["p50"] or 0, j["latency_ms"]["p99"] or 0)')"
}

# --------------------------------------------------------------------------------------------
section "Phase 1: the users' traffic, no tap ($RATE requests/s for $DURATION s)"
say "20% GET /books, 40% GET /books/{id}, 40% GET /books/{id}/reviews, ids 1..50,"
say "~15% with 'end-user: demo-user'; one TCP connection per request"
poll nottap "primary, no tap"
PRIMARY_SKIP=$(wc -l <"$TMP/v1.log")

# --------------------------------------------------------------------------------------------
section "Phase 2: shadowtap on the primary's NIC, mirroring to v2, v3 and v4"
AGENT_ARGS=(run --iface "$IF_V1" --port "$PORT")
[ "$HTTP" = 1 ] && AGENT_ARGS+=(--protocol http)
for v in "${SHADOWS[@]}"; do AGENT_ARGS+=(--shadow "${SHADOW_ADDR[$v]}:$PORT"); done
[ "$HTTP" = 1 ] && AGENT_ARGS+=(--exclude-header "end-user: demo-user")
cmd "shadowtap ${AGENT_ARGS[*]}" | sed "s/--exclude-header end-user: demo-user/--exclude-header 'end-user: demo-user'/"
say "(100% of the connections by default; inside $NS_V1 through nsenter --net)"
nsenter --net="/run/netns/$NS_V1" "$BIN" "${AGENT_ARGS[@]}" >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log" >&2; AGENT_PID=""; echo "shadowtap run exited" >&2; exit 1; }
  if st status --iface "$IF_V1" --json >"$TMP/status.json" 2>/dev/null &&
    [ "$(jget "$TMP/status.json" 'j["agent_pid"] == '"$AGENT_PID"' and j["ready"]')" = true ]; then
    break
  fi
  sleep 0.1
done
[ "$i" -lt 100 ] || { cat "$TMP/agent.log" >&2; echo "shadowtap did not answer status within 10 s" >&2; exit 1; }
sed -E 's/^\[[^]]*\] //' "$TMP/agent.log" | indent
poll withtap "primary, with tap"

# Fire-and-forget replays finish after the users' requests (v3 takes 1.2 s): wait, bounded,
# until no flow is being reassembled and no replay connection is open.
drain='p=j.get("pipeline",{}); print(p.get("flows",{}).get("active",0) + sum(t.get("active",0) for t in p.get("replay",{}).get("targets",[])))'
start=$SECONDS
active=1
while [ $((SECONDS - start)) -lt 20 ]; do
  st status --iface "$IF_V1" --json >"$TMP/status.json" 2>/dev/null &&
    active=$("$PYTHON" -c "import json,sys; j=json.load(open(sys.argv[1])); $drain" "$TMP/status.json") || active=1
  [ "$active" = 0 ] && break
  sleep 0.5
done
if [ "$active" = 0 ]; then
  say "replays drained $((SECONDS - start)) s after the last request"
else
  say "${BOLD}replays still active after 20 s: the report shows what completed${RESET}"
fi

# --------------------------------------------------------------------------------------------
section "What the users saw: the primary, without vs with the tap"
"$PYTHON" "$LAB/lab_report.py" clients "$TMP/nottap.json" "$TMP/withtap.json"

TARGETS=()
for v in "${SHADOWS[@]}"; do TARGETS+=(--target "${SHADOW_ADDR[$v]}:$PORT=$v"); done
if [ "$HTTP" = 1 ]; then
  section "What the shadows would have done: shadowtap report"
  cmd "shadowtap report --iface $IF_V1"
  for v in "${SHADOWS[@]}"; do say "${DIM}(${SHADOW_ADDR[$v]}:$PORT is $v: ${SHADOW_WHAT[$v]})${RESET}"; done
  st report --iface "$IF_V1" | indent
  st report --iface "$IF_V1" --json >"$TMP/report.json"

  section "Verdicts (from shadowtap report --json)"
  "$PYTHON" "$LAB/lab_report.py" verdicts "$TMP/report.json" "${TARGETS[@]}"
else
  section "Replay (TCP mode): shadowtap status"
  st status --iface "$IF_V1" | sed -n '/^replay to/,$p' | indent
fi

# --------------------------------------------------------------------------------------------
section "Stop the agent (SIGINT): it detaches and removes what it created"
stop_pid "$AGENT_PID" INT 10
AGENT_PID=""
left=0
check_gone() { # description, command that prints something when something is left
  local out
  out=$("${@:2}" 2>/dev/null || true)
  if [ -n "$out" ]; then say "LEFT: $1: $out"; left=1; fi
}
check_gone "tc filter on $IF_V1 ingress" in_ns "$NS_V1" tc filter show dev "$IF_V1" ingress
check_gone "tc filter on $IF_V1 egress" in_ns "$NS_V1" tc filter show dev "$IF_V1" egress
check_gone "clsact qdisc on $IF_V1" bash -c "nsenter --net=/run/netns/$NS_V1 tc qdisc show dev $IF_V1 | grep clsact"
check_gone "st-mirror0/st-mirror1" bash -c "ip -n $NS_V1 -br link show | grep st-mirror"
check_gone "pinned maps" bash -c "ls -d /sys/fs/bpf/shadowtap/$IF_V1 2>/dev/null"
if [ "$left" = 0 ]; then say "nothing left on $IF_V1 (no tc filter, no clsact, no st-mirror pair, no pins)"; fi

# --------------------------------------------------------------------------------------------
section "The lab's checks, from the book services' own logs"
rc=0
SHADOW_LOGS=()
for v in "${SHADOWS[@]}"; do SHADOW_LOGS+=(--shadow "$v=$TMP/$v.log"); done
"$PYTHON" "$LAB/lab_report.py" checks --primary "$TMP/v1.log" --primary-skip "$PRIMARY_SKIP" \
  "${SHADOW_LOGS[@]}" --client "$TMP/nottap.json" "$TMP/withtap.json" || rc=1
[ "$left" = 0 ] || rc=1

section "Done in $((SECONDS - T0)) s"
if [ "$rc" = 0 ]; then
  say "${BOLD}every check holds.${RESET} The namespaces $NS_CLI, $NS_V1, ${SHADOW_NS[v2]}... are removed on exit."
else
  say "${BOLD}some checks FAILED (above).${RESET}"
fi
exit "$rc"
