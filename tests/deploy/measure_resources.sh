#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Measures what the agent costs while it mirrors and replays a steady HTTP load, to size the
# DaemonSet's requests/limits and the unit's MemoryMax. Topology (all in namespaces it makes and
# removes, unique names):
#
#   [client ns] --veth-- [server ns: nginx :8080, agent taps the veth] --veth-- [shadow ns: nginx :8080]
#
# The client sends RATE requests/s (keep-alive, REQS requests per connection, so RATE/REQS new
# connections/s) for SECONDS; the agent mirrors PERCENT % of the connections and replays them to
# the shadow. Reported: VmRSS (sampled every 0.5 s, max and last), VmHWM, CPU time (utime+stime
# from /proc/PID/stat) as an average share of one core, and, if a cgroup v1/v2 memory controller is
# writable, the memory cgroup peak (which also counts the BPF maps, charged to the loader's cgroup,
# and socket buffers: what a container memory limit sees).
#
# usage: sudo bash tests/deploy/measure_resources.sh [path/to/shadowtap]
#        env: RATE=1000 SECONDS_RUN=60 REQS=10 PERCENT=100 MODE=tc
# Not a ctest (root, ~1-2 minutes). Results are recorded in deploy/README-section.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AGENT=${1:-$ROOT/build/agent/shadowtap}
AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
RATE=${RATE:-1000} SECONDS_RUN=${SECONDS_RUN:-60} REQS=${REQS:-10} PERCENT=${PERCENT:-100} MODE=${MODE:-tc}
[ "$(id -u)" -eq 0 ] || { echo "measure: run as root" >&2; exit 1; }
[ -x "$AGENT" ] || { echo "measure: no agent at $AGENT" >&2; exit 1; }
command -v nginx >/dev/null || { echo "measure: needs nginx (nginx-light)" >&2; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)

ID=$(printf '%x%04x' $$ $RANDOM)
NS_C=mr-c-$ID NS_S=mr-s-$ID NS_H=mr-h-$ID
IF_C=mrc$ID IF_S=mrs$ID IF_SH=mrh$ID IF_H=mrd$ID
TMP=$(mktemp -d /tmp/st-measure.XXXXXX)
PIDS=()
AGENT_PID=""
CG=""

cleanup() {
  set +e
  local p
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null && sleep 1
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -d "/sys/fs/bpf/shadowtap/$IF_S" ]; then
    timeout 10 nsenter --net="/run/netns/$NS_S" "$AGENT" detach --iface "$IF_S" >/dev/null 2>&1
    rm -rf "/sys/fs/bpf/shadowtap/$IF_S"
  fi
  rm -f "/run/shadowtap/$IF_S.json"
  for p in "$NS_C" "$NS_S" "$NS_H"; do ip netns del "$p" 2>/dev/null; done
  [ -n "$CG" ] && [ -d "$CG" ] && rmdir "$CG" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ns in "$NS_C" "$NS_S" "$NS_H"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$IF_C" netns "$NS_C" type veth peer name "$IF_S" netns "$NS_S"
ip link add "$IF_SH" netns "$NS_S" type veth peer name "$IF_H" netns "$NS_H"
ip -n "$NS_C" addr add 10.87.0.2/24 dev "$IF_C"
ip -n "$NS_S" addr add 10.87.0.1/24 dev "$IF_S"
ip -n "$NS_S" addr add 10.87.1.1/24 dev "$IF_SH"
ip -n "$NS_H" addr add 10.87.1.2/24 dev "$IF_H"
ip -n "$NS_C" link set "$IF_C" up
ip -n "$NS_S" link set "$IF_S" up
ip -n "$NS_S" link set "$IF_SH" up
ip -n "$NS_H" link set "$IF_H" up
sleep 1

mkdir -p "$TMP/www"
printf 'hello from shadowtap measure\n' >"$TMP/www/index.html"
for ns in "$NS_S" "$NS_H"; do
  mkdir -p "$TMP/$ns"
  cat >"$TMP/$ns/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/$ns/nginx.pid;
error_log $TMP/$ns/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/$ns; proxy_temp_path $TMP/$ns; fastcgi_temp_path $TMP/$ns;
  uwsgi_temp_path $TMP/$ns; scgi_temp_path $TMP/$ns;
  keepalive_requests 100000;
  server { listen 8080 reuseport; root $TMP/www; }
}
EOF
  ip netns exec "$ns" nginx -c "$TMP/$ns/nginx.conf" -g 'daemon off;' &
  PIDS+=($!)
done
sleep 1

# Memory cgroup for the agent (v2 unified or v1 memory controller), if we may make one.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  base=/sys/fs/cgroup$(awk -F: '$1=="0"{print $3}' /proc/self/cgroup)
  CG="$base/st-measure-$ID"; mkdir "$CG" 2>/dev/null || CG=""
  CG_PEAK=memory.peak
elif [ -d /sys/fs/cgroup/memory ]; then
  base=/sys/fs/cgroup/memory$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
  CG="$base/st-measure-$ID"; mkdir "$CG" 2>/dev/null || CG=""
  CG_PEAK=memory.max_usage_in_bytes
fi

# The agent joins the cgroup before it execs, so every charge (BPF maps included) lands there.
CG_PROCS=/dev/null
[ -n "$CG" ] && CG_PROCS="$CG/cgroup.procs"
nsenter --net="/run/netns/$NS_S" sh -c 'echo $$ >"$1" 2>/dev/null; shift; exec "$@"' sh "$CG_PROCS" \
  "$AGENT" run --iface "$IF_S" --port 8080 --percent "$PERCENT" --mode "$MODE" \
  --shadow 10.87.1.2:8080 >"$TMP/agent.log" 2>&1 &
AGENT_PID=$!
for _ in $(seq 50); do [ -e "/run/shadowtap/$IF_S.json" ] && break; sleep 0.1; done
kill -0 "$AGENT_PID" || { cat "$TMP/agent.log"; exit 1; }
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)
RSS_IDLE=$(status_kb "$AGENT_PID" VmRSS)
CPU0=$(cpu_ticks "$AGENT_PID")

cat >"$TMP/load.py" <<'EOF'
import asyncio, sys, time
host, port, rate, secs, reqs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
ok = failed = 0
REQ = b"GET /index.html HTTP/1.1\r\nHost: svc\r\n\r\n"
async def conn():
    global ok, failed
    try:
        r, w = await asyncio.open_connection(host, port)
        for _ in range(reqs):
            w.write(REQ)
            head = await r.readuntil(b"\r\n\r\n")
            n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            await r.readexactly(n)
            ok += 1
            await asyncio.sleep(reqs / rate / 4)
        w.close()
        await w.wait_closed()
    except Exception:
        failed += 1
async def main():
    interval = reqs / rate
    start = time.monotonic(); tasks = set(); i = 0
    while time.monotonic() - start < secs:
        t = asyncio.create_task(conn()); tasks.add(t); t.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0, start + i * interval - time.monotonic()))
    await asyncio.gather(*tasks)
    el = time.monotonic() - start
    print(f"requests ok={ok} failed_conns={failed} conns={i} elapsed={el:.1f}s rate={ok/el:.0f} req/s")
asyncio.run(main())
EOF
ip netns exec "$NS_C" "$PY" "$TMP/load.py" 10.87.0.1 8080 "$RATE" "$SECONDS_RUN" "$REQS" >"$TMP/load.out" 2>&1 &
LOAD_PID=$!
RSS_MAX=0
while kill -0 "$LOAD_PID" 2>/dev/null; do
  r=$(status_kb "$AGENT_PID" VmRSS)
  [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
  sleep 0.5
done
wait "$LOAD_PID" || true
sleep 2.5 # let the replays drain and the stats file refresh
CPU1=$(cpu_ticks "$AGENT_PID")
cp "/run/shadowtap/$IF_S.json" "$TMP/stats.json"
RSS_END=$(status_kb "$AGENT_PID" VmRSS)
HWM=$(status_kb "$AGENT_PID" VmHWM)
CG_PEAK_MB="n/a"
[ -n "$CG" ] && CG_PEAK_MB=$(( $(cat "$CG/$CG_PEAK") / 1048576 ))

echo "kernel $(uname -r), $(nproc) CPUs; agent $AGENT; mode $MODE, percent $PERCENT"
echo "load: $(cat "$TMP/load.out")"
"$PY" - "$TMP/stats.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
t = j["replay"]["targets"]
print("agent: capture frames=%s drops=%s; flows started=%s completed=%s broken=%s; replays opened=%s completed=%s" % (
    j["capture"].get("frames"), j["capture"].get("kernel_drops", j["capture"].get("drops")),
    j["flows"].get("started"), j["flows"].get("completed"), j["flows"].get("broken"),
    sum(x.get("opened", 0) for x in t), sum(x.get("completed", 0) for x in t)))
EOF
busy=$(( CPU1 - CPU0 ))
echo "rss: idle ${RSS_IDLE} kB, max under load ${RSS_MAX} kB, end ${RSS_END} kB, VmHWM ${HWM} kB"
awk -v t="$busy" -v hz="$TCK" -v s="$SECONDS_RUN" 'BEGIN{printf "cpu: %.2f s over %d s = %.1f%% of one core (%.0f millicores)\n", t/hz, s+2.5, 100*t/hz/(s+2.5), 1000*t/hz/(s+2.5)}'
echo "memory cgroup peak (agent + its BPF maps + socket buffers): ${CG_PEAK_MB} MiB"
kill -TERM "$AGENT_PID"
for _ in $(seq 100); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
wait "$AGENT_PID" && rc=0 || rc=$?
AGENT_PID=""
echo "agent exit after SIGTERM: $rc"
