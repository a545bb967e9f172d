#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Privacy rules that cannot be bypassed (issue #13). The agent mirrors port 8080 with an exclusion
# (`end-user: bbo`) and `Authorization` removed, and port 8081 with no rule at all, to a raw
# recorder that keeps every byte it gets. A client then tries the two known bypasses on 8080:
#   B  an excluded request whose chunked body does not parse, then the excluded user's next
#      request with its credential (the stream used to turn into raw passthrough);
#   C  an excluded request asking for an Upgrade, then WebSocket bytes and the next request;
# plus A, an ordinary request with a credential on its own connection, and D, a non-HTTP stream
# on the rule-less port 8081. Checks: no byte of B or C (no credential, no marker) reaches the
# recorder — not even a connection; A does, without its credential; D does, byte for byte (the raw
# fall-back stays where nothing is private); both stops are counted as privacy_stopped.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
CFG="$H_TMP/shadowtap.yaml"

e2e_make_pair

RECORDER_NS="$NS_SRV" serve_recorder shadow "$H_TMP/shadow.jsonl" --host 127.0.0.1 --port 9301 --keep 1048576
RECORDER_NS="$NS_SRV" serve_recorder primary "$H_TMP/primary.jsonl" --port 8080 --port 8081

cat >"$CFG" <<YAML
interface: $SRV_IF
services:
  - port: 8080
    protocol: http
    mirror: {host: 127.0.0.1, port: 9301}
    http:
      exclude:
        - headers: {end-user: {exact: bbo}}
      headers:
        request:
          remove: [authorization]
  - port: 8081
    protocol: http
    mirror: {host: 127.0.0.1, port: 9301}
YAML
agent_start --iface "$SRV_IF" --config "$CFG"

head -c 65536 /dev/urandom >"$H_TMP/blob.bin"
BLOB_SHA=$(sha256sum "$H_TMP/blob.bin" | cut -d' ' -f1)

log "client: A (ordinary), B (malformed chunked after an exclusion), C (excluded Upgrade), D (not HTTP, no rules)"
timeout 60 ip netns exec "$NS_CLI" "$PYTHON" - "$SRV4" "$H_TMP/blob.bin" <<'PY' || fail "client failed"
import socket, sys, time
host, blob = sys.argv[1], open(sys.argv[2], "rb").read()

def conn(port, *parts):
    s = socket.create_connection((host, port), timeout=10)
    for part in parts:
        s.sendall(part)
        time.sleep(0.05)  # separate segments: the stage must not depend on how bytes arrive
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
    s.close()

conn(8080, b"GET /ordinary HTTP/1.1\r\nHost: books:8080\r\nAuthorization: Bearer SECRET-A\r\n\r\n")
conn(8080,
     b"POST /bbo/upload HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-B1\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n",
     b"GET /bbo/next HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-B2\r\n\r\n")
conn(8080,
     b"GET /bbo/chat HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-C1\r\n"
     b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
     b"\x81\x05hello",
     b"GET /bbo/after HTTP/1.1\r\nHost: books:8080\r\nend-user: bbo\r\nAuthorization: Bearer SECRET-C2\r\n\r\n")
conn(8081, blob)
PY

agent_settle privacy
S="$H_TMP/privacy.status.json"
wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 2 10 || true
sleep 1 # anything that should not arrive would show now

"$PYTHON" - "$H_TMP/shadow.jsonl" "$BLOB_SHA" <<'PY' || fail "the shadow got what it must not (records above)"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
closes = [r for r in records if r.get("event") == "close"]
failures = []
for r in closes:
    print("shadow connection from port %s: %d bytes, sha %s..., starts %r" % (r["peer_port"], r["bytes"], r["sha256"][:12], r["data"][:60]))
    if r["sha256"] == sys.argv[2]:
        continue  # D: random bytes, which may hold anything
    for needle in ("SECRET-B", "SECRET-C", "bbo", "hello"):
        if needle in r["data"]:
            failures.append("%r reached the shadow" % needle)
ordinary = [r for r in closes if r["data"].startswith("GET /ordinary ")]
if len(ordinary) != 1:
    failures.append("the ordinary request A reached the shadow %d times, not once" % len(ordinary))
elif "authorization" in ordinary[0]["data"].lower() or "SECRET-A" in ordinary[0]["data"]:
    failures.append("A reached the shadow with its credential")
if [r["sha256"] for r in closes if not r["data"].startswith("GET ")] != [sys.argv[2]]:
    failures.append("the non-HTTP stream D (no rules) did not reach the shadow byte for byte")
if len(closes) != 2:
    failures.append("the shadow saw %d connections, not 2 (A and D): B and C must not even connect" % len(closes))
for f in failures:
    print("FAIL: " + f)
sys.exit(1 if failures else 0)
PY
log "ok: no credential or marker of B and C reached the shadow; A did without its credential; D byte for byte"

assert_eq "http privacy_stopped (B and C)" 2 "$(jget "$S" 'j["pipeline"]["http"]["privacy_stopped"]')"
assert_eq "http excluded requests (B's first, C's upgrade)" 2 "$(jget "$S" 'j["pipeline"]["http"]["excluded"]')"
assert_eq "http mirrored requests (A)" 1 "$(jget "$S" 'j["pipeline"]["http"]["mirrored"]')"
assert_eq "http not_http flows (D)" 1 "$(jget "$S" 'j["pipeline"]["http"]["not_http"]')"
assert_eq "replays never opened for B and C (skipped_empty)" 2 "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["skipped_empty"]')"
assert_eq "replays completed (A and D)" 2 "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
