#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# TC mode, IPv4: connection sampling end to end.
#   1. --percent 30, 1000 short connections: the complete mirrored connections on st-mirror1 are
#      within 5 sigma of 300, every mirrored connection is whole (SYN..FIN, both directions), and
#      the agent's counters agree (cloned > 0, not_sampled > 0, flows decided).
#   2. a second, untapped port on the same server: nothing mirrored, port_miss counts it.
#   3. a client address given as --exclude-cidr: nothing mirrored, excluded counts it.
#   4. `shadowtap set --percent 100` while running: every new connection is mirrored, whole.
#   5. `set --disable`: nothing mirrored (counted as disabled); `set --enable`: mirroring is back.
# Usage: sampling_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"

PORT=18080       # tapped service
OTHER_PORT=18081 # same server, not tapped
N=1000
PERCENT=30

e2e_make_pair
e2e_start_server "$PORT,$OTHER_PORT"
agent_start --iface "$SRV_IF" --port "$PORT" --percent "$PERCENT" --exclude-cidr "$CLI4_EXCL/32"

# --- 1. sampling at 30 % -------------------------------------------------------------------------
status_json "$SRV_IF" "$E2E_TMP/s0.json"
capture_start sampled
e2e_client "$E2E_TMP/c1.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count "$N"
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s1.json"
analyse "$CAP_FILE" "$E2E_TMP/a1.json" "$PORT"
log "client: $(cat "$E2E_TMP/c1.json")"
log "mirror: $(jget "$E2E_TMP/a1.json" '{k: j[k] for k in ("tcp_packets","connections","complete","incomplete","with_rst","by_port","by_client")}')"

assert_eq "client connections that succeeded" "$N" "$(jget "$E2E_TMP/c1.json" 'j["ok"]')"
read -r lo hi < <(binomial_bounds "$N" "$PERCENT")
assert_between "complete mirrored connections of $N at $PERCENT%" "$lo" "$hi" "$(jget "$E2E_TMP/a1.json" 'j["complete"]')"
assert_eq "incomplete mirrored connections (examples: $(jget "$E2E_TMP/a1.json" 'j["incomplete_examples"]'))" \
  0 "$(jget "$E2E_TMP/a1.json" 'j["incomplete"]')"
assert_eq "mirrored connections not to port $PORT from $CLI4" "$(jget "$E2E_TMP/a1.json" 'j["connections"]')" \
  "$(jget "$E2E_TMP/a1.json" 'j["by_port"].get("'"$PORT"'",{}).get("connections",0) if list(j["by_client"]) == ["'"$CLI4"'"] else -1')"

cloned=$(($(counter "$E2E_TMP/s1.json" cloned) - $(counter "$E2E_TMP/s0.json" cloned)))
not_sampled=$(($(counter "$E2E_TMP/s1.json" not_sampled) - $(counter "$E2E_TMP/s0.json" not_sampled)))
decided=$(($(counter "$E2E_TMP/s1.json" flow_decided) - $(counter "$E2E_TMP/s0.json" flow_decided)))
assert_gt "cloned counter" 0 "$cloned"
assert_gt "not_sampled counter" 0 "$not_sampled"
# Every clone of the phase reached st-mirror1 and the capture: the counter is the same number.
assert_eq "cloned counter vs packets captured on st-mirror1" "$(jget "$E2E_TMP/a1.json" 'j["tcp_packets"]')" "$cloned"
assert_eq "clone_failed counter" 0 "$(counter "$E2E_TMP/s1.json" clone_failed)"
# One decision per connection SYN, and the rest of each connection follows it.
assert_eq "flow_decided counter (one per SYN)" "$N" "$decided"
assert_eq "flow_stateless counter" 0 "$(counter "$E2E_TMP/s1.json" flow_stateless)"

# --- 2. untapped port -----------------------------------------------------------------------------
capture_start other_port
e2e_client "$E2E_TMP/c2.json" --host "$SRV4" --port "$OTHER_PORT" --bind "$CLI4" --count 100
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s2.json"
analyse "$CAP_FILE" "$E2E_TMP/a2.json" "$OTHER_PORT"
assert_eq "packets mirrored for untapped port $OTHER_PORT" 0 "$(jget "$E2E_TMP/a2.json" 'j["tcp_packets"]')"
assert_gt "port_miss counter growth" 0 $(($(counter "$E2E_TMP/s2.json" port_miss) - $(counter "$E2E_TMP/s1.json" port_miss)))
assert_eq "cloned counter growth on untapped port" 0 $(($(counter "$E2E_TMP/s2.json" cloned) - $(counter "$E2E_TMP/s1.json" cloned)))

# --- 3. excluded client ---------------------------------------------------------------------------
capture_start excluded
e2e_client "$E2E_TMP/c3.json" --host "$SRV4" --port "$PORT" --bind "$CLI4_EXCL" --count 100
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s3.json"
analyse "$CAP_FILE" "$E2E_TMP/a3.json" "$PORT"
assert_eq "packets mirrored for excluded client $CLI4_EXCL" 0 "$(jget "$E2E_TMP/a3.json" 'j["tcp_packets"]')"
assert_gt "excluded counter growth" 0 $(($(counter "$E2E_TMP/s3.json" excluded) - $(counter "$E2E_TMP/s2.json" excluded)))
assert_eq "excluded_cidrs in status" "['$CLI4_EXCL/32']" "$(jget "$E2E_TMP/s3.json" 'j["excluded_cidrs"]')"

# --- 4. live rate change to 100 % ---------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --port "$PORT" --percent 100 2>&1)" || fail "set --percent 100 failed: $out"
status_json "$SRV_IF" "$E2E_TMP/s4.json"
assert_eq "rule percent after set" "100.0" "$(jget "$E2E_TMP/s4.json" '[r["percent"] for r in j["rules"] if r["port"]=='"$PORT"'][0]')"
capture_start full
e2e_client "$E2E_TMP/c4.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 200
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s5.json"
analyse "$CAP_FILE" "$E2E_TMP/a4.json" "$PORT"
assert_eq "complete mirrored connections of 200 after set --percent 100 (incomplete: $(jget "$E2E_TMP/a4.json" 'j["incomplete_examples"]'))" \
  200 "$(jget "$E2E_TMP/a4.json" 'j["complete"]')"
assert_eq "mirrored connections after set --percent 100" 200 "$(jget "$E2E_TMP/a4.json" 'j["connections"]')"
assert_eq "not_sampled counter growth at 100%" 0 $(($(counter "$E2E_TMP/s5.json" not_sampled) - $(counter "$E2E_TMP/s4.json" not_sampled)))

# --- 5. pause and resume -------------------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --disable 2>&1)" || fail "set --disable failed: $out"
capture_start disabled
e2e_client "$E2E_TMP/c5.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 50
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s6.json"
analyse "$CAP_FILE" "$E2E_TMP/a5.json" "$PORT"
assert_eq "enabled in status after --disable" false "$(jget "$E2E_TMP/s6.json" 'j["enabled"]')"
assert_eq "packets mirrored while disabled" 0 "$(jget "$E2E_TMP/a5.json" 'j["tcp_packets"]')"
assert_gt "disabled counter growth" 0 $(($(counter "$E2E_TMP/s6.json" disabled) - $(counter "$E2E_TMP/s5.json" disabled)))
out="$(st set --iface "$SRV_IF" --enable 2>&1)" || fail "set --enable failed: $out"
capture_start enabled
e2e_client "$E2E_TMP/c6.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 50
capture_stop
analyse "$CAP_FILE" "$E2E_TMP/a6.json" "$PORT"
assert_eq "complete mirrored connections after --enable (incomplete: $(jget "$E2E_TMP/a6.json" 'j["incomplete_examples"]'))" \
  50 "$(jget "$E2E_TMP/a6.json" 'j["complete"]')"

agent_stop TERM
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
