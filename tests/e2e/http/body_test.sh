#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Body comparison against a baseline, Diffy-style (issue #13). Three copies of one JSON service:
# the primary, a baseline (the same code: a second copy of the primary's version) and a candidate
# that says "in_stock": false for ids divisible by 3; every response of all three carries a random
# "nonce". With --compare-body --baseline, the nonce differs between primary and baseline on every
# request: it is noise and is never reported for the candidate. Checks, from `report --json`: the
# candidate's bodies were all compared, exactly the flipped responses differ, at $.in_stock only;
# the baseline row names $.nonce; the text report and /metrics carry the counts.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
COUNT=120

e2e_make_pair

h_serve primary "$NS_SRV" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name primary --listen 0.0.0.0 --port 8080 \
  --behaviour ok --same-body --random-field --log "$H_TMP/primary.jsonl"
h_serve baseline "$NS_SRV" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name baseline --listen 127.0.0.1 --port 9501 \
  --behaviour ok --same-body --random-field --log "$H_TMP/baseline.jsonl"
h_serve candidate "$NS_SRV" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name candidate --listen 127.0.0.1 --port 9502 \
  --behaviour flip --same-body --random-field --log "$H_TMP/candidate.jsonl"
BASELINE=127.0.0.1:9501
CANDIDATE=127.0.0.1:9502

agent_start --iface "$SRV_IF" --port 8080 --protocol http --shadow "$CANDIDATE" \
  --compare-body --baseline "$BASELINE"

log "client: $COUNT requests over keep-alive connections of 4"
timeout 100 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_requests.py" --host "$SRV4" --port 8080 \
  --count "$COUNT" --per-conn 4 --out "$H_TMP/plan.json" || fail "client failed"

for _ in $(seq 100); do
  agent_status "$H_TMP/status.json"
  [ "$(jget "$H_TMP/status.json" "j['pipeline']['http']['shadow_responses'] >= 2 * $COUNT and j['pipeline']['flows']['active'] == 0")" = true ] && break
  sleep 0.2
done
agent_settle body
st report --iface "$SRV_IF" --json >"$H_TMP/report.json" || fail "report --json failed"
st report --iface "$SRV_IF" >"$H_TMP/report.txt" || fail "report failed"
sed -n '/response bodies/,$p' "$H_TMP/report.txt"

"$PYTHON" - "$H_TMP/plan.json" "$H_TMP/report.json" "$CANDIDATE" "$BASELINE" <<'PY' || fail "body comparison checks failed"
import json, sys
plan, report = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
candidate, baseline = sys.argv[3], sys.argv[4]
flipped = sum(1 for r in plan if r["id"] % 3 == 0)
rows = report["body_diffs"]
failures = []
def total(target, key):
    return sum(r[key] for r in rows if r["target"] == target)
def paths(target):
    out = {}
    for r in rows:
        if r["target"] == target:
            for p, n in r["paths"].items():
                out[p] = out.get(p, 0) + n
    return out
def check(what, ok, detail):
    print(("ok: " if ok else "FAIL: ") + what + " (" + detail + ")")
    if not ok:
        failures.append(what)
check("every candidate body compared", total(candidate, "compared") == len(plan),
      "%d of %d" % (total(candidate, "compared"), len(plan)))
check("the candidate differs on exactly the flipped responses", total(candidate, "different") == flipped,
      "%d vs %d flipped" % (total(candidate, "different"), flipped))
check("named at $.in_stock only, never at the random $.nonce", paths(candidate) == {"$.in_stock": flipped},
      json.dumps(paths(candidate)))
check("the baseline's row names the noise ($.nonce, on every response)", paths(baseline).get("$.nonce") == len(plan)
      and all(r["role"] == "baseline" for r in rows if r["target"] == baseline), json.dumps(paths(baseline)))
check("the candidate's rows say role candidate", all(r["role"] == "candidate" for r in rows if r["target"] == candidate), "")
sys.exit(1 if failures else 0)
PY
grep -q "in_stock" "$H_TMP/report.txt" || fail "the text report does not name \$.in_stock"
ip netns exec "$NS_SRV" curl -sf http://127.0.0.1:9477/metrics >"$H_TMP/metrics.txt" || fail "/metrics failed"
grep -q "shadowtap_http_body_different_total{target=\"$CANDIDATE\".*role=\"candidate\"} [1-9]" "$H_TMP/metrics.txt" ||
  fail "no shadowtap_http_body_different_total for the candidate in /metrics"
log "ok: /metrics exports the body comparison"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
