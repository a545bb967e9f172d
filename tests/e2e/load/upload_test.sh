#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Uploads larger than the capture ring, with the agent too slow for them (issue 12): streams are
# replayed whole or given up whole, never broken by capture loss.
#
# 4 streams of 187.5 MB each, at up to 500 Mbit/s each (750 MB, the ring holds 64 MiB;
# tests/tools/upload_client.py) to a byte sink (tests/tools/st_load.c serve) whose NIC the agent
# taps; every connection is replayed to a second sink. The agent is held to 5 % of one CPU (its own
# cgroup: 1 ms every 20 ms; on these VMs the quota's overrun debt stops it 0.5-1 s at a time,
# longer than the ring takes to fill), far below what the uploads cost it. Before the fix every
# stream got a hole when the ring overflowed (broken, capture loss); now the agent gives up the
# heaviest connections in flight while it runs (the kernel stops mirroring them), and while it is
# stopped the kernel's capture ring guard gives connections up whole before the ring overflows
# (shared.h: st_ring_guard). Checked, bounded and not timed:
#   - the uploads themselves are untouched (every stream ends, and the server read every byte
#     sent: the client waits for the server's close after its own EOF);
#   - no capture loss (kernel_drops 0), no flow broken;
#   - the agent really was behind: at least one connection shed in flight (flows.shed_inflight),
#     and the kernel counted their packets as not mirrored (counter shed_inflight);
#   - every connection ended one way: replayed whole (the sink saw its FIN: closed_eof) or shed
#     (its replay reset: closed_rst; or never opened when it was given up before its first byte:
#     skipped_empty), replay completed + aborted = opened, the ledger adds up;
#   - then, with the agent stopped: `status` falls back on its last published counters and says
#     how old they are; one more upload is given up whole by the kernel's ring guard alone
#     (capture.ring_guard_shed); frames that are no connection's overflow the ring: the loss is
#     counted (kernel_drops) and logged ('capture loss: ...').
# Usage: upload_test.sh PATH_TO_SHADOWTAP [PATH_TO_ST_LOAD]
set -euo pipefail
source "$(dirname "$0")/../../lib/harness.sh"
h_init --need cc
h_agent "${1:-}"
h_st_load "${2:-}"
H_NET=10.94 # shellcheck disable=SC2034 # read by h_topology
h_topology up --shadow
UPLOAD_PORT=5201
SINK_PORT=19500

h_bg ip netns exec "$NS_SHD" "$ST_LOAD" serve --listen "$SHD4:$SINK_PORT" --stats "$H_TMP/sink.json" \
  >"$H_TMP/sink.log" 2>&1
h_bg ip netns exec "$NS_SRV" "$ST_LOAD" serve --listen "$SRV4:$UPLOAD_PORT" --stats "$H_TMP/server.json" \
  >"$H_TMP/server.log" 2>&1
h_wait_file "$H_TMP/sink.json" "byte sink" "$H_TMP/sink.log"
h_wait_file "$H_TMP/server.json" "upload server" "$H_TMP/server.log"

agent_start --iface "$SRV_IF" --port "$UPLOAD_PORT" --percent 100 --shadow "$SHD4:$SINK_PORT"
h_cpu_limit "$AGENT_PID" 5

STREAMS=4
PER_STREAM=187500000
in_cli "$PYTHON" "$H_TOOLS/upload_client.py" --host "$SRV4" --port "$UPLOAD_PORT" --streams $STREAMS \
  --bytes $PER_STREAM --mbit 500 >"$H_TMP/upload.json" 2>"$H_TMP/upload.err" ||
  fail "the upload itself failed with the agent tapping: $(head -c 2000 "$H_TMP/upload.json" "$H_TMP/upload.err")"
sleep 0.5 # the server rewrites its stats every 200 ms
SENT=$(jget "$H_TMP/upload.json" 'j["sent"]')
RECEIVED=$(jget "$H_TMP/server.json" 'j["bytes"]')
log "upload: $(cat "$H_TMP/upload.json"); server: $(cat "$H_TMP/server.json")"
assert_eq "bytes sent (every stream whole)" $((STREAMS * PER_STREAM)) "$SENT"
assert_eq "the server received every byte sent" "$SENT" "$RECEIVED"
assert_eq "server: streams that ended with the client's FIN" $STREAMS "$(jget "$H_TMP/server.json" 'j["closed_eof"]')"

agent_wait_idle 60 || fail "the agent did not finish its replays within 60 s"
sleep 0.5 # the sink rewrites its stats every 200 ms
agent_status "$H_TMP/after.json"
log "flows: $(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]')"
log "replay: $(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]')"
log "sink: $(cat "$H_TMP/sink.json")"

assert_eq "capture loss (kernel_drops)" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["kernel_drops"]')"
assert_eq "flows broken" 0 "$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["broken"]')"
SHED=$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["shed_inflight"]')
assert_ge "connections shed in flight (the agent was behind)" 1 "$SHED"
assert_gt "packets the kernel did not mirror after a shed" 0 "$(counter "$H_TMP/after.json" shed_inflight)"
CONNS=$(jget "$H_TMP/after.json" 'j["pipeline"]["flows"]["started"]')
assert_eq "connections followed (the $STREAMS streams)" $STREAMS "$CONNS"
COMPLETED=$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')
ABORTED=$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["aborted"]')
assert_eq "each connection replayed whole or shed (completed + shed_inflight)" "$CONNS" $((COMPLETED + SHED))
# A connection given up before any of its bytes reached the agent never opened a replay: it is
# skipped_empty (nothing was sent to the shadow, so there is nothing to reset).
SKIPPED=$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["skipped_empty"]')
assert_eq "each shed connection's replay reset (aborted) or never opened (skipped_empty)" "$SHED" \
  $((ABORTED + SKIPPED))
assert_eq "replays opened = completed + aborted" \
  "$(jget "$H_TMP/after.json" 'j["pipeline"]["replay"]["targets"][0]["opened"]')" $((COMPLETED + ABORTED))
assert_eq "sink: connections that ended with a FIN" "$COMPLETED" "$(jget "$H_TMP/sink.json" 'j["closed_eof"]')"
assert_eq "sink: connections reset" "$ABORTED" "$(jget "$H_TMP/sink.json" 'j["closed_rst"]')"
check_identities "$H_TMP/after.json" --flows

# Then the agent is stopped (SIGSTOP) for the rest, so only the kernel acts:
#   - `status` of an agent that does not answer falls back on the counters it last published, and
#     says how old they are (not "a second": it stopped publishing when it stopped);
#   - one more upload, 150 MB at 500 Mbit/s: the ring fills with nobody reading, and the kernel's
#     ring guard gives it up whole (capture.ring_guard_shed and flows.shed_inflight 1 more each);
#   - capture loss that does happen is counted and logged (runtime/worker.cpp: noteKernelDrops):
#     the guard only refuses connections, so frames that are nobody's connection (not IP) still
#     fill the ring: 100,000 such frames of 1,500 bytes (about 150 MB) are sent into the mirror pair.
GUARD_BEFORE=$(jget "$H_TMP/after.json" 'j["pipeline"]["capture"]["ring_guard_shed"]')
LOG_LINES=$(wc -l <"$AGENT_LOG")
kill -STOP "$AGENT_PID"
resume_and_fail() { kill -CONT "$AGENT_PID"; fail "$1"; }
sleep 2
st status --iface "$AGENT_IFACE" --json >"$H_TMP/stopped.json" 2>"$H_TMP/stopped.err" ||
  resume_and_fail "status of the stopped agent failed: $(cat "$H_TMP/stopped.err")"
AGE=$(grep -o 'published [0-9.]* s ago' "$H_TMP/stopped.err" | grep -o '[0-9.]*' || true)
[ -n "$AGE" ] || resume_and_fail "status of the stopped agent did not say how old its counters are: $(cat "$H_TMP/stopped.err")"
[ "${AGE%.*}" -ge 2 ] || resume_and_fail "status of the agent stopped 2 s before said its counters were ${AGE} s old"
log "ok: status of the stopped agent fell back on counters it published ${AGE} s ago (stopped 2 s before)"
in_cli "$PYTHON" "$H_TOOLS/upload_client.py" --host "$SRV4" --port "$UPLOAD_PORT" --streams 1 \
  --bytes 150000000 --mbit 500 >"$H_TMP/upload2.json" 2>"$H_TMP/upload2.err" ||
  resume_and_fail "the upload failed with the agent stopped: $(head -c 2000 "$H_TMP/upload2.json" "$H_TMP/upload2.err")"
ip netns exec "$NS_SRV" "$PYTHON" - "$AGENT_MIRROR_TX" 100000 <<'PY' || resume_and_fail "could not send frames into the mirror pair"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(1486)  # local experimental ethertype
for _ in range(int(sys.argv[2])):
    try:
        s.send(frame)
    except OSError:  # ENOBUFS: the veth's backlog is full for a moment
        pass
PY
kill -CONT "$AGENT_PID"
for ((i = 0; i < 100; i++)); do
  grep -q 'capture loss: the kernel dropped [0-9]* frames\? for worker 0' "$AGENT_LOG" && break
  sleep 0.1
done
grep -q 'capture loss: the kernel dropped' "$AGENT_LOG" ||
  fail "no 'capture loss' line in the agent log 10 s after its ring overflowed"
log "logged: $(grep -o 'capture loss: .*' "$AGENT_LOG" | head -n 1)"
agent_wait_idle 60 || fail "the agent did not finish within 60 s of going on"
agent_status "$H_TMP/overflow.json"
assert_gt "capture loss counted (kernel_drops)" 0 "$(jget "$H_TMP/overflow.json" 'j["pipeline"]["capture"]["kernel_drops"]')"
assert_eq "connections the ring guard gave up while the agent was stopped (the second upload)" 1 \
  $(($(jget "$H_TMP/overflow.json" 'j["pipeline"]["capture"]["ring_guard_shed"]') - GUARD_BEFORE))
assert_eq "... ended here as shed in flight (its SYN was read after the stop)" $((SHED + 1)) \
  "$(jget "$H_TMP/overflow.json" 'j["pipeline"]["flows"]["shed_inflight"]')"
# ... and logged as the kernel's decision, not taken by the in-flight shedder for its own.
tail -n +$((LOG_LINES + 1)) "$AGENT_LOG" | grep -q "the kernel gave up 1 connection in flight" ||
  fail "no line for the connection the kernel gave up: $(tail -n +$((LOG_LINES + 1)) "$AGENT_LOG" | grep overload)"
agent_stop_checked
