#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One regex must not freeze the agent (issue #13). An exclusion `regex: "(a+)+b"` on a header —
# exponential for a backtracking engine (std::regex spent minutes on 32 "a"s) — against requests
# whose header holds 32 to 4096 "a"s, on many connections, while /healthz is polled. RE2 decides
# each in linear time: /healthz answers within 1 s every time, every connection is replayed with
# every request, and the rule still works (a value that ends in "b" is excluded).
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
CFG="$H_TMP/shadowtap.yaml"
CONNS=40
PER_CONN=5

e2e_make_pair

start_service primary 0.0.0.0 8080 ok
start_service shadow 127.0.0.1 9401 ok

cat >"$CFG" <<YAML
interface: $SRV_IF
services:
  - port: 8080
    protocol: http
    mirror: {host: 127.0.0.1, port: 9401}
    http:
      exclude:
        - headers: {x-probe: {regex: "(a+)+b"}}
YAML
agent_start --iface "$SRV_IF" --config "$CFG"

# /healthz, polled every 100 ms from the server namespace while the client runs and the agent
# replays (until the agent has settled, and at least 10 times): the slowest answer (or 99 for a
# failed one) is kept.
cat >"$H_TMP/poll_healthz.py" <<'PY'
import os, sys, time, subprocess
out, done = sys.argv[1], sys.argv[2]
worst, n = 0.0, 0
while (n < 10 or not os.path.exists(done)) and n < 600:
    t = subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code} %{time_total}",
                        "http://127.0.0.1:9477/healthz"], capture_output=True, text=True).stdout.split()
    n += 1
    worst = max(worst, float(t[1]) if len(t) == 2 and t[0] == "200" else 99.0)
    time.sleep(0.1)
open(out, "w").write("%d %.3f\n" % (n, worst))
PY
h_bg ip netns exec "$NS_SRV" "$PYTHON" "$H_TMP/poll_healthz.py" "$H_TMP/healthz.txt" "$H_TMP/client.done"

log "client: $CONNS connections x $PER_CONN requests, x-probe of 32..4096 'a's (one in 10 ends in 'b': excluded)"
timeout 100 ip netns exec "$NS_CLI" "$PYTHON" - "$SRV4" "$CONNS" "$PER_CONN" "$H_TMP/plan.json" <<'PY' || fail "client failed"
import http.client, json, sys
host, conns, per, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
plan = []
for c in range(conns):
    conn = http.client.HTTPConnection(host, 8080, timeout=10)
    for k in range(per):
        i = c * per + k
        probe = "a" * (32 << (i % 8))          # 32 .. 4096
        excluded = i % 10 == 9
        if excluded:
            probe += "b"
        conn.request("GET", "/items/%d" % (i % 20 + 1), headers={"Host": "items.e2e:8080", "x-probe": probe})
        r = conn.getresponse()
        r.read()
        plan.append({"conn": c, "excluded": excluded, "status": r.status})
    conn.close()
json.dump(plan, open(out, "w"))
PY
agent_settle regex
S="$H_TMP/regex.status.json"
touch "$H_TMP/client.done"
for _ in $(seq 100); do [ -s "$H_TMP/healthz.txt" ] && break; sleep 0.1; done

read -r polls worst <"$H_TMP/healthz.txt"
log "/healthz: $polls polls during the traffic, slowest ${worst}s"
assert_gt "/healthz polls" 3 "$polls"
"$PYTHON" -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)" "$worst" ||
  fail "/healthz took ${worst}s (>= 1 s): the agent's loop was stuck"
log "ok: /healthz always answered within 1 s"

WANT=$(jget "$H_TMP/plan.json" 'sum(1 for r in j if not r["excluded"])')
EXCLUDED=$(jget "$H_TMP/plan.json" 'sum(1 for r in j if r["excluded"])')
wait_records "$H_TMP/shadow.jsonl" '"method"' "$WANT" 10 || true
assert_eq "requests the shadow got (every one not excluded)" "$WANT" "$(count_lines "$H_TMP/shadow.jsonl" '"method"')"
assert_eq "http excluded" "$EXCLUDED" "$(jget "$S" 'j["pipeline"]["http"]["excluded"]')"
assert_eq "connections replayed (opened)" "$CONNS" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["opened"]')"
assert_eq "replays completed" "$CONNS" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
assert_eq "privacy_stopped" 0 "$(jget "$S" 'j["pipeline"]["http"]["privacy_stopped"]')"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
