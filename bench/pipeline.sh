#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's pipeline alone (not a timed test): recorded frames in, replays out, no primary and no
# capture competing for the CPU. `shadowtap replay --speed max` runs the same parse -> flow table ->
# replay path as `run` (one worker's pipeline) on synthetic captures (tests/tools/flows_pcap.py):
#   bulk:  one connection carrying BYTES in 64,000-byte segments (GSO-sized, as a tap sees them),
#          each acknowledged by the server;
#   churn: CONNS one-request connections (100-byte request, 200-byte answer);
#   churn, pooled: the same connections as HTTP/1.1 (`Connection: close`), replayed with
#          --protocol http --http-pool to an HTTP sink (st_load serve --answer-http 1) over the
#          pool's keep-alive connections: the requests of the connections, not the connections.
# The shadow is a byte sink (tests/tools/st_load.c serve) on loopback in a namespace of its own.
# Baseline, same run: iperf3 over the same loopback (one stream: what the kernel's TCP path alone
# carries between two processes). Reports Gbit/s and connections/s of the pipeline, the agent's
# CPU seconds (user + system: the system time includes the loopback's delivery to the sink) and
# per core (bytes or connections per CPU-second). Checks every byte and connection arrived.
# Targets (issue #12): >= 10 Gbit/s and >= 100,000 new connections/s per core.
# Usage: sudo bench/pipeline.sh [--size "BYTES CONNS" (default 4 GiB, 200,000)] [--doc FILE|--no-doc]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
bench_args 0 --size SIZE "$((4 << 30)) 200000" "$@"
read -r BYTES CONNS <<<"$SIZE"
bench_sink_init pl 127.0.0.1:19600 iperf3

# Baseline: one iperf3 stream over the namespace's loopback, 5 s.
h_bg ip netns exec "$NS" iperf3 -s -B 127.0.0.1 -p 19601 >"$H_TMP/iperf3-server.log" 2>&1
h_wait_until "iperf3 server listening" 10 ip netns exec "$NS" sh -c "ss -ltnH 'sport = :19601' | grep -q ." ||
  fail "iperf3 -s did not start: $(cat "$H_TMP/iperf3-server.log")"
ip netns exec "$NS" iperf3 -c 127.0.0.1 -p 19601 -t 5 -J >"$H_TMP/iperf3.json"
LOOPBACK=$(jget "$H_TMP/iperf3.json" '"%.2f" % (j["end"]["sum_received"]["bits_per_second"] / 1e9)')
echo "baseline: one iperf3 stream over loopback: $LOOPBACK Gbit/s"

"$PYTHON" "$H_TOOLS/flows_pcap.py" bulk --out "$H_TMP/bulk.pcap" --bytes "$BYTES" >"$H_TMP/bulk.gen.json"
"$PYTHON" "$H_TOOLS/flows_pcap.py" churn --out "$H_TMP/churn.pcap" --conns "$CONNS" >"$H_TMP/churn.gen.json"
cat "$H_TMP/bulk.pcap" "$H_TMP/churn.pcap" >/dev/null # both in the page cache before any timing

# replay NAME: the pipeline over NAME.pcap; wall, user and system seconds in $H_TMP/NAME.time, the
# summary in $H_TMP/NAME.out. Fails unless every connection completed and the sink got every byte.
replay() {
  local name="$1" before conns bytes
  before=$(sink bytes)
  local TIMEFORMAT='%R %U %S'
  { time ip netns exec "$NS" "$BIN" replay --from "$H_TMP/$name.pcap" --port 8080 --shadow "$SINK" --speed max \
    --log-level warn >"$H_TMP/$name.out" 2>&1; } 2>"$H_TMP/$name.time" || fail "replay of $name failed: $(cat "$H_TMP/$name.out")"
  conns=$(jget "$H_TMP/$name.gen.json" 'j["connections"]')
  bytes=$(jget "$H_TMP/$name.gen.json" 'j["client_bytes"]')
  # The sink rewrites its stats every 200 ms: wait (bounded) until they show this run's bytes.
  h_wait_until "the sink's stats" 5 sink_has "$before" "$bytes" || true
  grep -q "connections: $conns started, $conns completed" "$H_TMP/$name.out" ||
    fail "$name: not every connection completed: $(cat "$H_TMP/$name.out")"
  [ $(($(sink bytes) - before)) -eq "$bytes" ] || fail "$name: the sink got $(($(sink bytes) - before)) of $bytes bytes"
}

replay bulk
read -r bw bu bs <"$H_TMP/bulk.time"
GBPS=$(awk -v b="$BYTES" -v t="$bw" 'BEGIN { printf "%.2f", b * 8 / t / 1e9 }')
GBPS_CORE=$(awk -v b="$BYTES" -v u="$bu" -v s="$bs" 'BEGIN { printf "%.2f", b * 8 / (u + s) / 1e9 }')
RATIO=$(awk -v g="$GBPS" -v l="$LOOPBACK" 'BEGIN { printf "%.3f", l ? g / l : 0 }')
echo "bulk: $BYTES bytes in ${bw} s: $GBPS Gbit/s ($RATIO x loopback), CPU ${bu} user + ${bs} system s: $GBPS_CORE Gbit/s per core"

replay churn

# The pooled row: every request answered by the HTTP sink, every connection followed to its end.
HTTP_SINK=127.0.0.1:19602
h_bg ip netns exec "$NS" "$ST_LOAD" serve --listen "$HTTP_SINK" --answer-http 1 --stats "$H_TMP/http-sink.json" >"$H_TMP/http-sink.log" 2>&1
h_wait_file "$H_TMP/http-sink.json" "HTTP sink" "$H_TMP/http-sink.log"
"$PYTHON" "$H_TOOLS/flows_pcap.py" churn --http --out "$H_TMP/pooled.pcap" --conns "$CONNS" >"$H_TMP/pooled.gen.json"
cat "$H_TMP/pooled.pcap" >/dev/null
{ TIMEFORMAT='%R %U %S'; time ip netns exec "$NS" "$BIN" replay --from "$H_TMP/pooled.pcap" --port 8080 --shadow "$HTTP_SINK" \
  --speed max --protocol http --http-pool --json --log-level warn >"$H_TMP/pooled.out" 2>"$H_TMP/pooled.err"; } 2>"$H_TMP/pooled.time" ||
  fail "pooled replay failed: $(cat "$H_TMP/pooled.err")"
POOL_ANSWERED=$(jget "$H_TMP/pooled.out" 'j["pipeline"]["http"]["shadow_responses"]')
POOL_COMPLETED=$(jget "$H_TMP/pooled.out" 'j["pipeline"]["flows"]["completed"]')
POOL_CONNS=$(jget "$H_TMP/pooled.out" 'sum(t["pool_opened"] for t in j["pipeline"]["replay"]["targets"])')
[ "$POOL_ANSWERED" -eq "$CONNS" ] && [ "$POOL_COMPLETED" -eq "$CONNS" ] ||
  fail "pooled: $POOL_COMPLETED of $CONNS connections followed to their end, $POOL_ANSWERED requests answered: $(jget "$H_TMP/pooled.out" '(j["pipeline"]["http"], j["pipeline"]["replay"])')"
read -r pw pu ps <"$H_TMP/pooled.time"
PCPS=$(awk -v n="$CONNS" -v t="$pw" 'BEGIN { printf "%d", n / t }')
PCPS_CORE=$(awk -v n="$CONNS" -v u="$pu" -v s="$ps" 'BEGIN { printf "%d", n / (u + s) }')
echo "churn, pooled: $CONNS connections' requests over $POOL_CONNS pool connections in ${pw} s: $PCPS connections/s, CPU ${pu} user + ${ps} system s: $PCPS_CORE per core"

read -r cw cu cs <"$H_TMP/churn.time"
CPS=$(awk -v n="$CONNS" -v t="$cw" 'BEGIN { printf "%d", n / t }')
CPS_CORE=$(awk -v n="$CONNS" -v u="$cu" -v s="$cs" 'BEGIN { printf "%d", n / (u + s) }')
echo "churn: $CONNS connections in ${cw} s: $CPS connections/s, CPU ${cu} user + ${cs} system s: $CPS_CORE per core"

# The floor for churn: a bare client (st_load churn, one process) doing what a replay does per
# connection (connect, write the request, FIN, wait for the sink's FIN, close) to the same sink,
# as fast as 64 open connections allow, for as long as the replay took.
ip netns exec "$NS" "$ST_LOAD" churn --dst "$SINK" --duration "$(awk -v t="$cw" 'BEGIN { printf "%d", t < 5 ? 5 : t }')" \
  --inflight 64 --half-close 1 --stats "$H_TMP/floor.json" >"$H_TMP/floor.log" 2>&1 || fail "st_load churn failed: $(cat "$H_TMP/floor.log")"
FLOOR_CONNS=$(jget "$H_TMP/floor.json" 'j["completed"]')
FLOOR_CORE=$(jget "$H_TMP/floor.json" '"%d" % (j["completed"] / max(1e-9, j["cpu_us"] / 1e6))')
echo "floor: a bare client, $FLOOR_CONNS connections to the same sink: $FLOOR_CORE per core"

if [ -n "$DOC" ]; then
  verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "not met") }'; }
  section="<!-- pipeline:begin -->
## The pipeline alone (\`bench/pipeline.sh\`)

$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs. \`shadowtap replay --speed max\` (one worker's
parse → flow table → replay, no capture, no primary) on synthetic captures
(\`tests/tools/flows_pcap.py\`) to a byte sink on loopback; every connection completed and every byte
arrived (checked). CPU = the replay process's user + system seconds; the system time includes
loopback's delivery into the sink's socket, so *per core* is a lower bound. Baseline in the same run:
one iperf3 stream over the same loopback, **${LOOPBACK} Gbit/s**.

| shape | size | wall s | CPU s (user + system) | rate | vs loopback iperf3 | per core | target (per core) |
|---|---|---:|---:|---:|---:|---:|---|
| bulk: 1 connection, 64,000-byte segments | $BYTES bytes | $bw | $bu + $bs | $GBPS Gbit/s | $RATIO | $GBPS_CORE Gbit/s | ≥ 10 Gbit/s: $(verdict "$GBPS_CORE" 10) |
| churn: 1 request per connection | $CONNS connections | $cw | $cu + $cs | $CPS conns/s | – | $CPS_CORE conns/s | ≥ 100,000/s: $(verdict "$CPS_CORE" 100000) |
| churn, pooled: the same as HTTP/1.1, \`--protocol http --http-pool\` | $CONNS connections ($POOL_CONNS to the sink) | $pw | $pu + $ps | $PCPS conns/s | – | $PCPS_CORE conns/s | ≥ 100,000/s: $(verdict "$PCPS_CORE" 100000) |

The floor, same run: a bare client (\`st_load churn --half-close 1\`, one process, epoll, nothing else)
doing per connection what a replay does (connect, write, FIN, the sink's FIN, close) to the same
sink completed ${FLOOR_CONNS} connections at **${FLOOR_CORE}** per core of its CPU: the churn row's
per-core rate is $(awk -v a="$CPS_CORE" -v f="$FLOOR_CORE" 'BEGIN { printf "%.2f", f ? a / f : 0 }')x that. Loopback delivery runs on the sender's CPU, so
both pay for the sink's side of the connection too. The pooled row frames every request and its
recorded answer (HTTP mode) and sends the requests over the pool's keep-alive connections to an HTTP
sink that answers each (\`st_load serve --answer-http 1\`, the answers to one read's requests in one
write, as nginx answers a pipelined batch): every request was answered and every connection followed
to its end (checked); the requests of one turn go in one send (docs/architecture.md, \"Pooled HTTP
replay\"). It opens no connection per connection, so it is not held
to that floor ($(awk -v a="$PCPS_CORE" -v f="$FLOOR_CORE" 'BEGIN { printf "%.2f", f ? a / f : 0 }')x it).

Offline replay runs one pipeline; \`--workers 2\` (live capture only) is measured by bench/churn.sh.
<!-- pipeline:end -->"
  bench_doc_section pipeline "$section"
fi
