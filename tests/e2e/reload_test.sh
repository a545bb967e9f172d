#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live reload of `run --config`: SIGHUP / `shadowtap reload` changes rates, services and
# exclusions mid-traffic without detaching, a connection being replayed across two reloads still
# reaches the shadow byte-identical, an invalid file (or one resizing the capture ring) is rejected
# with the old rules kept, and the running agent has dropped the capabilities it no longer needs.
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"
e2e_make_pair

P1=8080 P2=8081 P3=8082 SHADOW_PORT=9500
CFG="$H_TMP/shadowtap.yaml"
SHADOW_LOG="$H_TMP/shadow.jsonl"

e2e_start_server "$P1,$P2"
e2e_start_server "$P3" --mode echo-lines
# The shadow listens on the server namespace's loopback: replays never cross the tapped NIC.
RECORDER_NS="$NS_SRV" serve_recorder shadow "$SHADOW_LOG" --host 127.0.0.1 --port "$SHADOW_PORT"

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
capeff=$(agent_capeff)
[ $((capeff >> 12 & 1)) -eq 1 ] || fail "CAP_NET_ADMIN missing from the running agent"
[ $((capeff >> 21 & 1)) -eq 0 ] || fail "CAP_SYS_ADMIN still held after attaching (CapEff $capeff)"
[ $((capeff >> 1 & 1)) -eq 0 ] || fail "CAP_DAC_OVERRIDE still held after attaching (CapEff $capeff)"

# A long-lived connection on P3, replayed while the config changes under it: it sends a line
# every 80 ms (at least 60) until both reloads are done (the stop file), so it really spans them
# whatever the machine's speed, and its replay's end never falls into a step's count.
ip netns exec "$NS_CLI" timeout 60 "$PYTHON" - "$SRV4" "$P3" "$H_TMP/long.sha" "$H_TMP/long.stop" <<'PY' &
import hashlib, os, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
h = hashlib.sha256()
i = 0
while i < 60 or not os.path.exists(sys.argv[4]):
    line = f"request {i} {'x' * (i * 37 % 500)}\n".encode()
    s.sendall(line); h.update(line)
    got = b""
    while not got.endswith(b"\n"):
        got += s.recv(4096)
    time.sleep(0.08)
    i += 1
s.shutdown(socket.SHUT_WR); s.recv(10); s.close()
open(sys.argv[3], "w").write(h.hexdigest())
PY
LONG_PID=$!
H_BG_PIDS+=("$LONG_PID")
sleep 1

# v1: the excluded client is not mirrored.
e2e_client "$H_TMP/c1.json" --host "$SRV4" --port "$P1" --bind "$CLI4_EXCL" --count 10
sleep 0.5
status_json "$SRV_IF" "$H_TMP/s1.json"
assert_gt "excluded packets under v1" 0 "$(counter "$H_TMP/s1.json" excluded)"
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
status_json "$SRV_IF" "$H_TMP/s2.json"
assert_eq "rules after reload" "$P1:0 $P2:1000000 $P3:1000000" \
  "$(jget "$H_TMP/s2.json" '" ".join("%d:%d" % (r["port"], r["rate_ppm"]) for r in j["rules"])')"
assert_eq "exclusions after reload" "0" "$(jget "$H_TMP/s2.json" 'len(j["excluded_cidrs"])')"
# TCP services only: the capture copies responses up to their TCP header.
assert_eq "responses captured, TCP services only" headers_only "$(jget "$H_TMP/s2.json" 'j["pipeline"]["response_capture"]')"

e2e_client "$H_TMP/c2.json" --host "$SRV4" --port "$P1" --count 10                       # now 0 %
e2e_client "$H_TMP/c3.json" --host "$SRV4" --port "$P2" --bind "$CLI4_EXCL" --count 10   # no longer excluded
for _ in $(seq 50); do [ "$(shadow_count)" -ge $((before + 10)) ] && break; sleep 0.1; done
assert_eq "new replays after v2 (P2 only)" 10 $(($(shadow_count) - before))

# v3: invalid. Rejected; the v2 rules stay; the agent keeps running.
printf 'services:\n  - port: 0\n' >"$CFG"
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do grep -q "reload rejected" "$AGENT_LOG" && break; sleep 0.1; done
grep -q "reload rejected.*services\[0\].port" "$AGENT_LOG" || fail "invalid config not reported: $(tail -3 "$AGENT_LOG")"
kill -0 "$AGENT_PID" || fail "agent died on an invalid config"
status_json "$SRV_IF" "$H_TMP/s3.json"
assert_eq "rules after a rejected reload" "$P1:0 $P2:1000000 $P3:1000000" \
  "$(jget "$H_TMP/s3.json" '" ".join("%d:%d" % (r["port"], r["rate_ppm"]) for r in j["rules"])')"

# v3b: valid, but it resizes the capture ring, which is allocated at start: rejected, rules kept.
cat >"$CFG" <<YAML
limits: {captureBufferMb: 128}
services:
  - {name: other, port: $P2, mirrorPercentage: 100, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
YAML
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(grep -c "reload rejected" "$AGENT_LOG")" -ge 2 ] && break; sleep 0.1; done
grep "reload rejected" "$AGENT_LOG" | tail -n1 | grep -q "the capture buffer.*cannot change on reload: restart the agent" ||
  fail "a reload resizing the capture buffer was not refused by name: $(tail -3 "$AGENT_LOG")"
status_json "$SRV_IF" "$H_TMP/s3b.json"
assert_eq "rules after a refused resize" "$P1:0 $P2:1000000 $P3:1000000" \
  "$(jget "$H_TMP/s3b.json" '" ".join("%d:%d" % (r["port"], r["rate_ppm"]) for r in j["rules"])')"

# The long connection, replayed across both reloads, reached the shadow byte-identical.
kill -0 "$LONG_PID" 2>/dev/null || fail "the long-lived client ended before both reloads were done"
touch "$H_TMP/long.stop"
wait "$LONG_PID" || fail "the long-lived client failed"
long_sha=$(cat "$H_TMP/long.sha")
for _ in $(seq 50); do grep -q "$long_sha" "$SHADOW_LOG" && break; sleep 0.1; done
grep -q "\"sha256\": \"$long_sha\"" "$SHADOW_LOG" || fail "the in-flight replay did not survive the reloads intact"
grep -v '"end": "eof"' "$SHADOW_LOG" && fail "a replay was reset: $(grep -v '"end": "eof"' "$SHADOW_LOG")"

# v4: an HTTP service added by a reload needs the responses' bytes: captured whole from then on.
cat >"$CFG" <<YAML
services:
  - {name: other, port: $P2, protocol: http, mirrorPercentage: 100, mirror: {host: 127.0.0.1, port: $SHADOW_PORT}}
YAML
kill -HUP "$AGENT_PID"
for _ in $(seq 50); do [ "$(grep -c "reloaded" "$AGENT_LOG")" -ge 2 ] && break; sleep 0.1; done
status_json "$SRV_IF" "$H_TMP/s4.json"
assert_eq "responses captured after a reload adds an HTTP service" whole \
  "$(jget "$H_TMP/s4.json" 'j["pipeline"]["response_capture"]')"

agent_stop TERM
assert_eq "agent exit status" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
