#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cost of the tap on the PRIMARY path: what a service loses when shadowtap (or the classic
# `tc ... action mirred egress mirror`) sits on its NIC. Client netns <-> server netns over a veth
# pair, tap on the server's veth. Four variants, interleaved over several rounds in rotated order
# (the machine is noisy), medians reported as ratios to "no tap":
#   notap   nothing attached
#   tap0    shadowtap run --percent 0    (programs attached, nothing cloned)
#   tap100  shadowtap run --percent 100  (every connection cloned into st-<iface>.0 -> .1,
#                                         nobody reads .1: the kernel drops the clones)
#   mirred  clsact + `u32 match u32 0 0 action mirred egress mirror dev <veth>` on ingress and
#           egress of the same NIC (the baseline a user would otherwise reach for)
# Loads per variant: iperf3 TCP throughput (client -> server) and wrk against nginx (requests/s,
# p50, p99). Everything lives in two namespaces made for this run (tests/lib/harness.sh) and is
# removed on exit, error or Ctrl-C.
#
# usage: bench/primary_overhead.sh [--rounds N] [--duration S] [--streams P] [--quick]
#                                  [--doc FILE | --no-doc] [--check]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE="$ROOT/bench"
ROUNDS=5
DURATION=5
STREAMS=2
WRK_THREADS=2
WRK_CONNS=32
QUICK=0
DOC=""
DOC_SET=0
CHECK=0

usage() {
  cat <<EOF
usage: $0 [options]
  --rounds N     rounds; each runs every variant once, in rotated order (default $ROUNDS)
  --duration S   seconds per iperf3 and per wrk measurement (default $DURATION)
  --streams P    iperf3 parallel streams (default $STREAMS)
  --quick        smoke run: 1 round of 2 s, results not written to docs (CI)
  --doc FILE     write the results section into FILE (default for full runs: docs/benchmarks.md)
  --no-doc       do not write any markdown file
  --check        exit 3 when a target is missed (default: report only)
Needs root. Builds shadowtap (scripts/build.sh) if build/agent/shadowtap is missing.
Set SHADOWTAP=/path/to/shadowtap to benchmark another binary.
EOF
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:-}; is_uint "$ROUNDS" || { echo "bad --rounds" >&2; exit 2; }; shift 2 ;;
    --duration) DURATION=${2:-}; is_uint "$DURATION" || { echo "bad --duration" >&2; exit 2; }; shift 2 ;;
    --streams) STREAMS=${2:-}; is_uint "$STREAMS" || { echo "bad --streams" >&2; exit 2; }; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --doc) DOC=${2:-}; [ -n "$DOC" ] || { echo "bad --doc" >&2; exit 2; }; DOC_SET=1; shift 2 ;;
    --no-doc) DOC=""; DOC_SET=1; shift ;;
    --check) CHECK=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [ "$QUICK" = 1 ]; then
  ROUNDS=1
  DURATION=2
fi
[ "$DOC_SET" = 1 ] || { [ "$QUICK" = 1 ] || DOC="$ROOT/docs/benchmarks.md"; }
[ "$ROUNDS" -le 50 ] && [ "$DURATION" -le 120 ] || { echo "at most 50 rounds of 120 s" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "$0: run as root (it makes network namespaces and loads BPF programs)" >&2
  exit 1
fi

BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
for tool in iperf3 wrk nginx tc ip nsenter python3 timeout curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "== $tool missing: running scripts/deps.sh"
    bash "$ROOT/scripts/deps.sh"
    break
  fi
done
if [ ! -x "$BIN" ]; then
  echo "== $BIN missing: running scripts/build.sh"
  bash "$ROOT/scripts/build.sh"
fi

# ---------------------------------------------------------------------------------------------
# The harness (tests/lib/): names unique to this run, and one trap that removes everything below
# on exit, error or Ctrl-C (a tap left by an agent is detached).
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"
h_init --tool --need iperf3 --need wrk --need nginx --need tc --need curl
h_agent "$BIN"
H_NET=10.201
h_topology pb --no-ipv6  # client $NS_CLI <-> server $NS_SRV, veth $CLI_IF <-> $SRV_IF (the NIC under test)
IF_M="pbm$H_ID"          # mirred's target (a veth, like shadowtap's mirror pair)
IF_MP="pbn$H_ID"         # its peer, where mirred's copies land and are dropped
IPERF_PORT=5201
HTTP_PORT=8080
RAW=$H_TMP/raw.csv
in_srv ip link add "$IF_M" type veth peer name "$IF_MP"
# The mirred target is set up like shadowtap's own mirror pair: up, no address, NOARP.
in_srv ip link set "$IF_M" arp off up
in_srv ip link set "$IF_MP" arp off up

# nginx: one worker, one small static page, no logging; iperf3's server.
serve_nginx web "$NS_SRV" "$SRV4:$HTTP_PORT" 1024
h_bg nsenter --net="/run/netns/$NS_SRV" iperf3 -s -B "$SRV4" -p "$IPERF_PORT" >"$H_TMP/iperf3-server.log" 2>&1

# ---------------------------------------------------------------------------------------------
# Variants

# /proc/net/dev is the reader's netns.
rx_packets() { in_srv awk -v dev="$1:" '$1 == dev { print $3; found = 1 } END { if (!found) print 0 }' /proc/net/dev; }

start_agent() { # percent
  agent_start --iface "$SRV_IF" --port "$IPERF_PORT,$HTTP_PORT" --percent "$1" --log-level warn
}

agent_counter() { # name -> value from the last status.json
  jget "$H_TMP/status.json" "j['counters'].get('$1', 0)"
}

MIRROR_RX0=0
setup_variant() {
  case $1 in
    notap) ;;
    tap0) start_agent 0 ;;
    tap100) start_agent 100 ;;
    mirred)
      in_srv tc qdisc add dev "$SRV_IF" clsact
      in_srv tc filter add dev "$SRV_IF" ingress protocol all prio 1 u32 match u32 0 0 \
        action mirred egress mirror dev "$IF_M"
      in_srv tc filter add dev "$SRV_IF" egress protocol all prio 1 u32 match u32 0 0 \
        action mirred egress mirror dev "$IF_M"
      ;;
  esac
  case $1 in
    tap100|tap0) MIRROR_RX0=$(rx_packets "$AGENT_MIRROR_RX") ;;
    mirred) MIRROR_RX0=$(rx_packets "$IF_MP") ;;
    *) MIRROR_RX0=0 ;;
  esac
}

# Sets MIRRORED SEEN CLONED for the variant that just ran, then removes it; fails when a
# variant did not do what it claims (so a broken tap cannot pass as a fast one).
teardown_variant() {
  local mirrored=0 seen=0 cloned=0
  case $1 in
    tap0|tap100)
      mirrored=$(($(rx_packets "$AGENT_MIRROR_RX") - MIRROR_RX0))
      agent_status "$H_TMP/status.json"
      seen=$(agent_counter seen)
      cloned=$(agent_counter cloned)
      agent_stop INT
      ;;
    mirred)
      mirrored=$(($(rx_packets "$IF_MP") - MIRROR_RX0))
      in_srv tc qdisc del dev "$SRV_IF" clsact
      ;;
  esac
  if in_srv tc filter show dev "$SRV_IF" ingress 2>/dev/null | grep -q . ||
     in_srv tc filter show dev "$SRV_IF" egress 2>/dev/null | grep -q . ||
     [ -n "$(mirror_ifaces "$NS_SRV")" ]; then
    fail "variant $1 left filters or its mirror pair behind on $SRV_IF"
  fi
  case $1 in
    tap0) [ "$seen" -gt 0 ] && [ "$cloned" -eq 0 ] || fail "tap0 sanity: seen=$seen cloned=$cloned" ;;
    tap100) [ "$cloned" -gt 0 ] && [ "$mirrored" -gt 0 ] || fail "tap100 sanity: cloned=$cloned mirrored=$mirrored" ;;
    mirred) [ "$mirrored" -gt 0 ] || fail "mirred sanity: nothing arrived on $IF_MP" ;;
  esac
  MIRRORED=$mirrored SEEN=$seen CLONED=$cloned
}

run_iperf() { # seconds -> bits/s received by the server
  local out=$H_TMP/iperf3.json
  if ! in_cli timeout $(($1 + 20)) iperf3 -c "$SRV4" -p "$IPERF_PORT" -t "$1" -P "$STREAMS" -J >"$out" 2>&1; then
    fail "iperf3 failed: $(tail -n 20 "$out")"
  fi
  jget "$out" 'int(j["end"]["sum_received"]["bits_per_second"])'
}

run_wrk() { # seconds -> "rps p50_us p99_us errors"
  local out=$H_TMP/wrk.txt
  if ! in_cli timeout $(($1 + 20)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$1"s --latency \
      "http://$SRV4:$HTTP_PORT/" >"$out" 2>&1; then
    fail "wrk failed: $(cat "$out")"
  fi
  "$PYTHON" "$HERE/parse_wrk.py" "$out"
}

VARIANTS=(notap tap0 tap100 mirred)
echo "round,variant,iperf_bps,rps,p50_us,p99_us,http_errors,mirrored_pkts,seen,cloned" >"$RAW"

LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
log "warm-up (not recorded); load average $LOAD_START"
run_iperf 2 >/dev/null
run_wrk 2 >/dev/null

total=$((ROUNDS * ${#VARIANTS[@]}))
n=0
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
    v=${VARIANTS[$(((r + k) % ${#VARIANTS[@]}))]}
    n=$((n + 1))
    setup_variant "$v"
    bps=$(run_iperf "$DURATION")
    wrk_result=$(run_wrk "$DURATION")
    read -r rps p50 p99 errs <<<"$wrk_result"
    teardown_variant "$v"
    mirrored=$MIRRORED
    echo "$((r + 1)),$v,$bps,$rps,$p50,$p99,$errs,$mirrored,$SEEN,$CLONED" >>"$RAW"
    log "$(printf '[%2d/%d] round %d %-7s iperf3 %6.2f Gbit/s  wrk %8.0f req/s p50 %7.0f us p99 %7.0f us  mirrored %d pkts' \
      "$n" "$total" "$((r + 1))" "$v" "$(echo "$bps" | awk '{print $1/1e9}')" "$rps" "$p50" "$p99" "$mirrored")"
  done
done

# ---------------------------------------------------------------------------------------------
report_args=(--raw "$RAW" --rounds "$ROUNDS" --duration "$DURATION" --streams "$STREAMS"
  --wrk "$WRK_THREADS,$WRK_CONNS" --binary "$BIN" --load-start "$LOAD_START")
[ -n "$DOC" ] && report_args+=(--doc "$DOC")
[ "$QUICK" = 1 ] && report_args+=(--quick)
set +e
"$PYTHON" "$HERE/overhead_report.py" "${report_args[@]}"
rc=$?
set -e
if [ -n "$DOC" ]; then
  # Keep the per-round numbers behind the documented medians.
  mkdir -p "$HERE/results"
  cp "$RAW" "$HERE/results/primary_overhead.csv"
  log "per-round results: bench/results/primary_overhead.csv"
fi
if [ "$rc" -eq 3 ] && [ "$CHECK" = 0 ]; then
  rc=0
fi
exit "$rc"
