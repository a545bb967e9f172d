#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Reassembly under impairment: the shadow still receives exactly the client's byte streams.
#   A. Live traffic through a router namespace whose forward chain (nftables) drops 5 % and
#      duplicates 5 % of the client's TCP segments to the service, with TSO/GSO/GRO off so every
#      segment is MSS-sized (many small segments, many holes). The tap sees the holes and then the
#      retransmissions; every replayed stream must be byte-identical, no flow broken.
#      Why a router: the client's own output hook sees TCP's GSO super-packets even with GSO off
#      (the stack always builds them and segments at the device), so loss there is per 64 KiB
#      burst, not per segment. Forwarded traffic is per segment.
#      --gap-timeout-ms 5000: with 5 % loss a retransmission can itself be lost; 5 s covers four
#      consecutive losses of the same segment (RTO 200+400+800+1600 ms), so a healthy agent never
#      breaks a flow here by bad luck.
#   B. Crafted captures (tests/tools/craft_pcap.py) sent with tcpreplay into the agent's mirror pair
#      (its tx end), so the agent reads them on the rx end exactly as if mirrored: client segments reordered, overlapping
#      (same bytes), duplicated, crossing the 2^32 sequence wrap, tiny, FIN before the last data,
#      later copies with different bytes (first copy wins, as documented in stream_reassembler.h),
#      6 MiB sent past a segment lost before the tap within the 16 MiB window the server advertised
#      (more than the fixed 4 MiB per-direction bound: the bound follows the window):
#      the shadow receives each original stream exactly (ended by FIN). And a capture whose hole
#      is never filled: the shadow receives the bytes before the hole and nothing after, then a
#      reset; the flow is counted broken and the replay aborted.
# Usage: impairment_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}" --router
command -v tcpreplay >/dev/null || fail "required tool 'tcpreplay' not found (apt-get install tcpreplay)"

SHADOW=19001

serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"

# --- A. loss and duplication on the client's path -----------------------------------------------
h_impair "$PORT" 5 5
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW" --gap-timeout-ms 5000
: >"$H_TMP/a.conns"
common=(--host "$SRV4" --port "$PORT" --out-conns "$H_TMP/a.conns" --timeout 60)
http_client "$H_TMP/a.post.json" "${common[@]}" --id apo --conns 40 --reqs 5 --body 20000 --concurrency 8
http_client "$H_TMP/a.big.json" "${common[@]}" --id abig --conns 2 --reqs 1 --body $((2 << 20)) --concurrency 2
http_client "$H_TMP/a.pl.json" "${common[@]}" --id apl --conns 10 --reqs 6 --pipeline 6 --body 3000 --concurrency 5
http_client "$H_TMP/a.get.json" "${common[@]}" --id aget --conns 40 --reqs 5 --concurrency 8
for f in post big pl get; do log "client a.$f: $(cat "$H_TMP/a.$f.json")"; done
NCONN=$(wc -l <"$H_TMP/a.conns")
read -r dropped duped < <(h_impair_counts)
retrans=$(ip netns exec "$NS_CLI" nstat -az TcpRetransSegs | awk '/TcpRetransSegs/ {print $2}')
log "impairment: $dropped segments dropped, $duped duplicated, client retransmitted $retrans"
assert_gt "segments dropped by the router" 50 "$dropped"
assert_gt "segments duplicated by the router" 50 "$duped"
assert_gt "client retransmissions" 0 "$retrans"

wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$NCONN" 30 || true
agent_settle a 10 "impaired traffic"
compare_streams "$H_TMP/a.compare.json" --client "$H_TMP/a.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
assert_eq "flows started" "$NCONN" "$(jget "$H_TMP/a.status.json" 'j["pipeline"]["flows"]["started"]')"
assert_eq "flows completed" "$NCONN" "$(jget "$H_TMP/a.status.json" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "flows broken" 0 "$(jget "$H_TMP/a.status.json" 'j["pipeline"]["flows"]["broken"]')"
assert_eq "replay completed" "$NCONN" "$(jget "$H_TMP/a.status.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
agent_stop_checked

# --- B. crafted captures replayed into the mirror interface ---------------------------------------
"$PYTHON" "$H_TOOLS/craft_pcap.py" --out-pcap "$H_TMP/crafted.pcap" --out-conns "$H_TMP/crafted.conns" \
  --out-hole "$H_TMP/hole.json" >"$H_TMP/craft.json" || fail "craft_pcap.py failed"
log "crafted capture: $(cat "$H_TMP/craft.json")"
NCRAFT=$(wc -l <"$H_TMP/crafted.conns")
: >"$H_TMP/shadow.jsonl"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW" --gap-timeout-ms 1000
agent_status "$H_TMP/b0.json"
timeout 30 ip netns exec "$NS_SRV" tcpreplay -q -i "$AGENT_MIRROR_TX" --topspeed "$H_TMP/crafted.pcap" >"$H_TMP/tcpreplay.log" 2>&1 ||
  fail "tcpreplay failed: $(cat "$H_TMP/tcpreplay.log")"
log "tcpreplay: $(grep -E 'Actual|Failed' "$H_TMP/tcpreplay.log" | tr -s ' \n' ' ')"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' $((NCRAFT + 1)) 15 || true
agent_settle b 5 "crafted capture"
assert_eq "frames read from $AGENT_MIRROR_RX (all of the capture)" "$(jget "$H_TMP/craft.json" 'j["frames"]')" \
  "$(($(jget "$H_TMP/b.status.json" 'j["pipeline"]["capture"]["frames"]') - $(jget "$H_TMP/b0.json" 'j["pipeline"]["capture"]["frames"]')))"
# Every complete crafted connection: exactly the original stream, ended by FIN.
grep -v '"CID hole' "$H_TMP/shadow.jsonl" >"$H_TMP/shadow.complete.jsonl" || true
compare_streams "$H_TMP/b.compare.json" --client "$H_TMP/crafted.conns" --shadow "$H_TMP/shadow.complete.jsonl" --port "$SHADOW"
# The hole: the prefix before it, nothing after, then a reset.
hole_check=$("$PYTHON" - "$H_TMP/shadow.jsonl" "$H_TMP/hole.json" <<'PY'
import json, sys
want = json.load(open(sys.argv[2]))
got = [r for r in map(json.loads, open(sys.argv[1])) if r.get("event") == "close" and r["head"].startswith("CID hole")]
if len(got) != 1:
    print("expected 1 shadow connection for the hole capture, got %d" % len(got)); sys.exit()
g = got[0]
bad = []
if g["bytes"] != want["bytes"] or g["sha256"] != want["sha256"]:
    bad.append("received %d bytes (sha %s...), expected exactly the %d bytes before the hole (sha %s...); %d were sent around it"
               % (g["bytes"], g["sha256"][:12], want["bytes"], want["sha256"][:12], want["sent_bytes"]))
if g["end"] != "rst":
    bad.append("ended with %s, expected a reset" % g["end"])
print("; ".join(bad) or "ok")
PY
)
[ "$hole_check" = ok ] || fail "hole capture: $hole_check"
log "ok: hole capture: the shadow got exactly the $(jget "$H_TMP/hole.json" 'j["bytes"]') bytes before the hole, then a reset"
assert_eq "flows started (crafted)" $((NCRAFT + 1)) "$(jget "$H_TMP/b.status.json" 'j["pipeline"]["flows"]["started"]')"
assert_eq "flows completed (crafted)" "$NCRAFT" "$(jget "$H_TMP/b.status.json" 'j["pipeline"]["flows"]["completed"]')"
assert_eq "flows broken (the hole)" 1 "$(jget "$H_TMP/b.status.json" 'j["pipeline"]["flows"]["broken"]')"
assert_eq "replay completed (crafted)" "$NCRAFT" "$(jget "$H_TMP/b.status.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_eq "replay aborted (the hole)" 1 "$(jget "$H_TMP/b.status.json" 'j["pipeline"]["replay"]["targets"][0]["aborted"]')"
agent_stop_checked
