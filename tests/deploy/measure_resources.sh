#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Measures what the agent costs while it mirrors and replays a steady HTTP load, to size the
# DaemonSet's requests/limits and the unit's MemoryMax. Topology (the harness's, tests/lib/: all in
# namespaces it makes and removes, unique names):
#
#   [client ns] --veth-- [server ns: nginx :8080, agent taps the veth] --veth-- [shadow ns: nginx :8080]
#
# The client (tests/tools/http_load.py) sends RATE requests/s (keep-alive, REQS requests per
# connection, so RATE/REQS new connections/s) for SECONDS; the agent mirrors PERCENT % of the
# connections and replays them to the shadow. Reported: VmRSS (sampled every 0.5 s, max and last),
# VmHWM, CPU time (utime+stime from /proc/PID/stat) as an average share of one core, and, if a
# cgroup v1/v2 memory controller is writable, the memory cgroup peak (which also counts the BPF
# maps, charged to the loader's cgroup, and socket buffers: what a container memory limit sees).
#
# usage: sudo bash tests/deploy/measure_resources.sh [path/to/shadowtap]
#        env: RATE=1000 SECONDS_RUN=60 REQS=10 PERCENT=100 MODE=tc
# Not a ctest (root, ~1-2 minutes). Results are recorded in the README (Deploying > Resources).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RATE=${RATE:-1000} SECONDS_RUN=${SECONDS_RUN:-60} REQS=${REQS:-10} PERCENT=${PERCENT:-100} MODE=${MODE:-tc}
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"
h_init --tool --need nginx --need curl
h_agent "${1:-$ROOT/build/agent/shadowtap}"

H_NET=10.87
h_topology mr --shadow
serve_nginx primary "$NS_SRV" "$SRV4:8080" 29
serve_nginx shadow "$NS_SHD" "$SHD4:8080" 29

# Memory cgroup for the agent (v2 unified or v1 memory controller), if we may make one.
CG=""
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  base=/sys/fs/cgroup$(awk -F: '$1=="0"{print $3}' /proc/self/cgroup)
  CG="$base/st-measure-$H_ID"
  CG_PEAK=memory.peak
elif [ -d /sys/fs/cgroup/memory ]; then
  base=/sys/fs/cgroup/memory$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
  CG="$base/st-measure-$H_ID"
  CG_PEAK=memory.max_usage_in_bytes
fi
if [ -n "$CG" ] && mkdir "$CG" 2>/dev/null; then
  h_on_exit "rmdir '$CG' 2>/dev/null"
else
  CG=""
fi

# The agent joins the cgroup before it execs, so every charge (BPF maps included) lands there.
CG_PROCS=/dev/null
[ -n "$CG" ] && CG_PROCS="$CG/cgroup.procs"
# shellcheck disable=SC2016 # $$ and $1 are the inner shell's
AGENT_WRAP=(sh -c 'echo $$ >"$1" 2>/dev/null; shift; exec "$@"' sh "$CG_PROCS")
agent_start --iface "$SRV_IF" --port 8080 --percent "$PERCENT" --mode "$MODE" --shadow "$SHD4:8080"
sleep 1

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)
RSS_IDLE=$(status_kb "$AGENT_PID" VmRSS)
CPU0=$(cpu_ticks "$AGENT_PID")

h_bg ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_load.py" "$SRV4" 8080 "$RATE" "$SECONDS_RUN" "$REQS" >"$H_TMP/load.out" 2>&1
LOAD_PID=$BG_PID
RSS_MAX=0
while kill -0 "$LOAD_PID" 2>/dev/null; do
  r=$(status_kb "$AGENT_PID" VmRSS)
  [ "$r" -gt "$RSS_MAX" ] && RSS_MAX=$r
  sleep 0.5
done
wait "$LOAD_PID" || true
sleep 2.5 # let the replays drain and the published counters refresh
CPU1=$(cpu_ticks "$AGENT_PID")
agent_status "$H_TMP/status.json"
RSS_END=$(status_kb "$AGENT_PID" VmRSS)
HWM=$(status_kb "$AGENT_PID" VmHWM)
CG_PEAK_MB="n/a"
[ -n "$CG" ] && CG_PEAK_MB=$(($(cat "$CG/$CG_PEAK") / 1048576))

echo "kernel $(uname -r), $(nproc) CPUs; agent $AGENT; mode $MODE, percent $PERCENT"
echo "load: $(cat "$H_TMP/load.out")"
echo "agent: $(jget "$H_TMP/status.json" '"capture frames=%s drops=%s; flows started=%s completed=%s broken=%s; replays opened=%s completed=%s" % (
  j["pipeline"]["capture"]["frames"], j["pipeline"]["capture"]["kernel_drops"], j["pipeline"]["flows"]["started"],
  j["pipeline"]["flows"]["completed"], j["pipeline"]["flows"]["broken"],
  sum(t["opened"] for t in j["pipeline"]["replay"]["targets"]), sum(t["completed"] for t in j["pipeline"]["replay"]["targets"]))')"
busy=$((CPU1 - CPU0))
echo "rss: idle ${RSS_IDLE} kB, max under load ${RSS_MAX} kB, end ${RSS_END} kB, VmHWM ${HWM} kB"
awk -v t="$busy" -v hz="$TCK" -v s="$SECONDS_RUN" 'BEGIN{printf "cpu: %.2f s over %d s = %.1f%% of one core (%.0f millicores)\n", t/hz, s+2.5, 100*t/hz/(s+2.5), 1000*t/hz/(s+2.5)}'
echo "memory cgroup peak (agent + its BPF maps + socket buffers): ${CG_PEAK_MB} MiB"
agent_stop TERM
echo "agent exit after SIGTERM: $AGENT_RC"
