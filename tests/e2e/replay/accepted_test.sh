#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Replay only what the server accepted. The agent follows each connection's handshake and the
# server's acknowledgements, so the shadow gets exactly the bytes the primary took:
#   A. a spoofed client half (SYN, data, FIN from an address the server's firewall drops; no
#      SYN-ACK is ever sent) never reaches the shadow; it is counted never_established + unacked.
#   B. a segment with a bad checksum (different bytes; the server's kernel drops it), then the good
#      retransmission: the shadow gets the good bytes.
#   C. two RSTs that are not at the next sequence number (one in window, one far outside) do not
#      end the flow: the shadow gets the whole stream and a FIN.
#   D. TCP Fast Open: data in the SYN is part of the stream; every connection byte-identical.
#   E. the server resets right after a complete request: the shadow still gets that request whole.
# The crafted clients (A-C) are tests/tools/tcp_craft.py (scapy) in the client namespace.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"
"$PYTHON" -c 'import scapy' 2>/dev/null || fail "python3-scapy is needed (scripts/deps.sh installs it)"

CRAFT_PORT=18100 TFO_PORT=18101 RESET_PORT=18102 SHADOW=19110
SPOOF4="$H_NET.0.99"
craft() { timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/tcp_craft.py" "$@"; }

# The client namespace owns no socket for the crafted connections: its kernel would reset them.
# The crafted packets leave with TTL 63 (tcp_craft.py), the kernel's own with 64: drop only the
# kernel's RSTs to the crafted port.
in_cli nft -f - <<NFT || fail "cannot install the client namespace's rules"
table inet accepted {
  chain output { type filter hook output priority 0; policy accept; tcp dport $CRAFT_PORT tcp flags & rst == rst ip ttl 64 drop; }
}
NFT
# The server's firewall drops the spoofing address (before TCP, after the tap: tc ingress runs first).
in_srv nft -f - <<NFT || fail "cannot install the server's firewall"
table inet accepted {
  chain input { type filter hook input priority 0; policy accept; ip saddr $SPOOF4 drop; }
}
NFT
ip -n "$NS_CLI" addr add "$SPOOF4/24" dev "$CLI_IF"
in_cli sysctl -qw net.ipv4.tcp_fastopen=1
in_srv sysctl -qw net.ipv4.tcp_fastopen=2

RECORDER_NS="$NS_SRV" serve_recorder primary "$H_TMP/primary.jsonl" --port "$CRAFT_PORT"
h_serve tfo "$NS_SRV" "$PYTHON" "$H_TOOLS/tcp_craft.py" tfo-serve --port "$TFO_PORT"
h_serve reset "$NS_SRV" "$PYTHON" "$H_TOOLS/tcp_craft.py" reset-serve --port "$RESET_PORT"
serve_recorder shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
agent_start --iface "$SRV_IF" --port "$CRAFT_PORT,$TFO_PORT,$RESET_PORT" --percent 100 --shadow "$SHD4:$SHADOW"

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
shadow_field() { # HEAD_PREFIX EXPR: EXPR on the one "close" record whose head starts with HEAD_PREFIX
  jlines "$H_TMP/shadow.jsonl" "[r for r in s if r.get('event') == 'close' and r['head'].startswith('$1')]" >/dev/null
  jlines "$H_TMP/shadow.jsonl" "(lambda m: ($2) if len(m) == 1 else 'records: %d' % len(m))([r for r in s if r.get('event') == 'close' and r['head'].startswith('$1')])"
}

# --- A ---
log "A: spoofed client half: $(craft spoof-half --src "$SPOOF4" --dst "$SRV4" --dport "$CRAFT_PORT" --payload $'CID spoof\nGET /admin HTTP/1.1\r\n\r\n')"

# --- B ---
GOOD=$'CID badsum\nGOOD bytes, the ones the server took'
BAD="${GOOD/GOOD/EVIL}" # same length, other bytes
out=$(craft badsum --src "$CLI4" --dst "$SRV4" --dport "$CRAFT_PORT" --good "$GOOD" --bad "$BAD") ||
  fail "B: the crafted connection did not go as planned: $out"
log "B: $out"

# --- C ---
FIRST=$'CID rstwin\nfirst part, then two RSTs the server ignores, '
SECOND='then the second part.'
out=$(craft rst-window --src "$CLI4" --dst "$SRV4" --dport "$CRAFT_PORT" --first "$FIRST" --second "$SECOND") ||
  fail "C: the crafted connection did not go as planned: $out"
log "C: $out"

# --- D ---
timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/tcp_craft.py" tfo-client --dst "$SRV4" --port "$TFO_PORT" \
  --count 4 --prefix "CID tfo" >"$H_TMP/tfo.json" 2>"$H_TMP/tfo.err" || fail "D: TFO client failed: $(cat "$H_TMP/tfo.json" "$H_TMP/tfo.err")"
log "D: $(cat "$H_TMP/tfo.json")"
assert_ge "D: connections whose SYN data the server acknowledged (TCP_INFO)" 1 "$(jget "$H_TMP/tfo.json" 'j["syn_data_acked"]')"

# --- E ---
REQUEST=$'CID reset\nPOST /upload HTTP/1.1\r\nHost: primary\r\nContent-Length: 5\r\n\r\nhello'
in_cli "$PYTHON" - "$SRV4" "$RESET_PORT" "$REQUEST" <<'PY' || fail "E: the client did not see the server's reset"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(sys.argv[3].encode())
try:
    c.recv(100)
except ConnectionResetError:
    sys.exit(0)
sys.exit(1)
PY

wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 7 20 || true
sleep 11 # the spoofed half's handshake timeout (10 s): then it is counted
agent_status "$H_TMP/status.json"
log "flows: $(jget "$H_TMP/status.json" 'j["pipeline"]["flows"]')"

assert_eq "A: shadow connections carrying the spoofed request" 0 "$(jlines "$H_TMP/shadow.jsonl" "sum(1 for r in s if r.get('head', '').startswith('CID spoof'))")"
assert_eq "A: primary connections from the spoofing address (its firewall)" 0 "$(jlines "$H_TMP/primary.jsonl" "sum(1 for r in s if r.get('head', '').startswith('CID spoof'))")"
assert_eq "A: flows never established (the spoofed half)" 1 "$(jget "$H_TMP/status.json" 'j["pipeline"]["flows"]["never_established"]')"
assert_ge "A: flows that ended holding unacknowledged bytes" 1 "$(jget "$H_TMP/status.json" 'j["pipeline"]["flows"]["unacked"]')"
assert_eq "B: the shadow got the good bytes" "$(sha "$GOOD") ${#GOOD} eof" "$(shadow_field 'CID badsum' "m[0]['sha256'] + ' ' + str(m[0]['bytes']) + ' ' + m[0]['end']")"
assert_eq "C: the shadow got both parts, then a FIN" "$(sha "$FIRST$SECOND") $((${#FIRST} + ${#SECOND})) eof" \
  "$(shadow_field 'CID rstwin' "m[0]['sha256'] + ' ' + str(m[0]['bytes']) + ' ' + m[0]['end']")"
assert_ge "C: RSTs ignored (not at the next sequence number)" 2 "$(jget "$H_TMP/status.json" 'j["pipeline"]["flows"]["rst_ignored"]')"
for i in 0 1 2 3; do
  assert_eq "D: TFO connection $i byte-identical at the shadow" "$(jget "$H_TMP/tfo.json" "j['streams'][$i]['sha256']")" \
    "$(shadow_field "CID tfo $i" "m[0]['sha256']")"
done
assert_eq "E: the shadow got the whole request, then a FIN" "$(sha "$REQUEST") ${#REQUEST} eof" \
  "$(shadow_field 'CID reset' "m[0]['sha256'] + ' ' + str(m[0]['bytes']) + ' ' + m[0]['end']")"
assert_eq "E: flows reset by the server" 1 "$(jget "$H_TMP/status.json" 'j["pipeline"]["flows"]["server_reset"]')"
check_identities "$H_TMP/status.json" --flows
agent_stop_checked
