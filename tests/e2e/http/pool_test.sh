#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pooled HTTP replay (--http-pool) end to end, on churn: clients that send one request per
# connection with `Connection: close` (8 at a time, N connections), the agent on the primary's
# NIC with --protocol http --http-pool. Checks:
#  - every primary request is accounted for: at the shadow, or in a counter (pool_shed, or a pool
#    connection that never got its answer: shadow_no_response); here the shadow keeps up, so all;
#  - the shadow got them over at most the pool's 64 connections (not one per client connection),
#    each request's copy without `Connection: close` and with the Host `-shadow` suffix;
#  - the counters add up (st_json.py identities, the wire-to-shadow ledger), and the pool's
#    connections, idle, are closed with a FIN and counted completed;
#  - SIGTERM: the agent exits cleanly.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
CONNS=400

e2e_make_pair
start_service primary 0.0.0.0 8080 ok
start_service shadow 127.0.0.1 9101 ok
agent_start --iface "$SRV_IF" --port 8080 --protocol http --http-pool --shadow 127.0.0.1:9101

log "client: $CONNS connections of one request each (Connection: close), 8 at a time"
timeout 120 ip netns exec "$NS_CLI" "$PYTHON" - "$SRV4" "$CONNS" >"$H_TMP/client.txt" 2>&1 <<'PY' || fail "client failed: $(cat "$H_TMP/client.txt")"
import socket, sys
from concurrent.futures import ThreadPoolExecutor
host, conns = sys.argv[1], int(sys.argv[2])
def one(i):
    s = socket.create_connection((host, 8080), timeout=10)
    s.sendall(b"GET /items/%d HTTP/1.1\r\nHost: books\r\nConnection: close\r\n\r\n" % (i % 20 + 1))
    got = b""
    while True:
        data = s.recv(65536)
        if not data:
            break
        got += data
    s.close()
    return got.startswith(b"HTTP/1.1 200 ")
with ThreadPoolExecutor(8) as pool:
    ok = sum(pool.map(one, range(conns)))
print(ok)
PY
assert_eq "primary answered every request 200" "$CONNS" "$(cat "$H_TMP/client.txt")"

# Bounded wait: every mirrored request answered by the shadow or counted as not.
for _ in $(seq 100); do
  status_json "$SRV_IF" "$H_TMP/status.json"
  [ "$(jget "$H_TMP/status.json" 'j["pipeline"]["http"]["shadow_responses"] + j["pipeline"]["http"]["shadow_no_response"] + sum(t["pool_shed"] for t in j["pipeline"]["replay"]["targets"]) >= j["pipeline"]["http"]["mirrored"] and j["pipeline"]["flows"]["active"] == 0')" = true ] && break
  sleep 0.2
done
MIRRORED=$(jget "$H_TMP/status.json" 'j["pipeline"]["http"]["mirrored"]')
SHED=$(jget "$H_TMP/status.json" 'sum(t["pool_shed"] for t in j["pipeline"]["replay"]["targets"])')
NO_RESPONSE=$(jget "$H_TMP/status.json" 'j["pipeline"]["http"]["shadow_no_response"]')
AT_SHADOW=$(jlines "$H_TMP/shadow.jsonl" 'len(s)')
assert_eq "requests mirrored (every one the primary answered)" "$CONNS" "$MIRRORED"
assert_eq "at the shadow + pool_shed + no response = mirrored" "$MIRRORED" "$((AT_SHADOW + SHED + NO_RESPONSE))"
assert_eq "requests at the shadow (it keeps up: none shed)" "$CONNS" "$AT_SHADOW"
SHADOW_CONNS=$(jlines "$H_TMP/shadow.jsonl" 'len(set(r["conn"] for r in s))')
log "the shadow got $AT_SHADOW requests over $SHADOW_CONNS connections"
assert_between "connections the shadow got (the pool keeps at most 64)" 1 64 "$SHADOW_CONNS"
assert_eq "pool connections opened = connections at the shadow" "$SHADOW_CONNS" \
  "$(jget "$H_TMP/status.json" 'j["pipeline"]["replay"]["targets"][0]["pool_opened"]')"
assert_eq "flows replayed over the pool" "$CONNS" "$(jget "$H_TMP/status.json" 'j["pipeline"]["replay"]["targets"][0]["pooled"]')"
assert_eq "copies asking to close the connection" 0 \
  "$(jlines "$H_TMP/shadow.jsonl" 'sum(1 for r in s if any("close" in v.lower() for v in r["headers"].get("connection", [])))')"
assert_eq "copies with Host books-shadow" "$CONNS" \
  "$(jlines "$H_TMP/shadow.jsonl" 'sum(1 for r in s if r["headers"].get("host") == ["books-shadow"])')"
check_identities "$H_TMP/status.json" --flows

# Idle past the pool's idle timeout (4 s): its connections close with a FIN, each completed.
for _ in $(seq 60); do
  status_json "$SRV_IF" "$H_TMP/idle.json"
  [ "$(jget "$H_TMP/idle.json" 'j["pipeline"]["replay"]["targets"][0]["active"]')" = 0 ] && break
  sleep 0.25
done
assert_eq "pool connections open after the idle timeout" 0 "$(jget "$H_TMP/idle.json" 'j["pipeline"]["replay"]["targets"][0]["active"]')"
assert_eq "pool connections completed" "$SHADOW_CONNS" "$(jget "$H_TMP/idle.json" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
check_identities "$H_TMP/idle.json" --flows
assert_eq "ledger: nothing unexplained after the capture stage" 0 \
  "$(jget "$H_TMP/idle.json" 'sum(abs(r["unexplained"]) for r in j["ledger"][1:])')"
agent_stop_checked
log "PASS: pooled replay: $CONNS one-request connections reached the shadow over $SHADOW_CONNS connections, every request accounted for"
