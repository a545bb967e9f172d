#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Replay fidelity under load (not a timed test): an HTTP load at rising concurrency against nginx,
# every connection mirrored (100 %) and replayed to a recording shadow. Per load level:
#   requests the primary served (wrk)  vs  requests the shadow received (bytes / request size),
#   agent CPU seconds per 10,000 replayed requests, and the agent's peak memory (VmHWM).
# Target: shadow >= 99.9 % of primary at every level the primary sustains.
#
#   client ns ==veth== server ns (nginx, shadowtap on its NIC) ==veth== shadow ns (recorder)
#
# No peer tool (GoReplay, tcpcopy) is packaged in Debian 12, so there is no side-by-side run; the
# table says so. Usage: sudo bench/replay_fidelity.sh [--duration S] [--levels "1 4 16 64"] [--doc FILE|--no-doc]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION=8
LEVELS="1 4 16 64"
DOC="$ROOT/docs/benchmarks.md"
while [ $# -gt 0 ]; do
  case "$1" in
  --duration) DURATION="$2"; shift ;;
  --levels) LEVELS="$2"; shift ;;
  --doc) DOC="$2"; shift ;;
  --no-doc) DOC="" ;;
  *) echo "usage: $0 [--duration S] [--levels \"1 4 16 64\"] [--doc FILE|--no-doc]" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
[ -x "$BIN" ] || bash "$ROOT/scripts/build.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

ID=$(printf '%x' $$)
NS_C=rfc$ID NS_S=rfs$ID NS_H=rfh$ID
IF_C=rfc$ID IF_S=rfs$ID IF_SH=rfx$ID IF_H=rfh$ID
ADDR_S=10.91.0.1 ADDR_C=10.91.0.2 ADDR_SH=10.92.0.1 ADDR_H=10.92.0.2
PORT=8080 SHADOW_PORT=9000
TMP=$(mktemp -d /tmp/shadowtap-replay-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for ns in "$NS_C" "$NS_S" "$NS_H"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$NS_C" "$NS_S" "$NS_H"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$IF_S" netns "$NS_S" type veth peer name "$IF_C" netns "$NS_C"
ip link add "$IF_SH" netns "$NS_S" type veth peer name "$IF_H" netns "$NS_H"
ip -n "$NS_S" addr add "$ADDR_S/24" dev "$IF_S"; ip -n "$NS_C" addr add "$ADDR_C/24" dev "$IF_C"
ip -n "$NS_S" addr add "$ADDR_SH/24" dev "$IF_SH"; ip -n "$NS_H" addr add "$ADDR_H/24" dev "$IF_H"
for pair in "$NS_S $IF_S" "$NS_C $IF_C" "$NS_S $IF_SH" "$NS_H $IF_H"; do set -- $pair; ip -n "$1" link set "$2" up; done

mkdir -p "$TMP/www" && head -c 512 /dev/zero | tr '\0' 'x' >"$TMP/www/index.html" && chmod 755 "$TMP"
cat >"$TMP/nginx.conf" <<EOF
user root; worker_processes 1; daemon off; pid $TMP/nginx.pid; error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path $TMP/cb; proxy_temp_path $TMP/px;
  fastcgi_temp_path $TMP/fc; uwsgi_temp_path $TMP/uw; scgi_temp_path $TMP/sc;
  server { listen $ADDR_S:$PORT; root $TMP/www; } }
EOF
nsenter --net="/run/netns/$NS_S" nginx -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log" & PIDS+=("$!")
for _ in $(seq 50); do
  ip netns exec "$NS_C" curl -fsS -o /dev/null "http://$ADDR_S:$PORT/" 2>/dev/null && break
  sleep 0.1
done

# Each level gets its own agent and recorder, so the counts of one level never mix with another's.
run_level() { # connections -> writes "served received cpu_s hwm_kib" to $TMP/result.<connections>
  local conns=$1 rec="$TMP/rec.$1.jsonl" log="$TMP/agent.$1.log"
  ip netns exec "$NS_H" "$PY" "$ROOT/tests/e2e/replay/tools/recorder.py" --host "$ADDR_H" --port "$SHADOW_PORT" \
    --out "$rec" --ready-file "$TMP/rec.$conns.ready" >/dev/null 2>&1 & local rpid=$!
  PIDS+=("$rpid")
  nsenter --net="/run/netns/$NS_S" "$BIN" run --iface "$IF_S" --port "$PORT" --percent 100 \
    --shadow "$ADDR_H:$SHADOW_PORT" --metrics-addr off >"$log" 2>&1 & local apid=$!
  PIDS+=("$apid")
  for _ in $(seq 100); do
    [ -e "$TMP/rec.$conns.ready" ] && nsenter --net="/run/netns/$NS_S" "$BIN" status --iface "$IF_S" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local t0 t1
  t0=$(awk '{print $14 + $15}' "/proc/$apid/stat")
  ip netns exec "$NS_C" wrk -t "$((conns < 2 ? conns : 2))" -c "$conns" -d "${DURATION}s" "http://$ADDR_S:$PORT/" >"$TMP/wrk.$conns.txt" 2>&1
  sleep 3 # let the replays drain
  t1=$(awk '{print $14 + $15}' "/proc/$apid/stat")
  local hwm
  hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$apid/status")
  kill -TERM "$apid"; wait "$apid" 2>/dev/null || true
  kill -TERM "$rpid"; wait "$rpid" 2>/dev/null || true
  local served
  served=$(awk '/requests in/ {print $1}' "$TMP/wrk.$conns.txt")
  served=${served:-0}
  # wrk's request is fixed: received requests = bytes received / its size.
  local reqlen=$((${#ADDR_S} + ${#PORT} + 27)) # "GET / HTTP/1.1\r\nHost: A:P\r\n\r\n": 16 + 6 + A + 1 + P + 2 + 2
  local bytes
  bytes=$("$PY" -c 'import json,sys; print(sum(json.loads(l)["bytes"] for l in open(sys.argv[1]) if l.strip()))' "$rec" 2>/dev/null || echo 0)
  local hz
  hz=$(getconf CLK_TCK)
  echo "$served $((bytes / reqlen)) $(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.2f", d / hz}') $hwm" \
    >"$TMP/result.$conns"
}

printf '%-12s %12s %12s %9s %14s %12s\n' connections served received share "cpu_s/10k_req" "peak_rss_MiB"
ROWS=""
ALL_OK=1
for level in $LEVELS; do
  # In this shell, not a subshell: the processes it starts must reach the cleanup trap.
  served=""
  run_level "$level" || true
  read -r served received cpu hwm <"$TMP/result.$level" 2>/dev/null || true
  if [ -z "$served" ]; then
    echo "level $level failed: $(tail -3 "$TMP/agent.$level.log" 2>/dev/null; tail -3 "$TMP/wrk.$level.txt" 2>/dev/null)" >&2
    ALL_OK=0
    continue
  fi
  share=$(awk -v r="$received" -v s="$served" 'BEGIN { if (s == 0) print "n/a"; else printf "%.4f", (r > s ? s : r) / s }')
  per10k=$(awk -v c="$cpu" -v r="$received" 'BEGIN { if (r == 0) print "n/a"; else printf "%.2f", c * 10000 / r }')
  mib=$(awk -v k="$hwm" 'BEGIN { printf "%.0f", k / 1024 }')
  printf '%-12s %12s %12s %9s %14s %12s\n' "$level" "$served" "$received" "$share" "$per10k" "$mib"
  ROWS+="| $level | $served | $received | $share | $per10k | $mib |"$'\n'
  awk -v x="$share" 'BEGIN { exit !(x != "n/a" && x >= 0.999) }' || ALL_OK=0
done
verdict=$([ "$ALL_OK" = 1 ] && echo "met at every level" || echo "NOT met at every level")
echo "target (shadow >= 99.9 % of primary): $verdict"

if [ -n "$DOC" ]; then
  section="<!-- replay_fidelity:begin -->
## Replay fidelity (\`bench/replay_fidelity.sh\`)

$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs. nginx (1 worker, 512-byte page) in a server
namespace, \`shadowtap run --percent 100 --shadow …\` on its NIC, a recorder as the shadow in a third
namespace; wrk (2 threads, 1 for one connection; ${DURATION} s) at each concurrency. *received* = bytes the shadow got ÷
wrk's fixed request size; *share* = received ÷ served (capped at 1: wrk counts only answered
requests); CPU = the agent's user+system time over the level, per 10,000 replayed requests;
peak RSS = the agent's VmHWM.

| connections | served (primary) | received (shadow) | share | agent CPU s / 10k req | agent peak RSS MiB |
|---|---:|---:|---:|---:|---:|
${ROWS}
Target: share ≥ 0.999 at every level — **${verdict}**. Peer tools: GoReplay and tcpcopy are not
packaged in Debian 12 (no network access beyond its archive here), so no side-by-side numbers.
<!-- replay_fidelity:end -->"
  if grep -q '<!-- replay_fidelity:begin -->' "$DOC" 2>/dev/null; then
    "$PY" - "$DOC" "$section" <<'PY'
import re, sys
doc, new = sys.argv[1], sys.argv[2]
text = open(doc).read()
text = re.sub(r"<!-- replay_fidelity:begin -->.*?<!-- replay_fidelity:end -->", lambda m: new, text, flags=re.S)
open(doc, "w").write(text)
PY
  else
    printf '\n%s\n' "$section" >>"$DOC"
  fi
  echo "results written to $DOC"
fi
