#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live reload of `run --config` (issue 5): SIGHUP / `shadowtap reload` changes rates, services and
# exclusions mid-traffic without detaching, a connection being replayed across two reloads still
# reaches the shadow byte-identical, an invalid file is rejected with the old rules kept, and the
# running agent has dropped the capabilities it no longer needs.
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"
e2e_make_pair

P1=8080 P2=8081 P3=8082 SHADOW_PORT=9500
CFG="$E2E_TMP/shadowtap.yaml"
SHADOW_LOG="$E2E_TMP/shadow.jsonl"

e2e_start_server "$P1,$P2"
# (ip netns exec directly, not the in_srv function: a backgrounded function's $! is a subshell.)
ip netns exec "$NS_SRV" "$PYTHON" "$E2E_TOOLS/line_echo_server.py" --port "$P3" --ready-file "$E2E_TMP/echo.ready" &
E2E_BG_PIDS+=("$!")
# The shadow listens on the server namespace's loopback: replays never cross the tapped NIC.
ip netns exec "$NS_SRV" "$PYTHON" "$E2E_TOOLS/stream_recorder.py" --port "$SHADOW_PORT" --out "$SHADOW_LOG" \
  --ready-file "$E2E_TMP/shadow.ready" &
E2E_BG_PIDS+=("$!")
for _ in $(seq 100); do [ -e "$E2E_TMP/echo.ready" ] && [ -e "$E2E_TMP/shadow.ready" ] && break; sleep 0.05; done
[ -e "$E2E_TMP/shadow.ready" ] || fail "shadow recorder did not start"

shadow_count() { wc -l <"$SHADOW_LOG"; }

cat >"$CFG" <<YAML
excludeClients:
  - $CLI4_EXCL/32
services:
  - {name: short, port: $P1, mirrorPercentage: {value: 100}, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
  - {name: long, port: $P3, mirrorPercentage: {value: 100}, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
YAML
# --iface on the command line overrides the file (which names no interface).
agent_start --iface "$SRV_IF" --config "$CFG"

# Capabilities: NET_ADMIN (12) kept, SYS_ADMIN (21) and DAC_OVERRIDE (1) dropped in tc mode.
capeff=$((16#$(awk '/^CapEff/ {print $2}' "/proc/$AGENT_PID/status")))
[ $((capeff >> 12 & 1)) -eq 1 ] || fail "CAP_NET_ADMIN missing from the running agent"
[ $((capeff >> 21 & 1)) -eq 0 ] || fail "CAP_SYS_ADMIN still held after attaching (CapEff $capeff)"
[ $((capeff >> 1 & 1)) -eq 0 ] || fail "CAP_DAC_OVERRIDE still held after attaching (CapEff $capeff)"

# A long-lived connection on P3, replayed while the config changes under it.
ip netns exec "$NS_CLI" timeout 30 "$PYTHON" - "$SRV4" "$P3" "$E2E_TMP/long.sha" <<'PY' &
import hashlib, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
h = hashlib.sha256()
for i in range(60):
    line = f"request {i} {'x' * (i * 37 % 500)}\n".encode()
    s.sendall(line); h.update(line)
    got = b""
    while not got.endswith(b"\n"):
        got += s.recv(4096)
    time.sleep(0.08)
s.shutdown(socket.SHUT_WR); s.recv(10); s.close()
open(sys.argv[3], "w").write(h.hexdigest())
PY
LONG_PID=$!
E2E_BG_PIDS+=("$LONG_PID")
sleep 1

# v1: the excluded client is not mirrored.
e2e_client "$E2E_TMP/c1.json" --host "$SRV4" --port "$P1" --bind "$CLI4_EXCL" --count 10
sleep 0.5
status_json "$SRV_IF" "$E2E_TMP/s1.json"
assert_gt "excluded packets under v1" 0 "$(counter "$E2E_TMP/s1.json" excluded)"
before=$(shadow_count)

# v2: P1 at 0 %, P2 added, the exclusion lifted. Reload through the CLI.
cat >"$CFG" <<YAML
services:
  - {name: short, port: $P1, mirrorPercentage: {value: 0}, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
  - {name: other, port: $P2, mirrorPercentage: 100, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
  - {name: long, port: $P3, mirrorPercentage: {value: 100}, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
YAML
st reload --iface "$SRV_IF" >/dev/null || fail "shadowtap reload failed"
for _ in $(seq 50); do grep -q "reloaded" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "reloaded" "$AGENT_LOG" || fail "agent did not log the reload: $(tail -5 "$AGENT_LOG")"
status_json "$SRV_IF" "$E2E_TMP/s2.json"
assert_eq "rules after reload" "$P1:0 $P2:1000000 $P3:1000000" \
  "$(jget "$E2E_TMP/s2.json" '" ".join("%d:%d" % (r["port"], r["rate_ppm"]) for r in j["rules"])')"
assert_eq "exclusions after reload" "0" "$(jget "$E2E_TMP/s2.json" 'len(j["excluded_cidrs"])')"

e2e_client "$E2E_TMP/c2.json" --host "$SRV4" --port "$P1" --count 10                       # now 0 %
e2e_client "$E2E_TMP/c3.json" --host "$SRV4" --port "$P2" --bind "$CLI4_EXCL" --count 10   # no longer excluded
for _ in $(seq 50); do [ "$(shadow_count)" -ge $((before + 10)) ] && break; sleep 0.1; done
assert_eq "new replays after v2 (P2 only)" 10 $(($(shadow_count) - before))

# v3: invalid. Rejected; the v2 rules stay; the agent keeps running.
printf 'services:\n  - port: 0\n' >"$CFG"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do grep -q "reload rejected" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "reload rejected.*services\[0\].port" "$AGENT_LOG" || fail "invalid config not reported: $(tail -3 "$AGENT_LOG")"
kill -0 "$AGENT_PID" || fail "agent died on an invalid config"
status_json "$SRV_IF" "$E2E_TMP/s3.json"
assert_eq "rules after a rejected reload" "$P1:0 $P2:1000000 $P3:1000000" \
  "$(jget "$E2E_TMP/s3.json" '" ".join("%d:%d" % (r["port"], r["rate_ppm"]) for r in j["rules"])')"

# The long connection, replayed across both reloads, reached the shadow byte-identical.
wait "$LONG_PID" || fail "the long-lived client failed"
long_sha=$(cat "$E2E_TMP/long.sha")
for _ in $(seq 50); do grep -q "$long_sha" "$SHADOW_LOG" && break; sleep 0.1; done
grep -q "\"sha\": \"$long_sha\"" "$SHADOW_LOG" || fail "the in-flight replay did not survive the reloads intact"
grep -q "reset" "$SHADOW_LOG" && fail "a replay was reset: $(grep reset "$SHADOW_LOG")"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
