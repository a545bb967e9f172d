#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# TC mode, IPv4: connection sampling end to end.
#   1. --percent 30, 1000 short connections: the complete mirrored connections on the mirror port are
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
status_json "$SRV_IF" "$H_TMP/s0.json"
mirrored_run sampled "$PORT" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count "$N"
A="$H_TMP/sampled.json" S="$H_TMP/sampled.status.json"
log "client: $(cat "$H_TMP/sampled.client.json")"
log "mirror: $(jget "$A" '{k: j[k] for k in ("tcp_packets","connections","complete","incomplete","with_rst","by_port","by_client")}')"

assert_eq "client connections that succeeded" "$N" "$(jget "$H_TMP/sampled.client.json" 'j["ok"]')"
read -r lo hi < <(binomial_bounds "$N" "$PERCENT")
assert_between "complete mirrored connections of $N at $PERCENT%" "$lo" "$hi" "$(jget "$A" 'j["complete"]')"
assert_eq "incomplete mirrored connections (examples: $(jget "$A" 'j["incomplete_examples"]'))" \
  0 "$(jget "$A" 'j["incomplete"]')"
assert_eq "mirrored connections not to port $PORT from $CLI4" "$(jget "$A" 'j["connections"]')" \
  "$(jget "$A" 'j["by_port"].get("'"$PORT"'",{}).get("connections",0) if list(j["by_client"]) == ["'"$CLI4"'"] else -1')"

# delta NAME FROM TO: growth of a kernel counter between two status files.
delta() { echo $(($(counter "$3" "$1") - $(counter "$2" "$1"))); }
assert_gt "cloned counter" 0 "$(delta cloned "$H_TMP/s0.json" "$S")"
assert_gt "not_sampled counter" 0 "$(delta not_sampled "$H_TMP/s0.json" "$S")"
# Every clone of the phase reached the mirror port and the capture: the counter is the same number.
assert_eq "cloned counter vs packets captured on $AGENT_MIRROR_RX" "$(jget "$A" 'j["tcp_packets"]')" "$(delta cloned "$H_TMP/s0.json" "$S")"
assert_eq "clone_failed counter" 0 "$(counter "$S" clone_failed)"
# One decision per connection SYN, and the rest of each connection follows it.
assert_eq "flow_decided counter (one per SYN)" "$N" "$(delta flow_decided "$H_TMP/s0.json" "$S")"
assert_eq "flow_stateless counter" 0 "$(counter "$S" flow_stateless)"

# --- 2. untapped port -----------------------------------------------------------------------------
mirrored_run other_port "$OTHER_PORT" --host "$SRV4" --port "$OTHER_PORT" --bind "$CLI4" --count 100
assert_eq "packets mirrored for untapped port $OTHER_PORT" 0 "$(jget "$H_TMP/other_port.json" 'j["tcp_packets"]')"
assert_gt "port_miss counter growth" 0 "$(delta port_miss "$S" "$H_TMP/other_port.status.json")"
assert_eq "cloned counter growth on untapped port" 0 "$(delta cloned "$S" "$H_TMP/other_port.status.json")"

# --- 3. excluded client ---------------------------------------------------------------------------
mirrored_run excluded "$PORT" --host "$SRV4" --port "$PORT" --bind "$CLI4_EXCL" --count 100
assert_eq "packets mirrored for excluded client $CLI4_EXCL" 0 "$(jget "$H_TMP/excluded.json" 'j["tcp_packets"]')"
assert_gt "excluded counter growth" 0 "$(delta excluded "$H_TMP/other_port.status.json" "$H_TMP/excluded.status.json")"
assert_eq "excluded_cidrs in status" "['$CLI4_EXCL/32']" "$(jget "$H_TMP/excluded.status.json" 'j["excluded_cidrs"]')"

# --- 4. live rate change to 100 % ---------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --port "$PORT" --percent 100 2>&1)" || fail "set --percent 100 failed: $out"
status_json "$SRV_IF" "$H_TMP/s4.json"
assert_eq "rule percent after set" "100.0" "$(jget "$H_TMP/s4.json" '[r["percent"] for r in j["rules"] if r["port"]=='"$PORT"'][0]')"
mirrored_run full "$PORT" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 200
assert_eq "complete mirrored connections of 200 after set --percent 100 (incomplete: $(jget "$H_TMP/full.json" 'j["incomplete_examples"]'))" \
  200 "$(jget "$H_TMP/full.json" 'j["complete"]')"
assert_eq "mirrored connections after set --percent 100" 200 "$(jget "$H_TMP/full.json" 'j["connections"]')"
assert_eq "not_sampled counter growth at 100%" 0 "$(delta not_sampled "$H_TMP/s4.json" "$H_TMP/full.status.json")"

# --- 5. pause and resume -------------------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --disable 2>&1)" || fail "set --disable failed: $out"
mirrored_run disabled "$PORT" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 50
assert_eq "enabled in status after --disable" false "$(jget "$H_TMP/disabled.status.json" 'j["enabled"]')"
assert_eq "packets mirrored while disabled" 0 "$(jget "$H_TMP/disabled.json" 'j["tcp_packets"]')"
assert_gt "disabled counter growth" 0 "$(delta disabled "$H_TMP/full.status.json" "$H_TMP/disabled.status.json")"
out="$(st set --iface "$SRV_IF" --enable 2>&1)" || fail "set --enable failed: $out"
mirrored_run enabled "$PORT" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 50
assert_eq "complete mirrored connections after --enable (incomplete: $(jget "$H_TMP/enabled.json" 'j["incomplete_examples"]'))" \
  50 "$(jget "$H_TMP/enabled.json" 'j["complete"]')"

agent_stop TERM
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
