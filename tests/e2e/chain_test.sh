#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# shadowtap never ends another program's chain (issue 11), in tc and xdp mode, with the tc programs
# attached through tcx (this kernel's default) and through clsact + cls_bpf (SHADOWTAP_TC_ATTACH=
# clsact, the path of kernels before 6.6). Someone else's programs are tests/tools/tc_probe:
#   1. a cls_bpf DROP filter at priority 49152 on the tapped NIC's ingress, attached BEFORE the agent
#      starts: a TCP connect to the service fails while it is there (the control: the filter works)
#      and keeps failing with shadowtap running; removed, the connect succeeds, shadowtap running
#      throughout. Then a second drop filter added AFTER shadowtap attached: the same.
#   2. programs that count packets, on ingress and egress: a cls_bpf filter at a later priority
#      (49152) and a tcx program attached after shadowtap's: after a few connections every count
#      has grown by at least two packets per connection.
#   3. tcx only: a tcx program that ENDS the chain (TCX_PASS), attached before the agent starts, on
#      both hooks: shadowtap's programs go to the head of the chain, so they still see (and mirror)
#      every packet; with --first that program is first and shadowtap second (shown by the list).
# The agent runs throughout each phase and must still be running and ready at the end of it.
# Usage: chain_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"
[ -x "$TC_PROBE" ] || fail "tests/tools/tc_probe not built (target tc_probe) at $TC_PROBE"

PORT=18090
e2e_make_pair
e2e_start_server "$PORT"
# The drop filters drop everything, ARP too: static neighbours keep "connect fails" about the filter
# (and "connect succeeds" from waiting on a neighbour entry the filter left FAILED).
mac() { ip -n "$1" -o link show dev "$2" | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2; }
ip -n "$NS_CLI" neigh replace "$SRV4" lladdr "$(mac "$NS_SRV" "$SRV_IF")" dev "$CLI_IF" nud permanent
ip -n "$NS_SRV" neigh replace "$CLI4" lladdr "$(mac "$NS_CLI" "$CLI_IF")" dev "$SRV_IF" nud permanent

# connect_ok: one TCP connection from the client to the service, bounded (2 s): 0 if it opened.
connect_ok() { in_cli timeout 2 bash -c "exec 3<>/dev/tcp/$SRV4/$PORT" 2>/dev/null; }
expect_connect() { # yes|no WHAT
  if connect_ok; then
    [ "$1" = yes ] || fail "$2: the connection succeeded, the drop filter did not drop"
  else
    [ "$1" = no ] || fail "$2: the connection failed"
  fi
  log "ok: $2: connect $([ "$1" = yes ] && echo succeeds || echo fails)"
}

# probe_start NAME ARGS...: tc_probe run in the server namespace; waits for its "ready" line.
probe_start() {
  local name="$1"
  shift
  h_bg ip netns exec "$NS_SRV" "$TC_PROBE" run "$SRV_IF" "$@" --out "$H_TMP/$name.count" \
    >"$H_TMP/$name.log" 2>&1
  PROBE_PID=$BG_PID
  h_wait_until "tc_probe $name ready" 5 grep -q ready "$H_TMP/$name.log" || fail "tc_probe $name did not attach: $(cat "$H_TMP/$name.log")"
}
probe_count() { cat "$H_TMP/$1.count" 2>/dev/null || echo 0; }
agent_running() {
  kill -0 "$AGENT_PID" 2>/dev/null || fail "$1: the agent is no longer running"
  agent_status "$H_TMP/alive.json"
  assert_eq "$1: agent ready" true "$(jget "$H_TMP/alive.json" 'j["ready"]')"
}

phase() { # MODE ATTACH
  local mode="$1" attach="$2" name="$1 mode, $2"
  log "--- $name"
  if [ "$attach" = clsact ]; then export SHADOWTAP_TC_ATTACH=clsact; else unset SHADOWTAP_TC_ATTACH; fi

  # 1. Drop filters before and after the agent.
  probe_start drop1 ingress --via clsact --prio 49152 --action drop
  expect_connect no "$name: drop filter, no agent (control)"
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
  assert_eq "$name: attach mode" "$attach" "$(jget "$H_TMP/status.start.json" 'j["tc_attach"]')"
  expect_connect no "$name: drop filter attached before the agent, agent running"
  h_stop_pid "$PROBE_PID" TERM 5
  expect_connect yes "$name: drop filter removed, agent running"
  probe_start drop2 ingress --via clsact --prio 49152 --action drop
  expect_connect no "$name: drop filter attached after the agent"
  assert_gt "$name: packets the second drop filter dropped" 0 "$(probe_count drop2)"
  h_stop_pid "$PROBE_PID" TERM 5
  expect_connect yes "$name: second drop filter removed"

  # 2. Counting programs after shadowtap's, on both hooks, through both attach paths.
  local probes=() p
  for dir in ingress egress; do
    probe_start "cls_$dir" "$dir" --via clsact --prio 49152 --action count
    probes+=("$PROBE_PID")
    probe_start "tcx_$dir" "$dir" --via tcx --action count
    probes+=("$PROBE_PID")
  done
  if [ "$attach" = tcx ]; then # appended after shadowtap's program, which stays first
    for dir in ingress egress; do
      [ "$mode" = xdp ] && [ "$dir" = ingress ] && continue
      assert_eq "$name: tcx $dir chain" "tc_$dir probe_count" \
        "$(tcx_programs "$NS_SRV" "$SRV_IF" "$dir" | sed 's/^tc_egress_ring$/tc_egress/' | tr '\n' ' ' | sed 's/ $//')"
    done
  fi
  sleep 0.3
  local before=()
  for p in cls_ingress tcx_ingress cls_egress tcx_egress; do before+=("$(probe_count "$p")"); done
  agent_status "$H_TMP/before.json"
  e2e_client "$H_TMP/count.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 5
  sleep 0.5 # the probes write their counts every 100 ms
  local i=0
  for p in cls_ingress tcx_ingress cls_egress tcx_egress; do
    # 5 connections: at least two packets per connection each way (SYN/SYN-ACK and more).
    assert_ge "$name: packets counted by $p after shadowtap (before: ${before[$i]})" $((before[i] + 10)) "$(probe_count "$p")"
    i=$((i + 1))
  done
  agent_status "$H_TMP/after.json"
  local mirrored=cloned
  [ "$mode" = xdp ] && mirrored=ring_sent
  assert_ge "$name: packets shadowtap mirrored meanwhile" 20 \
    "$(($(counter "$H_TMP/after.json" "$mirrored") - $(counter "$H_TMP/before.json" "$mirrored")))"
  for p in "${probes[@]}"; do h_stop_pid "$p" TERM 5; done
  agent_running "$name"
  agent_stop_checked

  # 3. A tcx program that ends the chain, attached first: shadowtap still goes before it.
  if [ "$attach" = tcx ]; then
    probes=()
    for dir in ingress egress; do
      probe_start "pass_$dir" "$dir" --via tcx --first --action pass
      probes+=("$PROBE_PID")
    done
    agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
    for dir in ingress egress; do
      [ "$mode" = xdp ] && [ "$dir" = ingress ] && continue
      assert_eq "$name: tcx $dir chain with a chain-ending program attached earlier" "tc_$dir probe_pass" \
        "$(tcx_programs "$NS_SRV" "$SRV_IF" "$dir" | sed 's/^tc_egress_ring$/tc_egress/' | tr '\n' ' ' | sed 's/ $//')"
    done
    agent_status "$H_TMP/before.json"
    e2e_client "$H_TMP/pass.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 5
    agent_status "$H_TMP/after.json"
    assert_ge "$name: packets mirrored with a chain-ending program on the hooks" 20 \
      "$(($(counter "$H_TMP/after.json" "$mirrored") - $(counter "$H_TMP/before.json" "$mirrored")))"
    sleep 0.3
    for dir in ingress egress; do
      assert_ge "$name: the chain-ending $dir program still ran" 10 "$(probe_count "pass_$dir")"
    done
    agent_running "$name, chain-ending programs"
    agent_stop_checked
    for p in "${probes[@]}"; do h_stop_pid "$p" TERM 5; done
  fi
  check_untapped "$NS_SRV" "$SRV_IF" 1 "$name, after the phase" # the probes' clsact stays
}

phase tc tcx
phase tc clsact
phase xdp tcx
phase xdp clsact
unset SHADOWTAP_TC_ATTACH
