#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Sampling is exact and predictable end to end: at --percent 50, 400 connections from known
# client ports (30000..30399, one HTTP request each naming its connection). The set of connections
# the shadow receives is EXACTLY the set the Python port of st_flow_hash (tests/tools/st_hash.py) predicts
# from the seed `status --json` reports: not "about half", the same connections, each
# byte-identical and complete. The counters agree: flow_decided = 400 (one per SYN), the agent
# started exactly |predicted| flows, every cloned packet was read from the mirror (cloned = frames,
# no kernel drops), not_sampled > 0.
# Why: operators rely on "this connection was / was not mirrored" being a pure function of the
# tuple and the seed (so it can be explained and reproduced); a statistical check alone would miss
# an agent that replays the wrong half, or a kernel/agent disagreement on a few connections.
# Usage: sampling_exact_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19001
N=400
SPORT_BASE=30000
PERCENT=50

serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"
agent_start --iface "$SRV_IF" --port "$PORT" --percent "$PERCENT" --shadow "$SHD4:$SHADOW"
agent_status "$H_TMP/s0.json"
SEED=$(jget "$H_TMP/s0.json" 'j["seed"]')
RATE=$(jget "$H_TMP/s0.json" '[r["rate_ppm"] for r in j["rules"] if r["port"]=='"$PORT"'][0]')
assert_eq "rule rate_ppm" 500000 "$RATE"
log "seed $SEED"

: >"$H_TMP/conns.jsonl"
http_client "$H_TMP/client.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --sport-base "$SPORT_BASE" \
  --conns "$N" --reqs 1 --body 200 --concurrency 4 --id s --out-conns "$H_TMP/conns.jsonl"
log "client: $(cat "$H_TMP/client.json")"
assert_eq "client connections" "$N" "$(wc -l <"$H_TMP/conns.jsonl")"
# The client really used the ports the prediction assumes.
assert_eq "client source ports $SPORT_BASE..$((SPORT_BASE + N - 1))" "$SPORT_BASE $((SPORT_BASE + N - 1)) $N" \
  "$(jlines "$H_TMP/conns.jsonl" '"%d %d %d" % (min(r["sport"] for r in s), max(r["sport"] for r in s), len({r["sport"] for r in s}))')"

"$PYTHON" "$H_TOOLS/st_hash.py" predict --seed "$SEED" --rate-ppm "$RATE" --client "$CLI4" --server "$SRV4" \
  --server-port "$PORT" --conns "$H_TMP/conns.jsonl" >"$H_TMP/predicted.txt"
NPRED=$(wc -l <"$H_TMP/predicted.txt")
log "predicted sampled connections: $NPRED of $N"
# Sanity of the port itself (binomial, 5 sigma: 150..250): a broken hash port would predict 0 or N.
if [ "$NPRED" -lt 150 ] || [ "$NPRED" -gt 250 ]; then
  fail "prediction of $NPRED/$N at $PERCENT% is implausible"
fi

wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NPRED" 30 || true
sleep 0.5 # a connection the kernel sampled but the prediction did not would arrive now
agent_wait_idle 10 || true
agent_status "$H_TMP/s1.json"
log "pipeline: $(jget "$H_TMP/s1.json" 'j["pipeline"]')"
log "counters: $(jget "$H_TMP/s1.json" '{k: j["counters"][k] for k in ("seen","cloned","not_sampled","flow_decided","flow_stateless","clone_failed")}')"

assert_no_kernel_drops "$H_TMP/s1.json" "sampling run"
# The exact set: every predicted connection exactly once and byte-identical, nothing else.
compare_streams "$H_TMP/compare.json" --client "$H_TMP/conns.jsonl" --shadow "$H_TMP/shadow.jsonl" \
  --port "$SHADOW" --expect-cids "$H_TMP/predicted.txt"

d() { echo $(($(jget "$H_TMP/s1.json" "$1") - $(jget "$H_TMP/s0.json" "$1"))); }
assert_eq "flow_decided counter (one per SYN)" "$N" "$(d 'j["counters"]["flow_decided"]')"
assert_eq "flow_stateless counter" 0 "$(d 'j["counters"]["flow_stateless"]')"
assert_gt "not_sampled counter" 0 "$(d 'j["counters"]["not_sampled"]')"
assert_eq "clone_failed counter" 0 "$(jget "$H_TMP/s1.json" 'j["counters"]["clone_failed"]')"
assert_eq "frames read from $AGENT_MIRROR_RX = cloned packets" "$(jget "$H_TMP/s1.json" 'j["counters"]["cloned"]')" \
  "$(jget "$H_TMP/s1.json" 'j["pipeline"]["capture"]["frames"]')"
assert_eq "flows started = predicted" "$NPRED" "$(jget "$H_TMP/s1.json" 'j["pipeline"]["flows"]["started"]')"
assert_eq "flows completed = predicted" "$NPRED" "$(jget "$H_TMP/s1.json" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "flows midstream_skipped" 0 "$(jget "$H_TMP/s1.json" 'j["pipeline"]["flows"]["midstream_skipped"]')"
assert_eq "replay opened = predicted" "$NPRED" "$(jget "$H_TMP/s1.json" 'j["pipeline"]["replay"]["targets"][0]["opened"]')"
assert_eq "replay completed = predicted" "$NPRED" "$(jget "$H_TMP/s1.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
agent_stop_checked
