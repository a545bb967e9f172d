#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A shadow answering with SYN cookies still gets every replay whole. A listener whose queue
# overflowed (net.ipv4.tcp_syncookies) keeps no state for a handshake: it drops our ACK and first
# data while its accept queue is full, and can later open the connection only from a segment whose
# sequence is the one right after the handshake. A FIN of ours sent on its own before the data's
# retransmission carries a later sequence: the shadow answers it with a RST, the retransmitted data
# then opens the connection, the shadow reads every byte, and our reset socket resets it (seen in
# overload_test B's catch-up burst). So our FIN waits until the shadow has acknowledged every byte.
#
# Made deterministic here: the shadow namespace always answers with cookies (tcp_syncookies=2) and
# nftables drops every segment to the shadow's port that is not a SYN, FIN or RST (our handshake's
# ACK, our data and its retransmissions) until the test lifts the rule, well after the close grace
# (200 ms) and the client's FIN. Two primaries, both close orders:
#   A. tcp_server.py reply: the primary's server closes first (the replay waits its close grace)
#   B. http_server.py + http_client.py: the client half-closes first (the replay closes at once)
# While the drop is in place no FIN of ours reaches the shadow (nft counter 0: it fails on an agent
# that half-closes with bytes unacknowledged; once the data's retransmission timer has fired the
# kernel holds the FIN behind it on its own, so the agent's 1 s wait bound does not show here);
# once the drop is lifted every replay arrives whole and
# ends with our FIN (recorder: end "eof", B byte-identical to the client), the target counts them
# completed and nothing write_failed.
# Usage: syncookie_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"

SHADOW=19600
REPLY_PORT=18090
CONNS=6
h_serve "reply" "$NS_SRV" "$PYTHON" "$H_TOOLS/tcp_server.py" --ports "$REPLY_PORT"
in_shd sysctl -qw net.ipv4.tcp_syncookies=2

# block PORT: drop our ACKs and data to the shadow's PORT (SYN, FIN and RST pass), counting the
# FINs that pass.
block() {
  in_shd nft -f - <<EOF
table inet st_cookie {
  counter fins_seen {}
  counter held {}
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport $1 tcp flags & fin == fin counter name fins_seen accept
    tcp dport $1 tcp flags & (syn | fin | rst) == 0 counter name held drop
  }
}
EOF
}
counter_packets() {
  in_shd nft -j list counter inet st_cookie "$1" |
    "$PYTHON" -c 'import json,sys; print(next(o["counter"]["packets"] for o in json.load(sys.stdin)["nftables"] if "counter" in o))'
}

# start_case NAME PRIMARY_PORT SHADOW_PORT: a recorder and an agent for the case, then the drop.
start_case() {
  serve_recorder "$1" "$H_TMP/$1.shadow.jsonl" --port "$3"
  agent_start --iface "$SRV_IF" --port "$2" --percent 100 --shadow "$SHD4:$3"
  block "$3"
}

# check_case NAME: after the client's connections (the primary never sees the drop), a pause past
# the close grace, the FIN check, the rule lifted, every stream whole.
check_case() {
  local name="$1" shadow="$H_TMP/$1.shadow.jsonl"
  sleep 1.5 # the close grace (200 ms) and more: an agent that does not wait has sent its FINs
  assert_gt "$name: our ACKs and data held back in the shadow's namespace" 0 "$(counter_packets held)"
  assert_eq "$name: FINs that reached the shadow before it acknowledged our bytes" 0 "$(counter_packets fins_seen)"
  in_shd nft delete table inet st_cookie
  wait_records "$shadow" '"event": "close"' "$CONNS" 30 ||
    fail "$name: the shadow recorded $(count_lines "$shadow" '"event": "close"') of $CONNS streams"
  assert_eq "$name: streams the shadow read to our FIN" "$CONNS" "$(count_lines "$shadow" '"end": "eof"')"
  agent_wait_idle 20 || true
  agent_status "$H_TMP/$name.json"
  assert_eq "$name: replays completed" "$CONNS" "$(jget "$H_TMP/$name.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
  assert_eq "$name: replays write_failed" 0 "$(jget "$H_TMP/$name.json" 'j["pipeline"]["replay"]["targets"][0]["write_failed"]')"
}

# ---- A: the primary's server closes first -------------------------------------------------------
start_case A "$REPLY_PORT" "$SHADOW"
timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/tcp_client.py" --host "$SRV4" --port "$REPLY_PORT" \
  --count "$CONNS" >"$H_TMP/a.client.json" 2>&1 || fail "A: client failed: $(cat "$H_TMP/a.client.json")"
check_case A
agent_stop_checked

# ---- B: the client closes first ------------------------------------------------------------------
start_case B "$PORT" $((SHADOW + 1))
: >"$H_TMP/b.conns"
http_client "$H_TMP/b.client.json" --host "$SRV4" --port "$PORT" --out-conns "$H_TMP/b.conns" --id ck --conns "$CONNS" \
  --reqs 1 --concurrency 1
check_case B
compare_streams "$H_TMP/b.compare.json" --client "$H_TMP/b.conns" --shadow "$H_TMP/B.shadow.jsonl" --port $((SHADOW + 1))
agent_stop_checked
log "syncookie_test passed"
