#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# XDP mode: the same flows, delivered through the ring buffer into the agent's --pcap file.
# Requests are copied by the XDP program on the NIC, responses by the tc egress program, so a
# whole connection in the pcap proves both halves of the XDP-mode data plane.
#   1. --percent 100 over IPv4 and IPv6: every connection in the pcap, whole, both directions;
#      the pcap holds exactly the frames the ring_sent counter counted (nothing lost in between).
#   2. --percent 30, 1000 connections: complete connections within 5 sigma of 300, all whole.
# The ring buffer the agent reads, as the kernel reports it (its fds' fdinfo): 8 MiB by default
# (1), --capture-buffer-mb 16 in 2.
# The pcap is read only after SIGTERM: the agent drains the ring and closes the file on exit.
# Usage: xdp_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"

PORT=18090
e2e_make_pair
e2e_start_server "$PORT"

# xdp_run NAME PERCENT RING_MB [AGENT_ARGS...]: runs the agent in xdp mode writing $H_TMP/NAME.pcap;
# its ring buffer must be RING_MB MiB.
xdp_run() {
  local name="$1" percent="$2" ring="$3"
  shift 3
  agent_start --iface "$SRV_IF" --port "$PORT" --percent "$percent" --mode xdp --pcap "$H_TMP/$name.pcap" "$@"
  assert_eq "$name: the BPF ring buffers the agent holds, bytes" $((ring << 20)) "$(agent_ringbufs | tr '\n' ' ' | sed 's/ $//')"
  status_json "$SRV_IF" "$H_TMP/$name.s0.json"
  assert_eq "mode in status" xdp "$(jget "$H_TMP/$name.s0.json" 'j["mode"]')"
  ip -n "$NS_SRV" link show dev "$SRV_IF" | grep -q xdp || fail "no XDP program on $SRV_IF in xdp mode"
}

# xdp_stop NAME: last counters, SIGTERM, then the pcap summary in $H_TMP/NAME.json.
xdp_stop() {
  sleep 0.3 # the agent drains the ring at least every second; SIGTERM drains the rest
  status_json "$SRV_IF" "$H_TMP/$1.s1.json"
  agent_stop TERM
  assert_eq "agent exit status after SIGTERM" 0 "$AGENT_RC"
  check_untapped "$NS_SRV" "$SRV_IF" 0 "after SIGTERM in xdp mode"
  [ -s "$H_TMP/$1.pcap" ] || fail "the agent wrote no pcap file $H_TMP/$1.pcap"
  analyse "$H_TMP/$1.pcap" "$H_TMP/$1.json" "$PORT"
  log "pcap $1: $(jget "$H_TMP/$1.json" '{k: j[k] for k in ("frames","tcp_packets","connections","complete","incomplete","with_rst","by_client")}')"
  assert_eq "ring_full counter" 0 "$(counter "$H_TMP/$1.s1.json" ring_full)"
  assert_eq "ring_failed counter" 0 "$(counter "$H_TMP/$1.s1.json" ring_failed)"
  assert_eq "frames in the pcap vs ring_sent counter" "$(counter "$H_TMP/$1.s1.json" ring_sent)" \
    "$(jget "$H_TMP/$1.json" 'j["frames"]')"
}

# --- 1. 100 %, IPv4 and IPv6 ----------------------------------------------------------------------
xdp_run full 100 8
e2e_client "$H_TMP/c1.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 200
e2e_client "$H_TMP/c2.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 100
xdp_stop full
assert_eq "complete connections in the pcap (incomplete: $(jget "$H_TMP/full.json" 'j["incomplete_examples"]'))" \
  300 "$(jget "$H_TMP/full.json" 'j["complete"]')"
assert_eq "connections in the pcap" 300 "$(jget "$H_TMP/full.json" 'j["connections"]')"
assert_eq "IPv4 connections in the pcap" 200 "$(jget "$H_TMP/full.json" 'j["by_client"].get("'"$CLI4"'",0)')"
assert_eq "IPv6 connections in the pcap" 100 "$(jget "$H_TMP/full.json" 'j["by_client"].get("'"$CLI6"'",0)')"

# --- 2. 30 % --------------------------------------------------------------------------------------
N=1000
xdp_run sampled 30 16 --capture-buffer-mb 16
e2e_client "$H_TMP/c3.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count "$N"
xdp_stop sampled
read -r lo hi < <(binomial_bounds "$N" 30)
assert_between "complete connections of $N at 30% in the pcap" "$lo" "$hi" "$(jget "$H_TMP/sampled.json" 'j["complete"]')"
assert_eq "incomplete connections in the pcap (examples: $(jget "$H_TMP/sampled.json" 'j["incomplete_examples"]'))" \
  0 "$(jget "$H_TMP/sampled.json" 'j["incomplete"]')"
assert_gt "not_sampled counter" 0 "$(counter "$H_TMP/sampled.s1.json" not_sampled)"
assert_eq "cloned counter in xdp mode" 0 "$(counter "$H_TMP/sampled.s1.json" cloned)"
