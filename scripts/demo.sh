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
# 2. phase 1: a client polls v1 at a steady rate, Poisson arrivals (about 15% of the requests carry
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

HOST_HEADER=books:8080   # what clients call the service; the mirrored copy says books-shadow:8080
PORT=8080
SHADOWS=(v2 v3 v4)
declare -A SHADOW_NS SHADOW_ADDR SHADOW_WHAT
SHADOW_WHAT[v2]="identical to v1"
SHADOW_WHAT[v3]="+1.2 s on GET /books/{id}/reviews"
SHADOW_WHAT[v4]="500 for even ids"
BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
# --------------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  section "Build (scripts/build.sh: scripts/deps.sh, cmake, make)"
  start=$SECONDS
  build_log=$(mktemp /tmp/st-lab-build.XXXXXX)
  if ! bash "$ROOT/scripts/build.sh" >"$build_log" 2>&1; then
    tail -n 30 "$build_log"
    rm -f "$build_log"
    echo "build failed (full log above)" >&2
    exit 1
  fi
  rm -f "$build_log"
  say "built $(realpath --relative-to="$ROOT" "$BIN") in $((SECONDS - start)) s"
fi
[ -x "$BIN" ] || { echo "no shadowtap binary at $BIN: run without --no-build" >&2; exit 1; }

# The harness (tests/lib/): names unique to this run (two labs, or the e2e tests, can run side by
# side), and one trap that removes every namespace and process of the lab, and the tap if the
# agent could not, on any exit (also Ctrl-C or kill).
H_NAME=demo
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"
h_init --tool --need curl
h_agent "$BIN"
NS_CLI=stlab-cli-$H_ID
NS_V1=stlab-v1-$H_ID
IF_CLI=lc$H_ID          # client end of the client <-> primary link
IF_V1=lp$H_ID           # the primary's NIC: shadowtap taps this one
ADDR_CLI=10.204.0.2
ADDR_V1=10.204.0.1
AGENT_NS=$NS_V1         # the agent and its commands (st) run in the primary's namespace
for v in "${SHADOWS[@]}"; do
  SHADOW_NS[$v]=stlab-$v-$H_ID
  SHADOW_ADDR[$v]=10.204.${v#v}.2   # its link to the primary is 10.204.N.0/24, the primary .1
done

HTTP=1
# The help is read whole first: `grep -q` stops reading at the first match, and under pipefail the
# writer's SIGPIPE would read as "no such flag".
RUN_HELP=$("$BIN" run --help 2>&1 || true)
if ! grep -q -- '--protocol' <<<"$RUN_HELP" || ! grep -q -- '--exclude-header' <<<"$RUN_HELP" ||
  ! "$BIN" report --help >/dev/null 2>&1; then
  HTTP=0
  say "${BOLD}note: this shadowtap has no --protocol http / --exclude-header / report: the lab replays${RESET}"
  say "${BOLD}whole TCP connections instead (no per-request rules, no comparison) and its checks will fail.${RESET}"
fi

section "The lab: five network namespaces"
h_netns_add "$NS_CLI" --no-ipv6
h_netns_add "$NS_V1" --no-ipv6
h_veth "$NS_CLI" "$IF_CLI" "$ADDR_CLI/24" "$NS_V1" "$IF_V1" "$ADDR_V1/24"
say "client      $NS_CLI  $ADDR_CLI"
say "primary v1  $NS_V1   $ADDR_V1:$PORT  on $IF_V1  <- shadowtap taps this NIC"
for v in "${SHADOWS[@]}"; do
  h_netns_add "${SHADOW_NS[$v]}" --no-ipv6
  n=${v#v}
  h_veth "$NS_V1" "p$n$H_ID" "10.204.$n.1/24" "${SHADOW_NS[$v]}" "s$n$H_ID" "${SHADOW_ADDR[$v]}/24"
  say "shadow $v   ${SHADOW_NS[$v]}   ${SHADOW_ADDR[$v]}:$PORT  (${SHADOW_WHAT[$v]})"
done

start_service() { # version ns
  h_bg nsenter --net="/run/netns/$2" "$PYTHON" "$LAB/book_service.py" --version "$1" --port "$PORT" \
    --log "$H_TMP/$1.log" --ready-file "$H_TMP/$1.ready" 2>"$H_TMP/$1.err"
}
start_service v1 "$NS_V1"
for v in "${SHADOWS[@]}"; do start_service "$v" "${SHADOW_NS[$v]}"; done
for v in v1 "${SHADOWS[@]}"; do h_wait_file "$H_TMP/$v.ready" "book service $v" "$H_TMP/$v.err"; done
cmd "curl -H 'Host: $HOST_HEADER' http://$ADDR_V1:$PORT/books/7        (from the client)"
in_ns "$NS_CLI" curl -fsS -m 2 -H "Host: $HOST_HEADER" "http://$ADDR_V1:$PORT/books/7" | indent
echo
: >"$H_TMP/v1.log" # the lab's checks read what comes next

poll() { # tag label: the client, in the background (an INT/TERM is handled at once, not after it)
  h_bg nsenter --net="/run/netns/$NS_CLI" "$PYTHON" "$LAB/poller.py" --url "http://$ADDR_V1:$PORT" \
    --host "$HOST_HEADER" --rate "$RATE" --duration "$DURATION" --seed 7 --excluded-share 0.15 \
    --label "$2" --out "$H_TMP/$1.json" >/dev/null 2>"$H_TMP/$1.err"
  local pid=$BG_PID rc=0
  wait "$pid" || rc=$?
  [ -s "$H_TMP/$1.json" ] || fail "the poller failed ($rc): $(cat "$H_TMP/$1.err")"
  say "$(jget "$H_TMP/$1.json" '"%d requests in %.1f s: %s, %d failed, p50 %.1f ms, p99 %.1f ms" % (j["sent"], j["elapsed_s"], ", ".join("%s x%d" % kv for kv in j["codes"].items()), sum(j["errors"].values()), j["latency_ms"]["p50"] or 0, j["latency_ms"]["p99"] or 0)')"
}

# --------------------------------------------------------------------------------------------
section "Phase 1: the users' traffic, no tap ($RATE requests/s for $DURATION s)"
say "20% GET /books, 40% GET /books/{id}, 40% GET /books/{id}/reviews, ids 1..50,"
say "~15% with 'end-user: demo-user'; one TCP connection per request"
poll nottap "primary, no tap"
PRIMARY_SKIP=$(wc -l <"$H_TMP/v1.log")

# --------------------------------------------------------------------------------------------
section "Phase 2: shadowtap on the primary's NIC, mirroring to v2, v3 and v4"
AGENT_ARGS=(run --iface "$IF_V1" --port "$PORT")
[ "$HTTP" = 1 ] && AGENT_ARGS+=(--protocol http)
for v in "${SHADOWS[@]}"; do AGENT_ARGS+=(--shadow "${SHADOW_ADDR[$v]}:$PORT"); done
[ "$HTTP" = 1 ] && AGENT_ARGS+=(--exclude-header "end-user: demo-user")
cmd "shadowtap ${AGENT_ARGS[*]}" | sed "s/--exclude-header end-user: demo-user/--exclude-header 'end-user: demo-user'/"
say "(100% of the connections by default; inside $NS_V1 through nsenter --net)"
agent_start "${AGENT_ARGS[@]:1}" >/dev/null
sed -E 's/^\[[^]]*\] //' "$AGENT_LOG" | indent
poll withtap "primary, with tap"

# Fire-and-forget replays finish after the users' requests (v3 takes 1.2 s): wait, bounded,
# until no flow is being reassembled and no replay connection is open.
drain='(lambda p: p.get("flows", {}).get("active", 0) + sum(t.get("active", 0) for t in p.get("replay", {}).get("targets", [])))(j.get("pipeline", {}))'
start=$SECONDS
active=1
while [ $((SECONDS - start)) -lt 20 ]; do
  st status --iface "$IF_V1" --json >"$H_TMP/status.json" 2>/dev/null &&
    active=$(jtry "$H_TMP/status.json" "$drain") || active=1
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
"$PYTHON" "$LAB/lab_report.py" clients "$H_TMP/nottap.json" "$H_TMP/withtap.json"

TARGETS=()
for v in "${SHADOWS[@]}"; do TARGETS+=(--target "${SHADOW_ADDR[$v]}:$PORT=$v"); done
if [ "$HTTP" = 1 ]; then
  section "What the shadows would have done: shadowtap report"
  cmd "shadowtap report --iface $IF_V1"
  for v in "${SHADOWS[@]}"; do say "${DIM}(${SHADOW_ADDR[$v]}:$PORT is $v: ${SHADOW_WHAT[$v]})${RESET}"; done
  st report --iface "$IF_V1" | indent
  st report --iface "$IF_V1" --json >"$H_TMP/report.json"

  section "Verdicts (from shadowtap report --json)"
  say "(latency: a route's p50 within +-25 % of the primary's is the same; both sides timed by the kernel)"
  VERDICT_RC=0
  "$PYTHON" "$LAB/lab_report.py" verdicts "$H_TMP/report.json" "${TARGETS[@]}" --expect-same v2 || VERDICT_RC=1
else
  section "Replay (TCP mode): shadowtap status"
  st status --iface "$IF_V1" | sed -n '/^replay to/,$p' | indent
fi

# --------------------------------------------------------------------------------------------
section "Stop the agent (SIGINT): it detaches and removes what it created"
agent_stop INT >/dev/null
left=0
check_gone() { # description, command that prints something when something is left
  local out
  out=$("${@:2}" 2>/dev/null || true)
  if [ -n "$out" ]; then say "LEFT: $1: $out"; left=1; fi
}
check_gone "tc filter on $IF_V1 ingress" in_ns "$NS_V1" tc filter show dev "$IF_V1" ingress
check_gone "tc filter on $IF_V1 egress" in_ns "$NS_V1" tc filter show dev "$IF_V1" egress
check_gone "clsact qdisc on $IF_V1" bash -c "nsenter --net=/run/netns/$NS_V1 tc qdisc show dev $IF_V1 | grep clsact"
check_gone "mirror pair st-*" bash -c "ip -n $NS_V1 -br link show | grep '^st-'"
check_gone "pinned maps" bash -c "ls -d /sys/fs/bpf/shadowtap/$IF_V1 2>/dev/null"
if [ "$left" = 0 ]; then say "nothing left on $IF_V1 (no tc filter, no clsact, no mirror pair, no pins)"; fi

# --------------------------------------------------------------------------------------------
section "The lab's checks, from the book services' own logs"
rc=0
SHADOW_LOGS=()
for v in "${SHADOWS[@]}"; do SHADOW_LOGS+=(--shadow "$v=$H_TMP/$v.log"); done
"$PYTHON" "$LAB/lab_report.py" checks --primary "$H_TMP/v1.log" --primary-skip "$PRIMARY_SKIP" \
  "${SHADOW_LOGS[@]}" --client "$H_TMP/nottap.json" "$H_TMP/withtap.json" || rc=1
[ "$left" = 0 ] || rc=1
if [ "$HTTP" = 1 ]; then
  if [ "${VERDICT_RC:-1}" = 0 ]; then
    say "ok    v2 (identical to v1): same status classes, p50 within 25 % of the primary's on every route"
  else
    say "FAIL  v2 (identical to v1) is not judged the same as the primary (verdicts above)"
    rc=1
  fi
fi

section "Done in $SECONDS s"
if [ "$rc" = 0 ]; then
  say "${BOLD}every check holds.${RESET} The namespaces $NS_CLI, $NS_V1, ${SHADOW_NS[v2]}... are removed on exit."
else
  say "${BOLD}some checks FAILED (above).${RESET}"
fi
exit "$rc"
