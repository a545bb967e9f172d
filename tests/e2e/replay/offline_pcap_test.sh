#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `shadowtap replay --from FILE.pcap`: offline captures through the live pipeline.
#   A. tcpdump captures 10 keep-alive connections of POSTs on the server's interface (no agent
#      running); `replay --from cap.pcap --port 18080` sends each to the shadow recorder
#      byte-identical, ended by a FIN; the JSON summary counts 10 flows started/completed and 10
#      replays opened/completed, bytes_out = the clients' bytes. Same capture at --speed 2: takes
#      about half the capture's span. With --protocol http: the report pairs every request.
#   B. tests/tools/craft_pcap.py's mangled captures (reorder, overlap, duplicates, sequence wrap,
#      tiny segments, conflicting retransmissions) replayed at --speed max: every complete one
#      byte-identical; the one with a hole never delivers more than its prefix and ends with a RST.
#   D. one connection of 160 MB (tests/tools/flows_pcap.py: more than a replay's own 64 MiB
#      backlog limit) at --speed max: reading waits for the shadow instead of outrunning it, so the
#      replay completes whole (it was shed past its backlog limit: shed_backlog, 4 MB delivered).
#   E. --loop 2: each of A's 10 connections is replayed twice, each time whole (20 streams, every one
#      byte-identical); --loop 0 --duration 0.3 at speed 1 stops early (exit 0, stopped_early, and
#      every connection started is accounted for: completed or ended by the stop); --loop 0 alone
#      is refused (exit 2). --rate 200 on 600 one-request connections at --speed max: they are
#      handed over in three one-second windows (about 2 s, not the 0.1 s they take unlimited),
#      every one replayed.
#   C. bad files: empty, not a capture, a pcap whose record length is absurd, a pcapng whose block
#      length is wrong: one line naming the problem and the offset, exit 1, no crash; a capture cut
#      in its last record: replayed, and the summary says the tail was skipped; no --shadow: exit 2.
# Usage: offline_pcap_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"
SHADOW=19011
serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"

# replay_in_srv OUT ARGS...: the agent's replay command in the server namespace (it reaches the shadow).
replay_in_srv() {
  local out="$1"
  shift
  timeout 100 ip netns exec "$NS_SRV" "$AGENT" replay "$@" >"$out" 2>"$out.err"
}

# --- A. a tcpdump capture of 10 connections --------------------------------------------------------
CAPTURE_NS=$NS_SRV CAPTURE_IF=$SRV_IF capture_start cap --snaplen 262144 tcp port "$PORT"
http_client "$H_TMP/a.json" --host "$SRV4" --port "$PORT" --id pc --conns 10 --reqs 5 --body 2000 \
  --concurrency 3 --pace 0.05 --out-conns "$H_TMP/a.conns"
capture_stop
NBYTES=$(jlines "$H_TMP/a.conns" 'sum(r["bytes"] for r in s)')
log "captured 10 connections, $NBYTES request bytes: $(stat -c %s "$H_TMP/cap.pcap") bytes of pcap"

replay_in_srv "$H_TMP/a.summary.json" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --json ||
  fail "replay failed: $(cat "$H_TMP/a.summary.json.err")"
S="$H_TMP/a.summary.json"
log "summary: $(jget "$S" 'j["input"]'), span $(jget "$S" 'j["span_s"]') s, elapsed $(jget "$S" 'j["elapsed_s"]') s"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 10 10 || true
compare_streams "$H_TMP/a.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
assert_eq "flows started" 10 "$(jget "$S" 'j["pipeline"]["flows"]["started"]')"
assert_eq "flows completed" 10 "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "client bytes" "$NBYTES" "$(jget "$S" 'j["pipeline"]["flows"]["client_bytes"]')"
assert_eq "replays opened" 10 "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["opened"]')"
assert_eq "replays completed" 10 "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_eq "bytes out" "$NBYTES" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["bytes_out"]')"
assert_eq "capture malformed+bad_checksum+truncated" 0 \
  "$(jget "$S" 'sum(j["pipeline"]["capture"][k] for k in ("malformed","bad_checksum","truncated"))')"
SPAN=$(jget "$S" 'j["span_s"]')

# --speed 2: the input is handed over in about half its span.
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/a2.summary.json" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --json --speed 2 ||
  fail "replay --speed 2 failed: $(cat "$H_TMP/a2.summary.json.err")"
DONE=$(jget "$H_TMP/a2.summary.json" 'j["input_done_s"]')
log "span $SPAN s replayed at --speed 2 in $DONE s"
ms() { "$PYTHON" -c "print(int($1))"; }
assert_between "input time at --speed 2 (ms)" "$(ms "$SPAN*1000/2*0.7")" "$(ms "$SPAN*1000/2*1.3+50")" "$(ms "$DONE*1000")"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 10 10 || true
compare_streams "$H_TMP/a2.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"

# --protocol http: every request is framed, and the primary's responses (in the capture) are paired.
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/ah.summary.json" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --json \
  --speed max --protocol http --no-host-suffix || fail "replay --protocol http failed: $(cat "$H_TMP/ah.summary.json.err")"
assert_eq "http requests" 50 "$(jget "$H_TMP/ah.summary.json" 'j["pipeline"]["http"]["requests"]')"
assert_eq "primary responses in the report" 50 \
  "$(jget "$H_TMP/ah.summary.json" 'sum(r["count"] for r in j["report"]["rows"] if r["target"]=="primary")')"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 10 10 || true
compare_streams "$H_TMP/ah.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"

# --- B. crafted, mangled captures -------------------------------------------------------------------
"$PYTHON" "$H_TOOLS/craft_pcap.py" --out-pcap "$H_TMP/crafted.pcap" --out-conns "$H_TMP/crafted.conns" \
  --out-hole "$H_TMP/hole.json" >"$H_TMP/craft.json" || fail "craft_pcap.py failed"
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/b.summary.json" --from "$H_TMP/crafted.pcap" --port 18080 --shadow "$SHD4:$SHADOW" --json \
  --speed max || fail "replay of the crafted capture failed: $(cat "$H_TMP/b.summary.json.err")"
NCRAFT=$(wc -l <"$H_TMP/crafted.conns")
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' $((NCRAFT + 1)) 10 || true
# Streams that start with "CID " are the complete connections; the hole's may not have its head.
"$PYTHON" - "$H_TMP/shadow.jsonl" "$H_TMP/crafted.shadow" "$H_TMP/hole.shadow" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hole = [r for r in lines if r.get("event") == "close" and not r.get("head", "").startswith("CID ")]
with open(sys.argv[2], "w") as f:
    for r in lines:
        if r not in hole:
            f.write(json.dumps(r) + "\n")
with open(sys.argv[3], "w") as f:
    for r in hole:
        f.write(json.dumps(r) + "\n")
PY
compare_streams "$H_TMP/b.compare.json" --client "$H_TMP/crafted.conns" --shadow "$H_TMP/crafted.shadow" --port "$SHADOW"
# The hole connection: at most its prefix (its head may not even have left before the RST), then a RST.
HOLE_MAX=$(jget "$H_TMP/hole.json" 'j["bytes"]')
while read -r line; do
  [ -n "$line" ] || continue
  printf '%s\n' "$line" >"$H_TMP/hole.line"
  assert_eq "hole stream end" rst "$(jget "$H_TMP/hole.line" 'j["end"]')"
  assert_le "hole stream bytes" "$HOLE_MAX" "$(jget "$H_TMP/hole.line" 'j["bytes"]')"
done <"$H_TMP/hole.shadow"
assert_eq "crafted flows completed" "$NCRAFT" "$(jget "$H_TMP/b.summary.json" 'j["pipeline"]["flows"]["completed"]')"

# --- D. one connection larger than a replay's backlog limit, read as fast as possible ---------------
"$PYTHON" "$H_TOOLS/flows_pcap.py" bulk --out "$H_TMP/big.pcap" --bytes 160000000 >"$H_TMP/big.gen.json"
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/d.summary.json" --from "$H_TMP/big.pcap" --port 8080 --shadow "$SHD4:$SHADOW" --json --speed max ||
  fail "replay of one large connection failed: $(cat "$H_TMP/d.summary.json.err")"
log "D: replay $(jget "$H_TMP/d.summary.json" 'j["pipeline"]["replay"]["targets"][0]')"
assert_eq "D: replays completed" 1 "$(jget "$H_TMP/d.summary.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_eq "D: replays shed past the backlog limit" 0 \
  "$(jget "$H_TMP/d.summary.json" 'j["pipeline"]["replay"]["targets"][0]["shed_backlog"]')"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 1 30 || true
ZEROS_SHA=$(head -c 160000000 /dev/zero | sha256sum | cut -d' ' -f1) # the generator's payload is zeros
assert_eq "D: what the shadow read, to its FIN (bytes, end, SHA-256)" "160000000 eof $ZEROS_SHA" \
  "$(jlines "$H_TMP/shadow.jsonl" '" ".join("%d %s %s" % (r["bytes"], r["end"], r["sha256"]) for r in s if r.get("event") == "close")')"

# --- E. passes and a time limit --------------------------------------------------------------------
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/e.summary.json" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --json \
  --speed max --loop 2 || fail "replay --loop 2 failed: $(cat "$H_TMP/e.summary.json.err")"
assert_eq "E: passes" 2 "$(jget "$H_TMP/e.summary.json" 'j["passes"]')"
assert_eq "E: replays completed" 20 "$(jget "$H_TMP/e.summary.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 20 10 || true
compare_streams "$H_TMP/e.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW" --copies 2
replay_in_srv "$H_TMP/e2.summary.json" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --json \
  --loop 0 --duration 0.3 || fail "replay --loop 0 --duration 0.3 failed: $(cat "$H_TMP/e2.summary.json.err")"
E2="$H_TMP/e2.summary.json"
assert_eq "E: stopped early by --duration" true "$(jget "$E2" 'j["stopped_early"]')"
assert_le "E: elapsed s (--duration 0.3)" 2 "$(jget "$E2" 'int(j["elapsed_s"])')"
assert_eq "E: flows started = completed + ended by the stop + reset + broken" \
  "$(jget "$E2" 'j["pipeline"]["flows"]["started"]')" \
  "$(jget "$E2" 'sum(j["pipeline"]["flows"][k] for k in ("completed", "shutdown", "reset", "broken"))')"
rc=0
replay_in_srv "$H_TMP/e3.out" --from "$H_TMP/cap.pcap" --port "$PORT" --shadow "$SHD4:$SHADOW" --loop 0 || rc=$?
assert_eq "E: --loop 0 without --duration: exit code" 2 "$rc"
"$PYTHON" "$H_TOOLS/flows_pcap.py" churn --out "$H_TMP/churn.pcap" --conns 600 >"$H_TMP/churn.gen.json"
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/r.summary.json" --from "$H_TMP/churn.pcap" --port 8080 --shadow "$SHD4:$SHADOW" --json \
  --speed max --rate 200 || fail "replay --rate 200 failed: $(cat "$H_TMP/r.summary.json.err")"
R="$H_TMP/r.summary.json"
log "E: --rate 200: 600 connections handed over in $(jget "$R" 'j["input_done_s"]') s"
assert_eq "E: --rate: connections" 600 "$(jget "$R" 'j["connections"]')"
assert_eq "E: --rate: replays completed" 600 "$(jget "$R" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_between "E: --rate 200: ms to hand 600 connections over (3 windows)" 1800 4000 \
  "$(jget "$R" 'int(j["input_done_s"] * 1000)')"

# --- C. bad files ------------------------------------------------------------------------------------
bad() { # NAME EXPECTED_RC [PATTERN]: replays $H_TMP/NAME, expects the exit code and PATTERN in stderr
  local rc=0
  replay_in_srv "$H_TMP/$1.out" --from "$H_TMP/$1" --port "$PORT" --shadow "$SHD4:$SHADOW" || rc=$?
  assert_eq "exit code for $1" "$2" "$rc"
  [ -z "${3:-}" ] || grep -q -- "$3" "$H_TMP/$1.out.err" || fail "$1: expected '$3' in: $(cat "$H_TMP/$1.out.err")"
  log "$1: exit $rc: $(tail -n1 "$H_TMP/$1.out.err")"
}
: >"$H_TMP/empty.pcap"
bad empty.pcap 1 "not a capture file"
head -c 300 /dev/urandom | tr '\324' x | sed 's/^/garbage/' >"$H_TMP/garbage.pcap"
bad garbage.pcap 1 "not a pcap or pcapng file"
"$PYTHON" - "$H_TMP/hugerec.pcap" "$H_TMP/badng.pcapng" <<'PY'
import struct, sys
hdr = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
open(sys.argv[1], "wb").write(hdr + struct.pack("<IIII", 1, 0, 0x7fffffff, 60) + b"x" * 60)
shb = struct.pack("<IIIHHq", 0x0a0d0d0a, 28, 0x1a2b3c4d, 1, 0, -1) + struct.pack("<I", 28)
open(sys.argv[2], "wb").write(shb + struct.pack("<II", 1, 13) + b"\0" * 8)
PY
bad hugerec.pcap 1 "offset 24: record of 2147483647 bytes"
bad badng.pcapng 1 "offset 28: pcapng block of invalid length 13"
head -c $(($(stat -c %s "$H_TMP/cap.pcap") - 7)) "$H_TMP/cap.pcap" >"$H_TMP/torn.pcap"
bad torn.pcap 0 # replayed; the summary (stdout) says the tail was cut
grep -q "cut short" "$H_TMP/torn.pcap.out" || fail "torn capture: the summary does not say the tail was skipped: $(cat "$H_TMP/torn.pcap.out")"
rc=0
timeout 20 "$AGENT" replay --from "$H_TMP/cap.pcap" --port "$PORT" >/dev/null 2>"$H_TMP/noshadow.err" || rc=$?
assert_eq "exit code without --shadow" 2 "$rc"
log "all offline pcap checks passed"
