#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP mode end to end: a primary and two shadows in the server namespace — one adds
# DELAY_MS to /items/{id}/reviews, one answers 500 for even ids — and the agent mirroring port 8080
# with --protocol http, an exclusion header, a removed and a set header. A client sends a fixed
# plan of requests (tests/tools/http_requests.py) plus one non-HTTP stream on the same port. Then
# tests/tools/check_http.py checks the report (counts per route x target x code, the slow shadow's
# latency within tolerance, the failing shadow's 500s and disagreements), the counters, and
# what each shadow received (no excluded request, headers rewritten, and — these rules being
# privacy rules — not the non-HTTP stream, which cannot be vetted: privacy_test.sh has the
# rule-less raw fall-back).
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
DELAY_MS=300

e2e_make_pair

start_service primary 0.0.0.0 8080 ok
start_service slow 127.0.0.1 9101 slow "$DELAY_MS"
start_service fail 127.0.0.1 9102 fail
SLOW=127.0.0.1:9101
FAILING=127.0.0.1:9102

agent_start --iface "$SRV_IF" --port 8080 --protocol http --shadow "$SLOW" --shadow "$FAILING" \
  --exclude-header 'end-user: e2e-excluded' --remove-header Authorization --set-header 'x-shadowtap: e2e'

log "client: 120 requests over keep-alive connections of 4"
timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_requests.py" --host "$SRV4" --port 8080 \
  --count 120 --per-conn 4 --out "$H_TMP/plan.json" || fail "client failed"

log "client: one non-HTTP stream (256 KiB of random bytes) on the same port"
head -c 262144 /dev/urandom >"$H_TMP/blob.bin"
BLOB_SHA=$(sha256sum "$H_TMP/blob.bin" | cut -d' ' -f1)
timeout 20 ip netns exec "$NS_CLI" "$PYTHON" - "$SRV4" "$H_TMP/blob.bin" <<'PY' || fail "non-HTTP client failed"
import socket, sys
s = socket.create_connection((sys.argv[1], 8080), timeout=10)
s.sendall(open(sys.argv[2], "rb").read())
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
PY

# The shadows answer in their own time (the slow one takes DELAY_MS per review): wait, bounded,
# until no replay is active and every mirrored request has its two shadow answers.
MIRRORED=$(jget "$H_TMP/plan.json" 'sum(1 for r in j if not r["excluded"])')
for _ in $(seq 100); do
  status_json "$SRV_IF" "$H_TMP/status.json"
  done_now=$(jget "$H_TMP/status.json" "sum(t['active'] for t in j['pipeline']['replay']['targets']) == 0 and j['pipeline']['http']['shadow_responses'] >= 2 * $MIRRORED and j['pipeline']['flows']['active'] == 0")
  [ "$done_now" = "true" ] && break
  sleep 0.2
done
st report --iface "$SRV_IF" --json >"$H_TMP/report.json" || fail "report --json failed"
st report --iface "$SRV_IF" >"$H_TMP/report.txt" || fail "report failed"
cat "$H_TMP/report.txt"
st status --iface "$SRV_IF" >"$H_TMP/status.txt" || fail "status failed"
# HTTP compares the responses: they are captured whole (TCP mode copies only their headers).
assert_eq "responses captured up to their TCP header only (http mode)" 0 \
  "$(jget "$H_TMP/status.json" 'j["pipeline"]["capture"]["response_headers_only"]')"
grep -q "^http:" "$H_TMP/status.txt" || fail "status shows no http section: $(cat "$H_TMP/status.txt")"
grep -q "^connections, wire to shadow" "$H_TMP/status.txt" || fail "status shows no ledger: $(cat "$H_TMP/status.txt")"
grep -q "taken whole by" "$H_TMP/status.txt" || fail "the ledger has no per-target stage: $(cat "$H_TMP/status.txt")"

"$PYTHON" "$H_TOOLS/check_http.py" "$H_TMP/plan.json" "$H_TMP/report.json" "$H_TMP/status.json" \
  "$H_TMP/slow.jsonl" "$H_TMP/fail.jsonl" "$BLOB_SHA" "$SLOW" "$FAILING" "$DELAY_MS" ||
  fail "HTTP checks failed (report: $(head -c 3000 "$H_TMP/report.json"))"

# The same numbers reach Prometheus, with target/route/code labels.
ip netns exec "$NS_SRV" curl -sf http://127.0.0.1:9477/metrics >"$H_TMP/metrics.txt" || fail "/metrics failed"
grep -q "shadowtap_http_response_duration_seconds_bucket{.*target=\"$FAILING\".*route=\"GET /items/{id}\".*code=\"500\"" "$H_TMP/metrics.txt" ||
  grep -q "shadowtap_http_response_duration_seconds_bucket{.*code=\"500\".*" "$H_TMP/metrics.txt" ||
  fail "no labelled duration histogram for the failing shadow's 500s in /metrics"
log "ok: /metrics exports the comparison as labelled histograms"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
