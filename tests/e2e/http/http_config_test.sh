#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# HTTP rules from the config file, changed live. One primary, one shadow; the
# agent runs `--config` with a mesh-shaped `http:` section, and the shadow's own log is checked
# against the client's plan after each step:
#   v1  match GET /items..., exclude `end-user` by prefix, set x-shadowtap: v1, remove
#       Authorization and Cookie, hostSuffix false -> every non-excluded request, rewritten so;
#   v2  (shadowtap reload) match only /items/{id} by regex, no exclusion, set x-shadowtap: v2,
#       nothing removed, Host suffixed -> reviews no longer mirrored, the end-user's requests are;
#   v3  (SIGHUP) an invalid file (removing Host) -> rejected, the v2 rules stay.
source "$(dirname "$0")/../lib.sh"
e2e_init "${1:-}"
CFG="$H_TMP/shadowtap.yaml"

e2e_make_pair

start_service primary 0.0.0.0 8080 ok
start_service shadow 127.0.0.1 9201 ok
touch "$H_TMP/shadow.jsonl"

# write_config: the service, with the `http:` section read from stdin (indented 6 spaces).
write_config() {
  { printf 'services:\n  - name: items\n    port: 8080\n    protocol: http\n'
    printf '    mirror: {host: 127.0.0.1, port: 9201}\n    http:\n'
    cat; } >"$CFG"
}

write_config <<'YAML'
      match:
        - method: {exact: GET}
          uri: {prefix: /items}
      exclude:
        - headers: {end-user: {prefix: "e2e-"}}
      headers:
        request:
          set: {x-shadowtap: v1}
          remove: [authorization, cookie]
      hostSuffix: false
YAML
agent_start --iface "$SRV_IF" --config "$CFG"

# step NAME EXPECTED_PY: 40 requests (plan: tests/tools/http_requests.py), then the shadow's new log
# lines must be exactly the plan's requests selected by EXPECTED_PY (a Python expression over a
# plan entry r), as a multiset of paths; leaves those lines in $H_TMP/NAME.got.jsonl.
step() {
  local name="$1" expected="$2" before want
  before=$(wc -l <"$H_TMP/shadow.jsonl")
  timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_requests.py" --host "$SRV4" --port 8080 \
    --count 40 --per-conn 4 --out "$H_TMP/$name.plan.json" || fail "$name: client failed"
  want=$("$PYTHON" -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1])) if eval(sys.argv[2])))' \
    "$H_TMP/$name.plan.json" "$expected")
  for _ in $(seq 100); do
    [ $(($(wc -l <"$H_TMP/shadow.jsonl") - before)) -ge "$want" ] && break
    sleep 0.1
  done
  sleep 0.5 # anything beyond what is expected would show now
  tail -n +$((before + 1)) "$H_TMP/shadow.jsonl" >"$H_TMP/$name.got.jsonl"
  "$PYTHON" - "$H_TMP/$name.plan.json" "$H_TMP/$name.got.jsonl" "$expected" <<'PY' ||
import json, sys
plan = json.load(open(sys.argv[1]))
got = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
want = sorted(r["path"] for r in plan if eval(sys.argv[3]))
have = sorted(g["path"] for g in got)  # replays of different connections interleave
if have != want:
    print("shadow got %d requests %s, want %d %s" % (len(have), have[:6], len(want), want[:6]))
    sys.exit(1)
PY
    fail "$name: the shadow did not get exactly the expected requests"
  log "ok: $name: the shadow got exactly the $want requests the rules select"
}

# hdr NAME STEP EXPR: a Python expression over `h` (every request's headers) is true for all.
hdr() {
  "$PYTHON" -c 'import json,sys
got = [json.loads(l)["headers"] for l in open(sys.argv[1]) if l.strip()]
bad = [h for h in got if not eval(sys.argv[2])]
sys.exit(1 if bad or not got else 0)' "$H_TMP/$2.got.jsonl" "$3" || fail "$2: $1"
  log "ok: $2: $1"
}

step v1 'not r["excluded"]'
hdr "x-shadowtap: v1 set" v1 'h.get("x-shadowtap") == ["v1"]'
hdr "Authorization and Cookie removed" v1 '"authorization" not in h and "cookie" not in h'
hdr "Host kept as sent (hostSuffix: false)" v1 'h.get("host") == ["items.e2e:8080"]'
hdr "no excluded end-user" v1 '"end-user" not in h'

write_config <<'YAML'
      match:
        - uri: {regex: "/items/[0-9]+"}
      headers:
        request:
          set: {x-shadowtap: v2}
YAML
st reload --iface "$SRV_IF" >/dev/null || fail "shadowtap reload failed"
for _ in $(seq 50); do grep -q "reloaded" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "reloaded" "$AGENT_LOG" || fail "agent did not log the reload: $(tail -5 "$AGENT_LOG")"

step v2 'not r["reviews"]'
hdr "x-shadowtap: v2 set" v2 'h.get("x-shadowtap") == ["v2"]'
hdr "Authorization and Cookie kept (no longer removed)" v2 '"authorization" in h and "cookie" in h'
hdr "Host suffixed (the default)" v2 'h.get("host") == ["items.e2e-shadow:8080"]'
"$PYTHON" -c 'import json,sys; sys.exit(0 if any("end-user" in json.loads(l)["headers"] for l in open(sys.argv[1])) else 1)' \
  "$H_TMP/v2.got.jsonl" || fail "v2: the end-user's requests are no longer excluded, but none reached the shadow"
log "ok: v2: the end-user's requests are mirrored now"

# v3: invalid (Host cannot be removed). Rejected with the file's line; v2 stays.
write_config <<'YAML'
      headers:
        request:
          remove: [host]
YAML
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do grep -q "reload rejected" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "reload rejected.*shadowtap.yaml:[0-9]*:.*host" "$AGENT_LOG" ||
  fail "invalid HTTP rules not reported with file:line: $(tail -3 "$AGENT_LOG")"
kill -0 "$AGENT_PID" || fail "agent died on an invalid config"
log "ok: v3 rejected: $(grep -o 'reload rejected.*' "$AGENT_LOG" | tail -1)"
step v3 'not r["reviews"]'
hdr "x-shadowtap: v2 still set after the rejected reload" v3 'h.get("x-shadowtap") == ["v2"]'

status_json "$SRV_IF" "$H_TMP/status.json"
assert_eq "config reloads" 1 "$(jget "$H_TMP/status.json" 'j["pipeline"]["config"]["reloads"]')"
assert_eq "config reload failures" 1 "$(jget "$H_TMP/status.json" 'j["pipeline"]["config"]["reload_failures"]')"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
