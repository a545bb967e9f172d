#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# TC mode, IPv6: the essentials of sampling_test over IPv6.
#   1. --percent 100: every IPv6 connection is mirrored, whole (SYN..FIN, both directions).
#   2. a client address inside an IPv6 --exclude-cidr: nothing mirrored, `excluded` counts it,
#      while the same server port from the other IPv6 client is still mirrored.
#   3. `set --exclude-cidr` / `--include-cidr` live on an IPv6 prefix: takes effect for new
#      connections, and lifting it brings mirroring back.
#   4. `set --percent 30`, 1000 IPv6 connections: within 5 sigma of 300, every one whole.
# Usage: ipv6_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"

PORT=18443
N=200
EXCL_NET="fd00:5354:e2e::ee00/120" # holds $CLI6_EXCL, not $CLI6: a real prefix match
CLI_NET="fd00:5354:e2e::/64"       # both clients

e2e_make_pair
e2e_start_server "$PORT"
agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --exclude-cidr "$EXCL_NET"

# --- 1. all IPv6 connections at 100 % --------------------------------------------------------------
status_json "$SRV_IF" "$E2E_TMP/s0.json"
assert_eq "excluded_cidrs in status" "['$EXCL_NET']" "$(jget "$E2E_TMP/s0.json" 'j["excluded_cidrs"]')"
capture_start v6_all
e2e_client "$E2E_TMP/c1.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count "$N"
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s1.json"
analyse "$CAP_FILE" "$E2E_TMP/a1.json" "$PORT"
log "mirror: $(jget "$E2E_TMP/a1.json" '{k: j[k] for k in ("tcp_packets","connections","complete","incomplete","with_rst","by_client")}')"
assert_eq "client connections that succeeded" "$N" "$(jget "$E2E_TMP/c1.json" 'j["ok"]')"
assert_eq "complete mirrored IPv6 connections (incomplete: $(jget "$E2E_TMP/a1.json" 'j["incomplete_examples"]'))" \
  "$N" "$(jget "$E2E_TMP/a1.json" 'j["complete"]')"
assert_eq "mirrored IPv6 connections" "$N" "$(jget "$E2E_TMP/a1.json" 'j["connections"]')"
assert_eq "mirrored clients" "['$CLI6']" "$(jget "$E2E_TMP/a1.json" 'list(j["by_client"])')"
cloned=$(($(counter "$E2E_TMP/s1.json" cloned) - $(counter "$E2E_TMP/s0.json" cloned)))
assert_eq "cloned counter vs packets captured on st-mirror1" "$(jget "$E2E_TMP/a1.json" 'j["tcp_packets"]')" "$cloned"
assert_eq "not_sampled counter at 100%" 0 "$(counter "$E2E_TMP/s1.json" not_sampled)"

# --- 2. excluded IPv6 client ----------------------------------------------------------------------
capture_start v6_excluded
e2e_client "$E2E_TMP/c2.json" --host "$SRV6" --port "$PORT" --bind "$CLI6_EXCL" --count 100
capture_stop
status_json "$SRV_IF" "$E2E_TMP/s2.json"
analyse "$CAP_FILE" "$E2E_TMP/a2.json" "$PORT"
assert_eq "packets mirrored for excluded client $CLI6_EXCL" 0 "$(jget "$E2E_TMP/a2.json" 'j["tcp_packets"]')"
assert_gt "excluded counter growth" 0 $(($(counter "$E2E_TMP/s2.json" excluded) - $(counter "$E2E_TMP/s1.json" excluded)))
assert_eq "cloned counter growth for the excluded client" 0 $(($(counter "$E2E_TMP/s2.json" cloned) - $(counter "$E2E_TMP/s1.json" cloned)))

# --- 3. live exclusion of the other client's /64, then lifting it ---------------------------------
out="$(st set --iface "$SRV_IF" --exclude-cidr "$CLI_NET" 2>&1)" || fail "set --exclude-cidr failed: $out"
capture_start v6_live_excluded
e2e_client "$E2E_TMP/c3.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 50
capture_stop
analyse "$CAP_FILE" "$E2E_TMP/a3.json" "$PORT"
assert_eq "packets mirrored after set --exclude-cidr $CLI_NET" 0 "$(jget "$E2E_TMP/a3.json" 'j["tcp_packets"]')"

out="$(st set --iface "$SRV_IF" --include-cidr "$CLI_NET" 2>&1)" || fail "set --include-cidr failed: $out"
capture_start v6_included
e2e_client "$E2E_TMP/c4.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 50
capture_stop
analyse "$CAP_FILE" "$E2E_TMP/a4.json" "$PORT"
assert_eq "complete mirrored connections after --include-cidr (incomplete: $(jget "$E2E_TMP/a4.json" 'j["incomplete_examples"]'))" \
  50 "$(jget "$E2E_TMP/a4.json" 'j["complete"]')"

# --- 4. sampling at 30 % over IPv6 ----------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --port "$PORT" --percent 30 2>&1)" || fail "set --percent 30 failed: $out"
capture_start v6_sampled
e2e_client "$E2E_TMP/c5.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 1000
capture_stop
analyse "$CAP_FILE" "$E2E_TMP/a5.json" "$PORT"
read -r lo hi < <(binomial_bounds 1000 30)
assert_between "complete mirrored IPv6 connections of 1000 at 30%" "$lo" "$hi" "$(jget "$E2E_TMP/a5.json" 'j["complete"]')"
assert_eq "incomplete mirrored IPv6 connections at 30% (examples: $(jget "$E2E_TMP/a5.json" 'j["incomplete_examples"]'))" \
  0 "$(jget "$E2E_TMP/a5.json" 'j["incomplete"]')"

agent_stop TERM
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
