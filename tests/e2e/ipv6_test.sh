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
status_json "$SRV_IF" "$H_TMP/s0.json"
assert_eq "excluded_cidrs in status" "['$EXCL_NET']" "$(jget "$H_TMP/s0.json" 'j["excluded_cidrs"]')"
mirrored_run all "$PORT" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count "$N"
A="$H_TMP/all.json" S="$H_TMP/all.status.json"
log "mirror: $(jget "$A" '{k: j[k] for k in ("tcp_packets","connections","complete","incomplete","with_rst","by_client")}')"
assert_eq "client connections that succeeded" "$N" "$(jget "$H_TMP/all.client.json" 'j["ok"]')"
assert_eq "complete mirrored IPv6 connections (incomplete: $(jget "$A" 'j["incomplete_examples"]'))" \
  "$N" "$(jget "$A" 'j["complete"]')"
assert_eq "mirrored IPv6 connections" "$N" "$(jget "$A" 'j["connections"]')"
assert_eq "mirrored clients" "['$CLI6']" "$(jget "$A" 'list(j["by_client"])')"
cloned=$(($(counter "$S" cloned) - $(counter "$H_TMP/s0.json" cloned)))
assert_eq "cloned counter vs packets captured on $AGENT_MIRROR_RX" "$(jget "$A" 'j["tcp_packets"]')" "$cloned"
assert_eq "not_sampled counter at 100%" 0 "$(counter "$S" not_sampled)"

# --- 2. excluded IPv6 client ----------------------------------------------------------------------
mirrored_run excluded "$PORT" --host "$SRV6" --port "$PORT" --bind "$CLI6_EXCL" --count 100
assert_eq "packets mirrored for excluded client $CLI6_EXCL" 0 "$(jget "$H_TMP/excluded.json" 'j["tcp_packets"]')"
assert_gt "excluded counter growth" 0 $(($(counter "$H_TMP/excluded.status.json" excluded) - $(counter "$S" excluded)))
assert_eq "cloned counter growth for the excluded client" 0 $(($(counter "$H_TMP/excluded.status.json" cloned) - $(counter "$S" cloned)))

# --- 3. live exclusion of the other client's /64, then lifting it ---------------------------------
out="$(st set --iface "$SRV_IF" --exclude-cidr "$CLI_NET" 2>&1)" || fail "set --exclude-cidr failed: $out"
mirrored_run live_excluded "$PORT" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 50
assert_eq "packets mirrored after set --exclude-cidr $CLI_NET" 0 "$(jget "$H_TMP/live_excluded.json" 'j["tcp_packets"]')"

out="$(st set --iface "$SRV_IF" --include-cidr "$CLI_NET" 2>&1)" || fail "set --include-cidr failed: $out"
mirrored_run included "$PORT" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 50
assert_eq "complete mirrored connections after --include-cidr (incomplete: $(jget "$H_TMP/included.json" 'j["incomplete_examples"]'))" \
  50 "$(jget "$H_TMP/included.json" 'j["complete"]')"

# --- 4. sampling at 30 % over IPv6 ----------------------------------------------------------------
out="$(st set --iface "$SRV_IF" --port "$PORT" --percent 30 2>&1)" || fail "set --percent 30 failed: $out"
mirrored_run sampled "$PORT" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 1000
read -r lo hi < <(binomial_bounds 1000 30)
assert_between "complete mirrored IPv6 connections of 1000 at 30%" "$lo" "$hi" "$(jget "$H_TMP/sampled.json" 'j["complete"]')"
assert_eq "incomplete mirrored IPv6 connections at 30% (examples: $(jget "$H_TMP/sampled.json" 'j["incomplete_examples"]'))" \
  0 "$(jget "$H_TMP/sampled.json" 'j["incomplete"]')"

agent_stop TERM
assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM"
