#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# shadowtap in one minute, on this machine, touching nothing outside two network namespaces it
# makes (and removes, even on Ctrl-C):
#   client ns --veth--> server ns (nginx on :8080, shadowtap on the server's NIC)
# 1. builds shadowtap (scripts/build.sh: Debian packages + cmake),
# 2. mirrors 30% of the connections to :8080 while a client opens short connections at a steady
#    rate, shows mirrored packets live on st-mirror1 and counts mirrored vs total connections,
# 3. raises the rate to 100% live with `shadowtap set`, shows every new connection mirrored,
# 4. prints `shadowtap status`, stops the agent and shows that nothing is left attached.
# usage: sudo scripts/demo.sh [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=1
case ${1:-} in
  --no-build) BUILD=0 ;;
  "") ;;
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac
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

PHASE1_CONNS=150    # at 30%
PHASE2_CONNS=50     # at 100%
PAUSE=0.04          # between connections: ~15-20 connections/s

ID=$$
NS_C=stdc$ID
NS_S=stds$ID
IF_C=dc$ID
IF_S=ds$ID
ADDR_C=10.203.0.1
ADDR_S=10.203.0.2
PORT=8080
TMP=$(mktemp -d /tmp/st-demo.XXXXXX)
BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
AGENT_PID=""
NGINX_PID=""
BG_PIDS=()
CLEANED=0

in_s() { nsenter --net="/run/netns/$NS_S" "$@"; }
in_c() { nsenter --net="/run/netns/$NS_C" "$@"; }

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
  local p
  for p in "${BG_PIDS[@]}"; do stop_pid "$p" TERM 2; done
  if [ -n "$AGENT_PID" ]; then
    stop_pid "$AGENT_PID" INT 10
    if [ -e "/sys/fs/bpf/shadowtap/$IF_S" ] && [ -e "/run/netns/$NS_S" ]; then
      in_s "$BIN" detach --iface "$IF_S" --log-level warn >/dev/null 2>&1
    fi
  fi
  stop_pid "$NGINX_PID" TERM 5
  ip netns del "$NS_C" 2>/dev/null
  ip netns del "$NS_S" 2>/dev/null
  rm -rf "/sys/fs/bpf/shadowtap/$IF_S" 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo; echo "interrupted: cleaning up"; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# --------------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  section "Build (scripts/build.sh: Debian packages, cmake, make)"
  start=$SECONDS
  if ! bash "$ROOT/scripts/build.sh" >"$TMP/build.log" 2>&1; then
    tail -n 30 "$TMP/build.log"
    echo "build failed (full log above)" >&2
    exit 1
  fi
  say "built $(realpath --relative-to="$ROOT" "$BIN") in $((SECONDS - start)) s"
fi
[ -x "$BIN" ] || { echo "no shadowtap binary at $BIN: run without --no-build" >&2; exit 1; }

section "Network: two namespaces joined by a veth pair"
ip netns add "$NS_C"
ip netns add "$NS_S"
ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_S" netns "$NS_S"
for ns in "$NS_C" "$NS_S"; do
  nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  nsenter --net="/run/netns/$ns" ip link set lo up
done
in_c ip addr add "$ADDR_C/24" dev "$IF_C"
in_s ip addr add "$ADDR_S/24" dev "$IF_S"
in_c ip link set "$IF_C" up
in_s ip link set "$IF_S" up
say "client  $NS_C  $IF_C  $ADDR_C"
say "server  $NS_S  $IF_S  $ADDR_S   <- shadowtap taps this NIC"

mkdir -p "$TMP/www"
chmod 755 "$TMP"
echo "hello from the server namespace" >"$TMP/www/index.html"
cat >"$TMP/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  keepalive_timeout 0;
  client_body_temp_path $TMP/cb;
  proxy_temp_path $TMP/px;
  fastcgi_temp_path $TMP/fc;
  uwsgi_temp_path $TMP/uw;
  scgi_temp_path $TMP/sc;
  server { listen $ADDR_S:$PORT; root $TMP/www; }
}
EOF
nsenter --net="/run/netns/$NS_S" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" &
NGINX_PID=$!
for ((i = 0; i < 50; i++)); do
  in_c curl -fsS -m 1 -o /dev/null "http://$ADDR_S:$PORT/" 2>/dev/null && break
  sleep 0.1
done
cmd "curl http://$ADDR_S:$PORT/"
in_c curl -fsS -m 2 "http://$ADDR_S:$PORT/" | indent

# --------------------------------------------------------------------------------------------
section "Start the tap: 30% of the connections to :$PORT"
cmd "shadowtap run --iface $IF_S --port $PORT --percent 30 &"
nsenter --net="/run/netns/$NS_S" "$BIN" run --iface "$IF_S" --port "$PORT" --percent 30 >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for ((i = 0; i < 100; i++)); do
  in_s "$BIN" status --iface "$IF_S" >/dev/null 2>&1 && break
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent.log"; echo "shadowtap run exited" >&2; exit 1; }
  sleep 0.1
done
in_s "$BIN" status --iface "$IF_S" >/dev/null || { cat "$TMP/agent.log"; exit 1; }
sed -E 's/^\[[^]]*\] //' "$TMP/agent.log" | indent
say "attached to $IF_S:"
in_s tc filter show dev "$IF_S" ingress | grep -o 'handle.*' | cut -d' ' -f1-5 | sed 's/^/  tc ingress: /' | indent
in_s tc filter show dev "$IF_S" egress | grep -o 'handle.*' | cut -d' ' -f1-5 | sed 's/^/  tc egress:  /' | indent
say "clones go out st-mirror0 and arrive on its peer st-mirror1, where any capture tool can read them."

SYN_ONLY="tcp dst port $PORT and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"

# Captures the new connections' SYNs on the NIC (all) and on st-mirror1 (mirrored) while
# `connections N` runs, then prints both counts.
capture_start() { # tag
  nsenter --net="/run/netns/$NS_S" tcpdump -i "$IF_S" -nn -U --immediate-mode -Z root -w "$TMP/$1-nic.pcap" "$SYN_ONLY" \
    >"$TMP/$1-nic.log" 2>&1 &
  BG_PIDS+=($!)
  nsenter --net="/run/netns/$NS_S" tcpdump -i st-mirror1 -nn -U --immediate-mode -Z root -w "$TMP/$1-mirror.pcap" \
    >"$TMP/$1-mirror.log" 2>&1 &
  BG_PIDS+=($!)
  local i
  for ((i = 0; i < 50; i++)); do # both capture from the moment they say "listening on"
    grep -q "listening on" "$TMP/$1-nic.log" && grep -q "listening on" "$TMP/$1-mirror.log" && return 0
    sleep 0.1
  done
  echo "tcpdump did not start:" >&2
  cat "$TMP/$1-nic.log" "$TMP/$1-mirror.log" >&2
  exit 1
}
capture_stop() {
  sleep 0.3
  local p
  for p in "${BG_PIDS[@]}"; do stop_pid "$p" INT 3; done
  BG_PIDS=()
}
count_syns() { tcpdump -nn -r "$1" "$SYN_ONLY" 2>/dev/null | wc -l; }
count_conns() { # distinct client ports (connections) in a capture
  tcpdump -nn -r "$1" "tcp dst port $PORT" 2>/dev/null | awk '{print $3}' | sort -u | wc -l
}

# Run it in the background only (`connections N >file &`): it execs, so $! is the client loop
# itself and cleanup can stop it.
connections() { # count -> "ok failed"; one new TCP connection (one HTTP request) each
  exec nsenter --net="/run/netns/$NS_C" bash -c 'ok=0; bad=0
    for ((i = 0; i < $1; i++)); do
      if curl -fsS -m 2 -o /dev/null "$2"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
      sleep "$3"
    done
    echo "$ok $bad"' _ "$1" "http://$ADDR_S:$PORT/" "$PAUSE"
}

report() { # tag expected_percent
  local total mirrored conns pct
  total=$(count_syns "$TMP/$1-nic.pcap")
  mirrored=$(count_syns "$TMP/$1-mirror.pcap")
  conns=$(count_conns "$TMP/$1-mirror.pcap")
  pct=$(awk -v m="$mirrored" -v t="$total" 'BEGIN { printf "%.0f", t ? 100 * m / t : 0 }')
  say "${BOLD}mirrored connections: $mirrored of $total ($pct%, asked for $2%)${RESET}"
  say "  (SYNs captured on $IF_S vs on st-mirror1; st-mirror1 saw packets of $conns distinct connections)"
}

# --------------------------------------------------------------------------------------------
section "Traffic: $PHASE1_CONNS short connections at a steady rate, mirrored live on st-mirror1"
capture_start p1
cmd "tcpdump -i st-mirror1 -nn -c 12     (inside $NS_S, while the client runs)"
connections "$PHASE1_CONNS" >"$TMP/p1.result" &
BG_CLIENT=$!
BG_PIDS+=("$BG_CLIENT")
in_s timeout --foreground 20 tcpdump -i st-mirror1 -nn -l -c 12 2>/dev/null | cut -c1-120 | indent || true
wait "$BG_CLIENT"
read -r ok bad <"$TMP/p1.result"
capture_stop
say "client: $ok connections answered, $bad failed"
report p1 30

section "Raise the rate live: shadowtap set --percent 100"
cmd "shadowtap set --iface $IF_S --port $PORT --percent 100"
in_s "$BIN" set --iface "$IF_S" --port "$PORT" --percent 100 2>&1 | indent
capture_start p2
connections "$PHASE2_CONNS" >"$TMP/p2.result" &
BG_CLIENT=$!
BG_PIDS+=("$BG_CLIENT")
wait "$BG_CLIENT"
read -r ok2 bad2 <"$TMP/p2.result"
capture_stop
say "client: $ok2 more connections answered, $bad2 failed"
report p2 100

section "Counters"
cmd "shadowtap status --iface $IF_S"
in_s "$BIN" status --iface "$IF_S" | indent

# --------------------------------------------------------------------------------------------
section "Stop the agent (SIGINT): it detaches and removes what it created"
stop_pid "$AGENT_PID" INT 10
AGENT_PID=""
sed -E 's/^\[[^]]*\] //' "$TMP/agent.log" | grep -E 'received|detach|counters' | indent || true
left=0
check() { # description, command that prints something when something is left
  local out
  out=$("${@:2}" 2>/dev/null || true)
  if [ -n "$out" ]; then
    say "LEFT: $1: $out"
    left=1
  else
    say "ok  $1"
  fi
}
check "no tc filter on $IF_S ingress" in_s tc filter show dev "$IF_S" ingress
check "no tc filter on $IF_S egress" in_s tc filter show dev "$IF_S" egress
check "no clsact qdisc on $IF_S" bash -c "nsenter --net=/run/netns/$NS_S tc qdisc show dev $IF_S | grep clsact"
check "no XDP program on $IF_S" bash -c "nsenter --net=/run/netns/$NS_S ip link show dev $IF_S | grep -o 'xdp.*'"
check "no st-mirror0/st-mirror1" bash -c "nsenter --net=/run/netns/$NS_S ip -br link show | grep st-mirror"
check "no pinned maps in /sys/fs/bpf/shadowtap/$IF_S" bash -c "ls -d /sys/fs/bpf/shadowtap/$IF_S 2>/dev/null"
if [ "$left" = 0 ]; then
  say "${BOLD}nothing left attached.${RESET}"
else
  echo "something was left behind (see LEFT above)" >&2
  exit 1
fi

section "Done"
say "the namespaces $NS_C and $NS_S are removed on exit."
say "try it on a real NIC:  sudo $(realpath --relative-to="$PWD" "$BIN") run --iface eth0 --port 443 --percent 1"
