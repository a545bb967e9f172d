#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cost of the tap on the PRIMARY path: what a service loses when shadowtap (or the classic
# `tc ... action mirred egress mirror`) sits on its NIC. Client netns <-> server netns over a veth
# pair, tap on the server's veth. Four variants, interleaved over several rounds in rotated order
# (the machine is noisy), medians reported as ratios to "no tap":
#   notap   nothing attached
#   tap0    shadowtap run --percent 0    (programs attached, nothing cloned)
#   tap100  shadowtap run --percent 100  (every connection cloned into st-mirror0 -> st-mirror1,
#                                         nobody reads st-mirror1: the kernel drops the clones)
#   mirred  clsact + `u32 match u32 0 0 action mirred egress mirror dev <veth>` on ingress and
#           egress of the same NIC (the baseline a user would otherwise reach for)
# Loads per variant: iperf3 TCP throughput (client -> server) and wrk against nginx (requests/s,
# p50, p99). Everything lives in two namespaces made for this run and is removed on exit, error
# or Ctrl-C.
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
for tool in iperf3 wrk nginx tc ip nsenter python3 timeout; do
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
# Names unique to this run; everything below is undone by cleanup().
ID=$$
NS_C=stbc$ID            # client namespace
NS_S=stbs$ID            # server namespace
IF_C=bc$ID              # client end of the primary veth
IF_S=bs$ID              # server end: the NIC under test
IF_M=bm${ID}a           # mirred's target (a veth, like shadowtap's st-mirror0)
IF_MP=bm${ID}b          # its peer, where mirred's copies land and are dropped
ADDR_C=10.201.0.1
ADDR_S=10.201.0.2
IPERF_PORT=5201
HTTP_PORT=8080
TMP=$(mktemp -d /tmp/st-bench.XXXXXX)
RAW=$TMP/raw.csv

AGENT_PID=""
NGINX_PID=""
IPERF_PID=""
CLEANED=0

# Background processes are started with nsenter directly (not through these functions), so $!
# is the process itself and signals reach it.
in_s() { nsenter --net="/run/netns/$NS_S" "$@"; }
in_c() { nsenter --net="/run/netns/$NS_C" "$@"; }
log() { printf '%s %s\n' "$(date +%T)" "$*"; }

stop_pid() { # pid signal seconds: signal, wait up to seconds, then SIGKILL
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

stop_agent() {
  [ -n "$AGENT_PID" ] || return 0
  stop_pid "$AGENT_PID" INT 10
  AGENT_PID=""
  # A killed agent leaves its tap behind: remove it (no-op when the agent cleaned up).
  if [ -e "/sys/fs/bpf/shadowtap/$IF_S" ] && [ -e "/run/netns/$NS_S" ]; then
    in_s "$BIN" detach --iface "$IF_S" --log-level warn >/dev/null 2>&1 || true
  fi
}

cleanup() {
  [ "$CLEANED" = 1 ] && return 0
  CLEANED=1
  set +e
  stop_agent
  stop_pid "$NGINX_PID" TERM 5
  stop_pid "$IPERF_PID" TERM 5
  ip netns del "$NS_C" 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null
  rm -rf "/sys/fs/bpf/shadowtap/$IF_S" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; log "interrupted: cleaning up"; cleanup; exit 130' INT
trap 'log "terminated: cleaning up"; cleanup; exit 143' TERM

# ---------------------------------------------------------------------------------------------
log "setting up namespaces $NS_C <-> $NS_S (veth $IF_C <-> $IF_S)"
ip netns add "$NS_C"
ip netns add "$NS_S"
ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_S" netns "$NS_S"
in_s ip link add "$IF_M" type veth peer name "$IF_MP"
for ns in "$NS_C" "$NS_S"; do
  nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsenter --net="/run/netns/$ns" ip link set lo up
done
in_c ip addr add "$ADDR_C/24" dev "$IF_C"
in_s ip addr add "$ADDR_S/24" dev "$IF_S"
in_c ip link set "$IF_C" up
in_s ip link set "$IF_S" up
# The mirred target is set up like shadowtap's own mirror pair: up, no address, NOARP.
in_s ip link set "$IF_M" arp off up
in_s ip link set "$IF_MP" arp off up

# nginx: one worker, one small static page, no logging.
mkdir -p "$TMP/www"
chmod 755 "$TMP"
head -c 1024 /dev/zero | tr '\0' 'x' >"$TMP/www/index.html"
cat >"$TMP/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $TMP/cb;
  proxy_temp_path $TMP/px;
  fastcgi_temp_path $TMP/fc;
  uwsgi_temp_path $TMP/uw;
  scgi_temp_path $TMP/sc;
  server {
    listen $ADDR_S:$HTTP_PORT;
    root $TMP/www;
  }
}
EOF
nsenter --net="/run/netns/$NS_S" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
nsenter --net="/run/netns/$NS_S" iperf3 -s -B "$ADDR_S" -p "$IPERF_PORT" >"$TMP/iperf3-server.log" 2>&1 &
IPERF_PID=$!
for ((i = 0; i < 50; i++)); do
  in_c curl -fsS -o /dev/null "http://$ADDR_S:$HTTP_PORT/" 2>/dev/null && break
  sleep 0.1
done
in_c curl -fsS -o /dev/null "http://$ADDR_S:$HTTP_PORT/" || { echo "nginx did not come up" >&2; cat "$TMP/nginx-error.log" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Variants

# /proc/net/dev is the reader's netns (unlike /sys, which stays the host's under nsenter).
rx_packets() { in_s awk -v dev="$1:" '$1 == dev { print $3; found = 1 } END { if (!found) print 0 }' /proc/net/dev; }

start_agent() { # percent
  nsenter --net="/run/netns/$NS_S" "$BIN" run --iface "$IF_S" --port "$IPERF_PORT,$HTTP_PORT" --percent "$1" --log-level warn \
    >>"$TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    if in_s "$BIN" status --iface "$IF_S" --json >"$TMP/status.json" 2>/dev/null &&
       in_s tc filter show dev "$IF_S" egress | grep -q bpf; then
      return 0
    fi
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "shadowtap run did not attach to $IF_S; its log:" >&2
  cat "$TMP/agent.log" >&2
  exit 1
}

agent_counter() { # name -> value from the last status.json
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"].get(sys.argv[2], 0))' \
    "$TMP/status.json" "$1"
}

MIRROR_RX0=0
setup_variant() {
  case $1 in
    notap) ;;
    tap0) start_agent 0 ;;
    tap100) start_agent 100 ;;
    mirred)
      in_s tc qdisc add dev "$IF_S" clsact
      in_s tc filter add dev "$IF_S" ingress protocol all prio 1 u32 match u32 0 0 \
        action mirred egress mirror dev "$IF_M"
      in_s tc filter add dev "$IF_S" egress protocol all prio 1 u32 match u32 0 0 \
        action mirred egress mirror dev "$IF_M"
      ;;
  esac
  case $1 in
    tap100|tap0) MIRROR_RX0=$(rx_packets st-mirror1) ;;
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
      mirrored=$(($(rx_packets st-mirror1) - MIRROR_RX0))
      in_s "$BIN" status --iface "$IF_S" --json >"$TMP/status.json"
      seen=$(agent_counter seen)
      cloned=$(agent_counter cloned)
      stop_agent
      ;;
    mirred)
      mirrored=$(($(rx_packets "$IF_MP") - MIRROR_RX0))
      in_s tc qdisc del dev "$IF_S" clsact
      ;;
  esac
  if in_s tc filter show dev "$IF_S" ingress 2>/dev/null | grep -q . ||
     in_s tc filter show dev "$IF_S" egress 2>/dev/null | grep -q . ||
     in_s ip link show st-mirror0 >/dev/null 2>&1; then
    echo "variant $1 left filters or st-mirror0 behind on $IF_S" >&2
    exit 1
  fi
  case $1 in
    tap0) [ "$seen" -gt 0 ] && [ "$cloned" -eq 0 ] || { echo "tap0 sanity: seen=$seen cloned=$cloned" >&2; exit 1; } ;;
    tap100) [ "$cloned" -gt 0 ] && [ "$mirrored" -gt 0 ] || { echo "tap100 sanity: cloned=$cloned mirrored=$mirrored" >&2; exit 1; } ;;
    mirred) [ "$mirrored" -gt 0 ] || { echo "mirred sanity: nothing arrived on $IF_MP" >&2; exit 1; } ;;
  esac
  MIRRORED=$mirrored SEEN=$seen CLONED=$cloned
}

run_iperf() { # seconds -> bits/s received by the server
  local out=$TMP/iperf3.json
  if ! in_c timeout $(($1 + 20)) iperf3 -c "$ADDR_S" -p "$IPERF_PORT" -t "$1" -P "$STREAMS" -J >"$out" 2>&1; then
    echo "iperf3 failed:" >&2
    tail -n 20 "$out" >&2
    exit 1
  fi
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$out"
}

run_wrk() { # seconds -> "rps p50_us p99_us errors"
  local out=$TMP/wrk.txt
  if ! in_c timeout $(($1 + 20)) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"$1"s --latency \
      "http://$ADDR_S:$HTTP_PORT/" >"$out" 2>&1; then
    echo "wrk failed:" >&2
    cat "$out" >&2
    exit 1
  fi
  python3 "$HERE/parse_wrk.py" "$out"
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
python3 "$HERE/overhead_report.py" "${report_args[@]}"
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
