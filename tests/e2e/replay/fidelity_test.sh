#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Replay fidelity at 100 %: every byte a client sends reaches the shadow, exactly once, in order.
#   A. one --shadow target: 200 keep-alive connections x 10 GETs (20 at a time), 50 connections of
#      POSTs with bodies, one 1 MiB and one 10 MiB POST, pipelined GETs and pipelined POSTs
#      (several requests written back to back before any response is read). The multiset of
#      (length, SHA-256) of the streams the shadow recorded equals the client's exactly; every
#      replay ended with a FIN (no RST); status counts every flow started/completed and every
#      replay opened/completed, no kernel drops, bytes_out = the client's bytes.
#   B. two --shadow targets and --copies 3: each target receives each connection 3 times, from 3
#      distinct source ports, each copy byte-identical; status: opened = completed = 3 x flows
#      per target, bytes_out = 3 x the client's bytes.
#   C. the agent is stopped (SIGSTOP) for 300 ms while 300 light connections run: the capture ring
#      (64 MiB) must ride that out: no kernel drops, every connection replayed byte-identical. A
#      busy 2-core machine deschedules the agent this long; the ring exists for exactly that.
# TCP mode needs none of the responses' bytes: in A they are captured up to their TCP header only
# (capture.response_headers_only > 0, nothing counted truncated, no server stream reassembled or
# lost), which changes nothing of what reaches the shadow.
# Why a recorder and hashes: the replayed stream must be byte-identical, not "similar"; hashing
# the exact bytes on both ends catches loss, duplication, reordering and truncation alike.
# Usage: fidelity_test.sh PATH_TO_SHADOWTAP   (REPLAY_PHASES="C" runs only the listed phases, for
# debugging; the default and the ctest entry run all of them)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW_A=19001
SHADOW_B=19002

serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW_A" --port "$SHADOW_B"

# workload PHASE SCALE: every client run appends its per-connection records to $H_TMP/PHASE.conns.
workload() {
  local phase="$1" conns="$H_TMP/$1.conns"
  : >"$conns"
  local common=(--host "$SRV4" --port "$PORT" --out-conns "$conns")
  http_client "$H_TMP/$phase.ka.json" "${common[@]}" --id "${phase}ka" --conns "$2" --reqs 10 --concurrency 20
  http_client "$H_TMP/$phase.post.json" "${common[@]}" --id "${phase}po" --conns 50 --reqs 4 --body 3000 --concurrency 10
  http_client "$H_TMP/$phase.1m.json" "${common[@]}" --id "${phase}1m" --conns 1 --reqs 1 --body $((1 << 20))
  http_client "$H_TMP/$phase.10m.json" "${common[@]}" --id "${phase}10m" --conns 1 --reqs 1 --body $((10 << 20))
  http_client "$H_TMP/$phase.plg.json" "${common[@]}" --id "${phase}plg" --conns 30 --reqs 12 --pipeline 6 --concurrency 10
  http_client "$H_TMP/$phase.plp.json" "${common[@]}" --id "${phase}plp" --conns 10 --reqs 8 --pipeline 8 --body 20000 --concurrency 5
  local f
  for f in ka post 1m 10m plg plp; do log "client $phase.$f: $(cat "$H_TMP/$phase.$f.json")"; done
  NCONN=$(wc -l <"$conns")
  NBYTES=$(jlines "$conns" 'sum(r["bytes"] for r in s)')
  log "phase $phase: $NCONN client connections, $NBYTES request bytes"
}

# check_status STATUS_JSON FLOWS COPIES BYTES: flow and per-target replay counters.
check_status() {
  local s="$1" flows="$2" copies="$3" bytes="$4"
  assert_eq "capture malformed" 0 "$(jget "$s" 'j["pipeline"]["capture"]["malformed"]')"
  assert_eq "flows started" "$flows" "$(jget "$s" 'j["pipeline"]["flows"]["started"]')"
  assert_eq "flows completed" "$flows" "$(jget "$s" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "flows reset+broken+evicted+midstream_skipped" 0 \
    "$(jget "$s" 'sum(j["pipeline"]["flows"][k] for k in ("reset","broken","evicted","midstream_skipped"))')"
  assert_eq "flows client_bytes" "$bytes" "$(jget "$s" 'j["pipeline"]["flows"]["client_bytes"]')"
  local n i
  n=$(jget "$s" 'len(j["pipeline"]["replay"]["targets"])')
  for i in $(seq 0 $((n - 1))); do
    local t="j['pipeline']['replay']['targets'][$i]"
    local name
    name=$(jget "$s" "${t}['target']")
    assert_eq "$name opened" $((flows * copies)) "$(jget "$s" "${t}['opened']")"
    assert_eq "$name completed" $((flows * copies)) "$(jget "$s" "${t}['completed']")"
    assert_eq "$name aborted+shed+failed" 0 \
      "$(jget "$s" "sum(${t}[k] for k in ('aborted','shed_backlog','shed_backoff','connect_failed','write_failed'))")"
    assert_eq "$name bytes_out" $((bytes * copies)) "$(jget "$s" "${t}['bytes_out']")"
  done
}

PHASES="${REPLAY_PHASES:-A B C}"
phase() { [[ " $PHASES " == *" $1 "* ]]; }

# --- A. one target, one copy --------------------------------------------------------------------
if phase A; then
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_A"
workload a 200
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
agent_settle a 10 "phase A"
compare_streams "$H_TMP/a.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW_A"
check_status "$H_TMP/a.status.json" "$NCONN" 1 "$NBYTES"
assert_gt "A: responses captured up to their TCP header (TCP mode)" 0 \
  "$(jget "$H_TMP/a.status.json" 'j["pipeline"]["capture"]["response_headers_only"]')"
assert_eq "A: frames counted truncated, server bytes reassembled, server streams lost" "0 0 0" \
  "$(jget "$H_TMP/a.status.json" '"%d %d %d" % (j["pipeline"]["capture"]["truncated"], j["pipeline"]["flows"]["server_bytes"], j["pipeline"]["flows"]["server_streams_lost"])')"
agent_stop_checked
fi

# --- B. two targets, three copies each ----------------------------------------------------------
if phase B; then
: >"$H_TMP/shadow.jsonl"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_A" --shadow "$SHD4:$SHADOW_B" --copies 3
workload b 40
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' $((NCONN * 6)) 30 || true
agent_settle b 10 "phase B"
compare_streams "$H_TMP/b.compare.A.json" --client "$H_TMP/b.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW_A" --copies 3
compare_streams "$H_TMP/b.compare.B.json" --client "$H_TMP/b.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW_B" --copies 3
# Source ports of the 6 replays of one connection are all distinct (3 per target checked by compare.py).
check_status "$H_TMP/b.status.json" "$NCONN" 3 "$NBYTES"
agent_stop_checked
fi

# --- C. agent descheduled for 300 ms under light load -------------------------------------------
if phase C; then
: >"$H_TMP/shadow.jsonl"
: >"$H_TMP/c.conns"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW_A"
# 300 connections paced over ~2 s; the stall starts once replays are flowing, so it falls in the
# middle of the traffic (checked: the client is still running when the agent resumes).
timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_client.py" --host "$SRV4" --port "$PORT" \
  --out-conns "$H_TMP/c.conns" --id cst --conns 300 --reqs 1 --concurrency 1 --pace 0.006 >"$H_TMP/c.json" 2>&1 &
client_pid=$!
H_BG_PIDS+=("$client_pid")
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 20 10 || fail "no replay arrived within 10 s of the paced client's start"
kill -STOP "$AGENT_PID"
sleep 0.3
before=$(count_lines "$H_TMP/shadow.jsonl" '"event": "close"')
kill -0 "$client_pid" 2>/dev/null || { kill -CONT "$AGENT_PID"; fail "harness: the client finished before the 300 ms stall ended"; }
kill -CONT "$AGENT_PID"
log "agent stopped for 300 ms with $before of 300 connections replayed so far; client still running"
wait "$client_pid" || fail "client failed: $(cat "$H_TMP/c.json")"
log "client c: $(cat "$H_TMP/c.json")"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 300 15 || true
agent_settle c 5 "phase C, agent stopped for 300 ms"
compare_streams "$H_TMP/c.compare.json" --client "$H_TMP/c.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW_A"
agent_stop_checked
fi
