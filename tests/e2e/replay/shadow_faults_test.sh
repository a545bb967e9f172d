#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A faulty shadow never costs the user anything. For each fault, the same client workload (30
# keep-alive connections x 10 POSTs of 32 KiB = 300 requests, 5 at a time) runs once without the
# tap and once with the tap replaying to the faulty shadow; the tap run must be as fast (total time
# <= 1.5 x no-tap + 0.2 s, median request latency <= 1.5 x no-tap + 0.2 s), and:
#   down       nothing listens (connection refused): connect_failed > 0, no replay completes, and
#              each flow is refused or shed by the back-off (connect_failed + shed_backoff = 30).
#   blackhole  SYNs are silently dropped (connect timeout): connect_failed > 0 eventually.
#   slow       accepts, then sleeps 2 s before each 128 KiB read: every replay still completes
#              (after >= 2 s) and is byte-identical, or is shed_backlog; none fails otherwise.
#   noreadcap  accepts and never reads (small receive buffer), --replay-buffer-mb 2: replays are shed
#              past the budget (shed_backlog > 0), backlog_bytes <= 2 MiB.
#   noread     the same never-reading shadow next to a healthy target (default budget): the healthy
#              target gets every connection byte-identical; and within 20 s after the flows ended
#              the stuck target's replays are given up (active 0, backlog 0, counted as
#              shed/failed/aborted): every replay must end in bounded time.
#   reset      accepts, reads 4 KiB, then closes with SO_LINGER {1, 0} (RST) while the replay is still
#              writing (16 KiB receive buffer: the 320 KiB stream cannot all be queued): every flow
#              completes for the user; each replay the shadow reset is counted write_failed
#              (write_failed = resets seen by the shadow = 30), none completed/aborted/shed.
#   garbage    answers each request line it reads with 1..16 KiB of random non-HTTP bytes and keeps
#              reading: every replay completes byte-identical (compare.py), and the agent read and
#              discarded exactly what the shadow sent (bytes_in = the shadow's garbage bytes).
#   latereset  reads 4 KiB, waits 3 s without reading, then RSTs; its 4 MiB receive buffer takes the
#              whole stream, so by then the replay has written everything and sent its FIN. The
#              shadow still took only 4 KiB of each stream: per stats_schema.toml ("write_failed: the
#              shadow reset or closed before taking everything") each must be write_failed, never
#              completed. Run last: it fails on an agent that counts a RST after its FIN as completed.
#   earlyclose reads each connection's first request head, then closes without answering (a server
#              shedding idle keep-alive connections, as nginx does past worker_connections); the
#              client sends a second request 0.3 s later (30 x 2 GETs): the shadow's FIN comes
#              first, then its kernel resets the late request. Every replay opened must be
#              write_failed (the rest shed_limit: the shadow's concurrency window), none completed: a FIN alone does not say the shadow read the stream (this fails on
#              an agent that completes on the FIN).
#   queue      a well-behaved shadow, the agent held to 2 replays at once (--max-replay-conns 2) while
#              6 client connections are open at a time: past the limit the replays wait in the
#              replay queue and all 30 reach the shadow byte-identical, none shed; the same load with
#              --replay-queue 0 sheds some (shed_limit), so the limit did bite. Fails on an agent
#              that sheds past the limit although the queue has room.
# In every tap run the accounting holds per target (opened + shed_backoff + skipped_empty = flows x copies,
# opened = completed + unconfirmed + aborted + shed_* + connect_failed + write_failed + active), and the
# agent's RSS (VmRSS, sampled every 0.2 s) stays below 300 MB.
# Usage: shadow_faults_test.sh PATH_TO_SHADOWTAP   (FAULT_CASES="reset garbage" runs only the listed
# cases, for debugging; the default and the ctest entry run all of them)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

RSS_LIMIT_KB=$((300 * 1024))
WORKLOAD="--conns 30 --reqs 10 --body 32768 --concurrency 5"

# workload NAME: the measured client run; summary in $H_TMP/NAME.json, connections in NAME.conns.
workload() {
  : >"$H_TMP/$1.conns"
  # shellcheck disable=SC2086 # WORKLOAD: several flags
  http_client "$H_TMP/$1.json" --host "$SRV4" --port "$PORT" --id "$1" $WORKLOAD --out-conns "$H_TMP/$1.conns"
  log "client $1: $(cat "$H_TMP/$1.json")"
}

# compare_speed BASE TAP: the tap run is not measurably slower than the no-tap run.
compare_speed() {
  local verdict
  verdict=$("$PYTHON" - "$H_TMP/$1.json" "$H_TMP/$2.json" <<'PY'
import json, sys
b, t = (json.load(open(p)) for p in sys.argv[1:3])
bad = []
for key in ("elapsed", "lat_median"):
    limit = 1.5 * b[key] + 0.2
    if t[key] > limit:
        bad.append("%s %.3fs > %.3fs (no tap %.3fs)" % (key, t[key], limit, b[key]))
print("; ".join(bad) if bad else "ok: elapsed %.3fs vs %.3fs no tap, median %.4fs vs %.4fs" % (
    t["elapsed"], b["elapsed"], t["lat_median"], b["lat_median"]))
PY
)
  case "$verdict" in
  ok:*) log "$2: $verdict" ;;
  *) fail "$2: the tap slowed the client down: $verdict" ;;
  esac
}

check_rss() {
  local max
  max=$(agent_rss_max_kb)
  [ -n "$max" ] || fail "no RSS sample of the agent"
  assert_le "agent max VmRSS kB over $(wc -l <"$RSS_FILE") samples ($1)" "$RSS_LIMIT_KB" "$max"
}

t() { local f="$H_TMP/$1.status.json"; [ -e "$f" ] || f="$H_TMP/$1.json"; jget "$f" "j['pipeline']['replay']['targets'][$2]['$3']"; }

CASES="${FAULT_CASES:-down blackhole slow noreadcap noread reset garbage earlyclose queue latereset}"
case_on() { [[ " $CASES " == *" $1 "* ]]; }

# outcomes NAME TARGET KEY=VALUE...: each named replay counter of target TARGET in NAME's status.
outcomes() {
  local name="$1" i="$2" kv
  shift 2
  for kv in "$@"; do
    assert_eq "$name: target $i ${kv%%=*}" "${kv#*=}" "$(t "$name" "$i" "${kv%%=*}")"
  done
}

# tap_phase_start NAME AGENT_ARGS...: the workload without the tap, then with the tap replaying to
# the faulty shadow (RSS sampled), which must not be slower.
tap_phase_start() {
  local name="$1"
  shift
  workload "$name.base"
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 "$@"
  agent_rss_watch_start
  workload "$name.tap"
  compare_speed "$name.base" "$name.tap"
}

# tap_phase_end NAME: what holds after every case: the replay counters add up, the RSS stayed
# under the limit, and the agent stops cleanly.
tap_phase_end() {
  check_identities "$H_TMP/$1.status.json" --copies 1
  check_rss "$1"
  agent_stop_checked
}

# --- down: connection refused -------------------------------------------------------------------
if case_on down; then
tap_phase_start down --shadow "$SHD4:19990"
agent_settle down 10
assert_eq "down: flows started" 30 "$(jget "$H_TMP/down.status.json" 'j["pipeline"]["flows"]["started"]')"
assert_gt "down: connect_failed" 0 "$(t down 0 connect_failed)"
# Every flow is either tried and refused or shed by the back-off. How many are shed depends on how
# the 30 flows' SYNs are batched by the capture ring: flows that start before the first refusal
# comes back are all tried. The back-off itself is asserted deterministically in the unit tests
# (tests/unit/replayer_test.cpp, DownShadowIsCountedAndBackedOff).
assert_eq "down: connect_failed + shed_backoff" 30 $(($(t down 0 connect_failed) + $(t down 0 shed_backoff)))
assert_eq "down: completed" 0 "$(t down 0 completed)"
tap_phase_end down
fi

# --- blackhole: SYNs dropped, connect times out ---------------------------------------------------
if case_on blackhole; then
ip netns exec "$NS_SHD" nft -f - <<NFT || fail "cannot install the blackhole rule"
table inet rlbh {
  chain in {
    type filter hook input priority 0; policy accept;
    tcp dport 19991 drop
  }
}
NFT
tap_phase_start blackhole --shadow "$SHD4:19991"
agent_settle blackhole 12 # the agent's connect timeout is 3 s, plus back-off
assert_gt "blackhole: connect_failed" 0 "$(t blackhole 0 connect_failed)"
assert_eq "blackhole: completed" 0 "$(t blackhole 0 completed)"
assert_eq "blackhole: active after the connect timeout" 0 "$(t blackhole 0 active)"
tap_phase_end blackhole
fi

# --- slow: 2 s before each 128 KiB read ----------------------------------------------------------
if case_on slow; then
serve_recorder slow "$H_TMP/slow.jsonl" --port 19992 --mode slow --delay 2 --chunk 131072
tap_phase_start slow --shadow "$SHD4:19992"
agent_settle slow 30
assert_eq "slow: flows completed" 30 "$(jget "$H_TMP/slow.status.json" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "slow: replays completed + shed_backlog" 30 $(($(t slow 0 completed) + $(t slow 0 shed_backlog)))
assert_eq "slow: aborted+connect_failed+write_failed" 0 \
  $(($(t slow 0 aborted) + $(t slow 0 connect_failed) + $(t slow 0 write_failed)))
if [ "$(t slow 0 shed_backlog)" = 0 ]; then
  wait_records "$H_TMP/slow.jsonl" '"event": "close"' 30 10 || true
  compare_streams "$H_TMP/slow.compare.json" --client "$H_TMP/slow.tap.conns" --shadow "$H_TMP/slow.jsonl"
  assert_ge "slow: shortest replay duration ms (the shadow's delays were real)" 2000 \
    "$(jlines "$H_TMP/slow.jsonl" 'int(1000 * min(r["t_close"] - r["t_open"] for r in s if r["event"] == "close"))')"
fi
tap_phase_end slow
fi

# --- noread, bounded budget: the stuck target alone, --replay-buffer-mb 2 ------------------------
if case_on noreadcap; then
serve_recorder noread "$H_TMP/noread.jsonl" --port 19993 --mode noread --rcvbuf 16384
tap_phase_start noreadcap --shadow "$SHD4:19993" --replay-buffer-mb 2
agent_settle noreadcap 3 # not expected to become idle (see below): this just lets the stats settle
assert_eq "noreadcap: flows completed" 30 "$(jget "$H_TMP/noreadcap.status.json" 'j["pipeline"]["flows"]["completed"]')"
assert_gt "noreadcap: shed_backlog (budget of 2 MiB enforced)" 0 "$(t noreadcap 0 shed_backlog)"
assert_le "noreadcap: replay backlog_bytes (budget 2 MiB)" $((2 << 20)) \
  "$(jget "$H_TMP/noreadcap.status.json" 'j["pipeline"]["replay"]["backlog_bytes"]')"
tap_phase_end noreadcap
fi

# --- noread next to a healthy target, default budget ----------------------------------------------
if case_on noread; then
case_on noreadcap || serve_recorder noread "$H_TMP/noread.jsonl" --port 19993 --mode noread --rcvbuf 16384
serve_recorder healthy "$H_TMP/healthy.jsonl" --port 19994
tap_phase_start noread --shadow "$SHD4:19993" --shadow "$SHD4:19994"
wait_records "$H_TMP/healthy.jsonl" '"event": "close"' 30 15 || true
agent_settle noread 1
assert_eq "noread: flows completed" 30 "$(jget "$H_TMP/noread.status.json" 'j["pipeline"]["flows"]["completed"]')"
# The healthy target is not held back by the stuck one: every connection, byte-identical.
compare_streams "$H_TMP/healthy.compare.json" --client "$H_TMP/noread.tap.conns" --shadow "$H_TMP/healthy.jsonl" --port 19994
assert_eq "noread: healthy target completed" 30 "$(t noread 1 completed)"
# Every replay ends in bounded time: once the mirrored flows are over, a shadow that takes no
# byte for longer than the agent's own timeouts (connect 3 s, stall 10 s, drain 10 s) must be given
# up on (counted shed_stalled) and its backlog released; otherwise each stuck connection pins
# its socket and buffered bytes forever, and the shared replay budget (--replay-buffer-mb) drains
# away until every target's replays are shed.
for _ in $(seq 20); do
  sleep 1
  agent_status "$H_TMP/noread.late.json"
  [ "$(t noread.late 0 active)" = 0 ] && [ "$(jget "$H_TMP/noread.late.json" 'j["pipeline"]["replay"]["backlog_bytes"]')" = 0 ] && break
done
log "noread, 20 s later: $(jget "$H_TMP/noread.late.json" 'j["pipeline"]["replay"]')"
assert_eq "noread: replays to the never-reading shadow still active 20 s after the flows ended" 0 "$(t noread.late 0 active)"
assert_eq "noread: replay backlog_bytes 20 s after the flows ended" 0 \
  "$(jget "$H_TMP/noread.late.json" 'j["pipeline"]["replay"]["backlog_bytes"]')"
assert_eq "noread: stuck replays shed by the stall watchdog" 30 "$(t noread.late 0 shed_stalled)"
tap_phase_end noread
fi

# --- reset: the shadow reads 4 KiB, then RSTs while the replay is still writing ------------------
if case_on reset; then
serve_recorder reset "$H_TMP/reset.jsonl" --port 19995 --mode reset --reset-after 4096 --rcvbuf 16384
tap_phase_start reset --shadow "$SHD4:19995"
wait_records "$H_TMP/reset.jsonl" '"event": ' 30 15 || true
agent_settle reset 10
assert_eq "reset: flows completed (the user's connections are untouched)" 30 \
  "$(jget "$H_TMP/reset.status.json" 'j["pipeline"]["flows"]["completed"]')"
resets=$(count_lines "$H_TMP/reset.jsonl" '"event": "reset"')
# Every replay reached the shadow and sent it at least 4 KiB (the first request is 32 KiB).
assert_eq "reset: replays the shadow reset after reading 4 KiB" 30 "$resets"
assert_eq "reset: write_failed = replays the shadow reset" "$resets" "$(t reset 0 write_failed)"
outcomes reset 0 opened=30 active=0 completed=0 aborted=0 shed_backlog=0 shed_stalled=0 shed_backoff=0 connect_failed=0
assert_ge "reset: bytes_out >= bytes the shadow read before its resets" \
  "$(jlines "$H_TMP/reset.jsonl" 'sum(r["bytes"] for r in s)')" \
  "$(t reset 0 bytes_out)"
assert_eq "reset: replay backlog_bytes once idle" 0 "$(jget "$H_TMP/reset.status.json" 'j["pipeline"]["replay"]["backlog_bytes"]')"
tap_phase_end reset
fi

# --- garbage: random non-HTTP answers to every request, the shadow keeps reading -------------------
if case_on garbage; then
serve_recorder garbage "$H_TMP/garbage.jsonl" --port 19996 --mode garbage --garbage-max 16384
tap_phase_start garbage --shadow "$SHD4:19996"
wait_records "$H_TMP/garbage.jsonl" '"event": "close"' 30 15 || true
agent_settle garbage 15
assert_eq "garbage: flows completed" 30 "$(jget "$H_TMP/garbage.status.json" 'j["pipeline"]["flows"]["completed"]')"
# The shadow really answered with garbage: one answer per request, 10 requests per connection.
gsum() { jlines "$H_TMP/garbage.jsonl" "sum(r['$1'] for r in s if r['event'] == 'close')"; }
assert_eq "garbage: requests the shadow read" 300 "$(gsum requests)"
assert_eq "garbage: garbage answers the shadow wrote" 300 "$(gsum garbage_writes)"
outcomes garbage 0 opened=30 active=0 completed=30 aborted=0 shed_backlog=0 shed_stalled=0 shed_backoff=0 connect_failed=0 write_failed=0
# Read and discarded, every byte of it: the shadow closes only after the replay's FIN, so the
# replay reads up to the shadow's FIN.
assert_eq "garbage: bytes_in = garbage bytes the shadow sent" "$(gsum garbage_bytes)" "$(t garbage 0 bytes_in)"
compare_streams "$H_TMP/garbage.compare.json" --client "$H_TMP/garbage.tap.conns" --shadow "$H_TMP/garbage.jsonl"
tap_phase_end garbage
fi

# --- latereset: the shadow takes 4 KiB, lets the rest sit in its 4 MiB buffer, then RSTs ----------
if case_on earlyclose; then
serve_recorder earlyclose "$H_TMP/earlyclose.jsonl" --port 19998 --mode earlyclose
WORKLOAD="--conns 30 --reqs 2 --req-pace 0.3 --concurrency 10"
tap_phase_start earlyclose --shadow "$SHD4:19998"
agent_settle earlyclose 10
assert_eq "earlyclose: flows completed" 30 "$(jget "$H_TMP/earlyclose.status.json" 'j["pipeline"]["flows"]["completed"]')"
# A shadow that refuses every replay brings its concurrency window down to the floor (16): with 10
# client connections at a time, replays still being confirmed can make a few later ones shed whole
# (shed_limit) instead of opened. Every one opened reached the shadow and was refused.
OPENED=$(t earlyclose 0 opened)
assert_eq "earlyclose: opened + shed_limit = connections" 30 $((OPENED + $(t earlyclose 0 shed_limit)))
wait_records "$H_TMP/earlyclose.jsonl" '"event": "earlyclose"' "$OPENED" 20 || true
assert_eq "earlyclose: connections the shadow closed unread = replays opened" "$OPENED" \
  "$(count_lines "$H_TMP/earlyclose.jsonl" '"event": "earlyclose"')"
outcomes earlyclose 0 active=0 completed=0 unconfirmed=0 aborted=0 write_failed="$OPENED"
tap_phase_end earlyclose
WORKLOAD="--conns 30 --reqs 10 --body 32768 --concurrency 5"
fi

if case_on queue; then
serve_recorder queue "$H_TMP/queue.jsonl" --port 19989
WORKLOAD="--conns 30 --reqs 2 --req-pace 0.05 --concurrency 6"
tap_phase_start queue --shadow "$SHD4:19989" --max-replay-conns 2
wait_records "$H_TMP/queue.jsonl" '"event": "close"' 30 20 || true
agent_settle queue 20
assert_eq "queue: flows completed" 30 "$(jget "$H_TMP/queue.status.json" 'j["pipeline"]["flows"]["completed"]')"
outcomes queue 0 opened=30 active=0 queued=0 completed=30 shed_limit=0 aborted=0 write_failed=0 shed_backoff=0
compare_streams "$H_TMP/queue.compare.json" --client "$H_TMP/queue.tap.conns" --shadow "$H_TMP/queue.jsonl"
tap_phase_end queue
# The same without the queue: the limit sheds whole replays (the baseline of the case above).
tap_phase_start noqueue --shadow "$SHD4:19989" --max-replay-conns 2 --replay-queue 0
agent_settle noqueue 20
assert_gt "noqueue: replays shed past the limit (shed_limit)" 0 "$(t noqueue 0 shed_limit)"
outcomes noqueue 0 active=0 queued=0
assert_eq "noqueue: opened + shed_limit = connections" 30 $(($(t noqueue 0 opened) + $(t noqueue 0 shed_limit)))
tap_phase_end noqueue
WORKLOAD="--conns 30 --reqs 10 --body 32768 --concurrency 5"
fi

if case_on latereset; then
serve_recorder latereset "$H_TMP/latereset.jsonl" --port 19997 --mode reset --reset-after 4096 --reset-delay 3 \
  --rcvbuf $((4 << 20))
tap_phase_start latereset --shadow "$SHD4:19997"
wait_records "$H_TMP/latereset.jsonl" '"event": ' 30 20 || true
agent_settle latereset 10
assert_eq "latereset: flows completed" 30 "$(jget "$H_TMP/latereset.status.json" 'j["pipeline"]["flows"]["completed"]')"
resets=$(count_lines "$H_TMP/latereset.jsonl" '"event": "reset"')
assert_eq "latereset: replays the shadow reset after reading 4 KiB" 30 "$resets"
# Harness check: the shadow had not taken the streams (bytes were still unread when it reset),
# and the agent had written all of them (so its FIN was out before the RST).
assert_eq "latereset: resets with unread bytes in the shadow's receive queue" 30 \
  "$(jlines "$H_TMP/latereset.jsonl" 'sum(1 for r in s if r["event"] == "reset" and r["unread_at_reset"] > 0)')"
assert_eq "latereset: bytes_out = the client's bytes (everything written before the RSTs)" \
  "$(jlines "$H_TMP/latereset.tap.conns" 'sum(r["bytes"] for r in s)')" \
  "$(t latereset 0 bytes_out)"
outcomes latereset 0 opened=30 active=0 aborted=0 shed_backlog=0 shed_stalled=0 shed_backoff=0 connect_failed=0
# The shadow took 4 KiB of each 320 KiB stream: not a completed replay.
assert_eq "latereset: completed (the shadow took 4 KiB of each stream, then reset)" 0 "$(t latereset 0 completed)"
assert_eq "latereset: write_failed = replays the shadow reset before taking everything" "$resets" "$(t latereset 0 write_failed)"
tap_phase_end latereset
fi
