#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A fair comparison (issue #13): the primary and an IDENTICAL shadow — the same server, answering
# each request in one write, one veth hop from the agent's host each — must show the same latency.
# The primary is timed from packet timestamps on the tap, the shadow from kernel timestamps on the
# replay socket (SO_TIMESTAMPING), both from the request's last byte to the response's last byte;
# before, the shadow was timed on the agent's event loop and showed about twice the primary's p50.
# The shadow also gets the primary's pace (each request no earlier than its ingress time + 50 ms):
# without it a capture block's requests reached the shadow in one burst, pipelined (ratios of 0.01
# to 0.5 seen). The client thinks 2 ms (GAP_MS) before each request, as clients do, so the test's
# own four processes on a small machine do not turn the comparison into one of CPU contention.
# Both servers think 1 ms (THINK_MS) before each answer, the regime the event-loop timing bug was
# measured in (shadow p50 1.96 ms against the primary's 1.02): with answers of 0.1 ms the check
# measured a constant offset instead — the shadow's p50 was 25-35 us above the primary's on every
# run on a 2-vCPU VM, with the agent of before this change too (its cause is not found yet; README,
# HTTP mode) — and failed in 2 of 4 runs at +-25 % of 0.1 ms. At 1.25 ms: 0.99-1.01x.
# Check: on every route, the shadow's p50 is within +-25 % of the primary's.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
COUNT=300

H_NET=10.79
h_topology tim --shadow
h_tap_register "$NS_SRV" "$SRV_IF"

h_serve primary "$NS_SRV" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name primary --listen 0.0.0.0 --port 8080 \
  --behaviour ok --same-body --think-ms "${THINK_MS:-1}" --log "$H_TMP/primary.jsonl"
h_serve shadow "$NS_SHD" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name shadow --listen "$SHD4" --port 8080 \
  --behaviour ok --same-body --think-ms "${THINK_MS:-1}" --log "$H_TMP/shadow.jsonl"

agent_start --iface "$SRV_IF" --port 8080 --protocol http --shadow "$SHD4:8080"

log "client: $COUNT requests over keep-alive connections of 4"
timeout 100 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_requests.py" --host "$SRV4" --port 8080 \
  --count "$COUNT" --per-conn 4 --gap-ms "${GAP_MS:-2}" --out "$H_TMP/plan.json" || fail "client failed"

agent_settle timing
for _ in $(seq 50); do
  agent_status "$H_TMP/timing.status.json"
  [ "$(jget "$H_TMP/timing.status.json" "j['pipeline']['http']['shadow_responses'] >= $COUNT")" = true ] && break
  sleep 0.2
done
st report --iface "$SRV_IF" --json >"$H_TMP/report.json" || fail "report --json failed"
st report --iface "$SRV_IF" | sed -n '1,8p'

"$PYTHON" - "$H_TMP/report.json" "$SHD4:8080" <<'PY' || fail "the identical shadow's latency is not the primary's"
import json, sys
report, shadow = json.load(open(sys.argv[1])), sys.argv[2]
rows = {(r["target"], r["route"], r["code"]): r for r in report["rows"]}
routes = sorted({r["route"] for r in report["rows"]})
bad = 0
for route in routes:
    p, s = rows.get(("primary", route, 200)), rows.get((shadow, route, 200))
    if not p or not s:
        print("FAIL: %s: no 200 rows for both (primary %s, shadow %s)" % (route, bool(p), bool(s)))
        bad += 1
        continue
    ratio = s["p50_ms"] / p["p50_ms"] if p["p50_ms"] else float("inf")
    ok = 0.75 <= ratio <= 1.25
    print("%s: %s  p50 primary %.3f ms (n=%d), shadow %.3f ms (n=%d): ratio %.2f" %
          ("ok" if ok else "FAIL", route, p["p50_ms"], p["count"], s["p50_ms"], s["count"], ratio))
    bad += 0 if ok else 1
sys.exit(1 if bad or not routes else 0)
PY
log "ok: the identical shadow's p50 is within 25 % of the primary's on every route"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
