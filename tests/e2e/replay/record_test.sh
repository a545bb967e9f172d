#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `run --record DIR` and `replay --from DIR`.
#   A. The agent (no --shadow) records 4 keep-alive connections of paced requests (8 POSTs each,
#      one every 0.25 s: ~1.75 s of traffic). The directory is 0700, its files 0600.
#   B. `replay --from DIR --speed 2`: the shadow gets the same 4 streams byte-identical (FIN-ended),
#      and the recording is handed over in half its recorded span (±30 %); the shadow's own view
#      (first connection opened to last one closed) is within the same bounds.
#   C. A torn last record (bytes appended to the last file, as a crash mid-write leaves) is
#      skipped and reported; the streams are still identical. A corrupt record in the middle of a
#      file: one line naming the file and offset, exit 1.
#   D. --record-max-bytes: recording stops at the budget; the files never exceed it.
# Usage: record_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"
SHADOW=19021
serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"
REC="$H_TMP/rec"

replay_in_srv() {
  local out="$1"
  shift
  timeout 100 ip netns exec "$NS_SRV" "$AGENT" replay "$@" >"$out" 2>"$out.err"
}

# --- A. record ---------------------------------------------------------------------------------------
agent_start --iface "$SRV_IF" --port "$PORT" --record "$REC"
http_client "$H_TMP/a.json" --host "$SRV4" --port "$PORT" --id rc --conns 4 --reqs 8 --body 700 \
  --concurrency 4 --req-pace 0.25 --out-conns "$H_TMP/a.conns"
log "client: $(cat "$H_TMP/a.json")"
sleep 0.5
agent_stop_checked
grep -q "recorded" "$AGENT_LOG" && log "$(grep -o 'worker .* recorded.*' "$AGENT_LOG" | head -n3)"
assert_eq "recording directory mode" 700 "$(stat -c %a "$REC")"
nfiles=0
for f in "$REC"/*; do
  assert_eq "mode of $(basename "$f")" 600 "$(stat -c %a "$f")"
  nfiles=$((nfiles + 1))
done
assert_ge "recording files" 1 "$nfiles"

# --- B. replay at --speed 2 --------------------------------------------------------------------------
replay_in_srv "$H_TMP/b.summary.json" --from "$REC" --port "$PORT" --shadow "$SHD4:$SHADOW" --speed 2 --json ||
  fail "replay failed: $(cat "$H_TMP/b.summary.json.err")"
S="$H_TMP/b.summary.json"
SPAN=$(jget "$S" 'j["span_s"]')
DONE=$(jget "$S" 'j["input_done_s"]')
log "summary: $(jget "$S" 'j["input"]'); recorded span $SPAN s, replayed in $DONE s at --speed 2"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 4 10 || true
compare_streams "$H_TMP/b.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
ms() { "$PYTHON" -c "print(int($1))"; }
assert_ge "recorded span (ms)" 1500 "$(ms "$SPAN*1000")"
assert_between "replay time at --speed 2 (ms)" "$(ms "$SPAN*1000/2*0.7")" "$(ms "$SPAN*1000/2*1.3")" "$(ms "$DONE*1000")"
SHADOW_SPAN=$("$PYTHON" - "$H_TMP/shadow.jsonl" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
opens = [r["t_open"] for r in rs if "t_open" in r]
closes = [r.get("t_close", r.get("t")) for r in rs if r.get("event") == "close"]
closes = [c for c in closes if c is not None]
print(int((max(closes) - min(opens)) * 1000) if opens and closes else -1)
PY
)
log "the shadow saw the 4 streams over $SHADOW_SPAN ms"
if [ "$SHADOW_SPAN" -ge 0 ]; then
  assert_between "shadow-side span (ms)" "$(ms "$SPAN*1000/2*0.7")" "$(ms "$SPAN*1000/2*1.3")" "$SHADOW_SPAN"
fi
assert_eq "replays completed" 4 "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"

# --- C. torn and corrupt recordings ------------------------------------------------------------------
cp -a "$REC" "$H_TMP/torn"
last=$(ls "$H_TMP/torn"/* | sort | tail -n1)
printf '\x10\x20\x30\x40\x00\x01\x00\x00\x02\x00' >>"$last"
: >"$H_TMP/shadow.jsonl"
replay_in_srv "$H_TMP/c.summary.json" --from "$H_TMP/torn" --port "$PORT" --shadow "$SHD4:$SHADOW" --speed max --json ||
  fail "replay of a torn recording failed: $(cat "$H_TMP/c.summary.json.err")"
jget "$H_TMP/c.summary.json" 'j["input"]' | grep -q "torn last record" ||
  fail "the summary does not report the torn record: $(jget "$H_TMP/c.summary.json" 'j["input"]')"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 4 10 || true
compare_streams "$H_TMP/c.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
cp -a "$REC" "$H_TMP/corrupt"
first=$(ls "$H_TMP/corrupt"/* | sort | head -n1)
printf 'X' | dd of="$first" bs=1 seek=60 conv=notrunc status=none
rc=0
replay_in_srv "$H_TMP/c2.out" --from "$H_TMP/corrupt" --port "$PORT" --shadow "$SHD4:$SHADOW" || rc=$?
assert_eq "exit code for a corrupt recording" 1 "$rc"
grep -q "corrupt record" "$H_TMP/c2.out.err" || fail "no 'corrupt record' message: $(cat "$H_TMP/c2.out.err")"
log "corrupt: $(tail -n1 "$H_TMP/c2.out.err")"

# --- D. --record-max-bytes ---------------------------------------------------------------------------
agent_start --iface "$SRV_IF" --port "$PORT" --record "$H_TMP/small" --record-max-bytes 1M --workers 1
http_client "$H_TMP/d.json" --host "$SRV4" --port "$PORT" --id rd --conns 4 --reqs 20 --body 20000 \
  --concurrency 4 --out-conns "$H_TMP/d.conns"
agent_stop_checked
used=$(du -b -c "$H_TMP/small"/* | tail -n1 | cut -f1)
log "recorded $used bytes with --record-max-bytes 1M (the clients sent $(jlines "$H_TMP/d.conns" 'sum(r["bytes"] for r in s)'))"
assert_le "bytes on disk" $((1 << 20)) "$used"
grep -q "recording into .* stopped: --record-max-bytes" "$AGENT_LOG" || fail "the agent did not log the stop"
log "all record checks passed"
