#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Budgets, enforced in the BPF programs at connection granularity ("production always wins"):
#   A. --max-new-conns 20: 300 one-request connections as fast as the client goes. In each
#      one-second window at most 20 are admitted (plus at most one per CPU racing at the limit);
#      the rest are skipped whole at their SYN (shed_budget). Every SYN is either admitted or
#      shed (flow_admitted + shed_budget = flow_decided), every admitted connection reaches the
#      shadow whole and byte-identical, and no other one reaches it at all.
#   B. --max-mirror-rate 64K: 60 connections each sending 16 KiB, 4 at a time. Once a second's
#      64 KiB are mirrored no new connection is admitted; those admitted are still mirrored to
#      their end (whole, byte-identical), however far past the budget they go.
# And the capture buffer, read from the kernel's side (the agent's socket mappings): one
# TPACKET_V3 ring per worker, 64 MiB by default (A), --capture-buffer-mb 16 in B.
# Usage: budget_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
replay_init "${1:-}"
SHADOW=19801
serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"

# phase NAME CONNS BODY CONCURRENCY AGENT_ARGS...: one agent run under a budget; leaves the final
# status in $H_TMP/NAME.json and the client's elapsed seconds (rounded up) in ELAPSED.
phase() {
  local name="$1" conns="$2" body="$3" conc="$4" t0 t1
  shift 4
  : >"$H_TMP/shadow.jsonl"
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW" "$@"
  agent_packet_rings >"$H_TMP/$name.rings"
  t0=$(date +%s%N)
  http_client "$H_TMP/$name.client.json" --host "$SRV4" --port "$PORT" --id "$name" --conns "$conns" --reqs 1 \
    --body "$body" --concurrency "$conc" --out-conns "$H_TMP/$name.conns"
  t1=$(date +%s%N)
  ELAPSED=$(((t1 - t0 + 999999999) / 1000000000))
  agent_settle "$name" 10
  cp "$H_TMP/$name.status.json" "$H_TMP/$name.json"
  local S="$H_TMP/$name.json" started
  started=$(jget "$S" 'j["pipeline"]["flows"]["started"]')
  log "$name: $conns connections in about $ELAPSED s; admitted $(counter "$S" flow_admitted), shed_budget $(counter "$S" shed_budget)"
  assert_gt "$name: shed_budget" 0 "$(counter "$S" shed_budget)"
  assert_eq "$name: flow_admitted + shed_budget = flow_decided (every SYN one or the other)" \
    "$(counter "$S" flow_decided)" $(($(counter "$S" flow_admitted) + $(counter "$S" shed_budget)))
  assert_eq "$name: flows started = admitted" "$(counter "$S" flow_admitted)" "$started"
  assert_eq "$name: flows completed = started (nothing cut)" "$started" "$(jget "$S" 'j["pipeline"]["flows"]["completed"]')"
  assert_eq "$name: replays completed = started" "$started" "$(jget "$S" 'j["pipeline"]["replay"]["targets"][0]["completed"]')"
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$started" 10 || true
  # Whatever reached the shadow is whole and byte-identical, and exactly the admitted ones arrived.
  compare_streams "$H_TMP/$name.compare.json" --client "$H_TMP/$name.conns" --shadow "$H_TMP/shadow.jsonl" \
    --port "$SHADOW" --allow-missing
  assert_eq "$name: streams at the shadow = connections admitted" "$started" \
    "$(count_lines "$H_TMP/shadow.jsonl" '"event": "close"')"
  check_identities "$S" --flows
  agent_stop_checked
}

phase a 300 100 8 --max-new-conns 20
assert_le "a: admitted (20 per started second, one more per CPU racing)" \
  $(((ELAPSED + 1) * (20 + $(nproc)))) "$(counter "$H_TMP/a.json" flow_admitted)"
assert_eq "a: status shows the budget" 20 "$(jget "$H_TMP/a.json" 'j["max_new_conns"]')"

phase b 60 16384 4 --max-mirror-rate 64K --capture-buffer-mb 16
assert_eq "b: status shows the budget" 65536 "$(jget "$H_TMP/b.json" 'j["max_mirror_bytes"]')"

# rings NAME BYTES: one capture ring per worker, each BYTES.
rings() {
  assert_eq "$1: capture rings mapped (one per worker)" "$(jget "$H_TMP/$1.json" 'j["pipeline"]["workers"]')" \
    "$(wc -l <"$H_TMP/$1.rings")"
  assert_eq "$1: capture ring sizes" "$2" "$(sort -u "$H_TMP/$1.rings" | tr '\n' ' ' | sed 's/ $//')"
}
rings a $((64 << 20))
rings b $((16 << 20))
