#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Attach/detach hygiene, in tc and xdp mode, with and without a clsact qdisc that pre-exists, with
# the tc programs attached through tcx (the default on this kernel) and through clsact + cls_bpf
# (SHADOWTAP_TC_ATTACH=clsact, the path of kernels before 6.6):
#   - SIGTERM: the agent exits 0 and leaves nothing (tcx programs, tc filters, its clsact, XDP
#     program, its st-* mirror pair, pinned maps); a clsact it did not create is still there.
#   - SIGKILL: the tap stays behind (pins, mirror pair, XDP program, cls_bpf filters), except the
#     tcx programs: their links are not pinned and end with the agent, by design (a mirror nobody
#     reads is cost without benefit; docs/architecture.md). A new `run` on the interface refuses
#     (exit != 0, one line naming `shadowtap detach`) and changes nothing; `detach` then removes
#     everything (same checks), and a second `detach` finds nothing.
#   - --replace-stale: refused while the old agent runs; after a SIGKILL the restarted agent
#     replaces the dead one's tap (one filter per direction, never two taps) and cleans up on exit.
#   - Throughout, the primary path keeps working: a background client opens a connection every
#     50 ms for the whole test and none may fail; one-off connections check each stage too.
# Usage: cleanup_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"

PORT=18070
e2e_make_pair
e2e_start_server "$PORT"

# The primary-path watchdog: runs until $STOP exists (bounded by --max-seconds anyway).
STOP="$H_TMP/stop-watchdog"
ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/tcp_client.py" --host "$SRV4" --port "$PORT" --bind "$CLI4" \
  --until-file "$STOP" --interval 0.05 --timeout 3 --max-seconds 170 >"$H_TMP/watchdog.json" 2>&1 &
WATCHDOG=$!
H_BG_PIDS+=("$WATCHDOG")

primary_ok() { # one fresh connection per family must succeed right now
  e2e_client "$H_TMP/primary.json" --host "$SRV4" --port "$PORT" --bind "$CLI4" --count 3
  e2e_client "$H_TMP/primary6.json" --host "$SRV6" --port "$PORT" --bind "$CLI6" --count 3
  log "ok: primary connections succeed ($1)"
}

scenario() { # MODE PREEXISTING_CLSACT(0|1) ATTACH(tcx|clsact)
  local mode="$1" pre="$2" attach="$3" name="$1 mode, $3, pre-existing clsact=$2"
  log "--- $name"
  if [ "$attach" = clsact ]; then export SHADOWTAP_TC_ATTACH=clsact; else unset SHADOWTAP_TC_ATTACH; fi
  if [ "$pre" = 1 ]; then
    in_srv tc qdisc add dev "$SRV_IF" clsact || fail "cannot add a clsact qdisc to $SRV_IF"
  fi

  # Graceful stop.
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
  assert_eq "$name: attach mode in status" "$attach" "$(jget "$H_TMP/status.start.json" 'j["tc_attach"]')"
  check_tapped "$NS_SRV" "$SRV_IF" "$mode" "$attach" "$name, running"
  primary_ok "$name, agent running"
  agent_stop TERM
  assert_eq "$name: agent exit status after SIGTERM" 0 "$AGENT_RC"
  check_untapped "$NS_SRV" "$SRV_IF" "$pre" "$name, after SIGTERM"
  primary_ok "$name, after SIGTERM"

  # Crash: SIGKILL leaves the tap behind.
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
  agent_stop KILL
  check_tapped "$NS_SRV" "$SRV_IF" "$mode" "$attach" "$name, after SIGKILL" --killed
  primary_ok "$name, agent killed"

  local rc=0
  st run --iface "$SRV_IF" --port "$PORT" --mode "$mode" >"$H_TMP/rerun.out" 2>"$H_TMP/rerun.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$name: a second run on a killed agent's tap succeeded"
  grep -q 'detach' "$H_TMP/rerun.err" || fail "$name: the refusal does not mention detach: $(cat "$H_TMP/rerun.err")"
  assert_eq "$name: stderr lines of the refused run" 1 "$(wc -l <"$H_TMP/rerun.err")"
  grep -q '^shadowtap: ' "$H_TMP/rerun.err" || fail "$name: refusal not prefixed 'shadowtap: ': $(cat "$H_TMP/rerun.err")"
  log "ok: $name: second run refused (exit $rc): $(cat "$H_TMP/rerun.err")"
  check_tapped "$NS_SRV" "$SRV_IF" "$mode" "$attach" "$name, after the refused run" --killed

  local out
  out="$(st detach --iface "$SRV_IF" 2>&1)" || fail "$name: detach failed: $out"
  log "detach said: $(tr '\n' ';' <<<"$out")"
  check_untapped "$NS_SRV" "$SRV_IF" "$pre" "$name, after SIGKILL + detach"
  out="$(st detach --iface "$SRV_IF" 2>&1)" || fail "$name: a second detach failed: $out"
  grep -q 'nothing of shadowtap found' <<<"$out" || fail "$name: a second detach did something: $out"
  primary_ok "$name, after detach"

  # Supervised restart (--replace-stale): never over a live agent, but a dead one's tap is replaced.
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode"
  rc=0
  st run --iface "$SRV_IF" --port "$PORT" --mode "$mode" --replace-stale >/dev/null 2>"$H_TMP/rerun.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$name: --replace-stale took over from a running agent"
  grep -q '(running)' "$H_TMP/rerun.err" || fail "$name: refusal does not say the agent runs: $(cat "$H_TMP/rerun.err")"
  agent_stop KILL
  agent_start --iface "$SRV_IF" --port "$PORT" --percent 100 --mode "$mode" --replace-stale
  grep -q 'replacing the tap' "$AGENT_LOG" || fail "$name: the restarted agent did not say it replaced the old tap"
  check_tapped "$NS_SRV" "$SRV_IF" "$mode" "$attach" "$name, after a --replace-stale restart"
  local dirs=(egress)
  [ "$mode" = tc ] && dirs=(ingress egress)
  for dir in "${dirs[@]}"; do # exactly one program per direction: never two taps
    if [ "$attach" = clsact ]; then
      assert_eq "$name: shadowtap $dir filters after the restart" 1 \
        "$(in_srv tc filter show dev "$SRV_IF" "$dir" | grep -c 'handle 0x5354')"
    else
      assert_eq "$name: shadowtap tcx $dir programs after the restart" 1 \
        "$(tcx_programs "$NS_SRV" "$SRV_IF" "$dir" | grep -c '^tc_')"
    fi
  done
  primary_ok "$name, after a --replace-stale restart"
  agent_stop TERM
  assert_eq "$name: restarted agent exit status" 0 "$AGENT_RC"
  check_untapped "$NS_SRV" "$SRV_IF" "$pre" "$name, after the restarted agent stopped"

  if [ "$pre" = 1 ]; then
    in_srv tc qdisc del dev "$SRV_IF" clsact
  fi
}

scenario tc 0 tcx
scenario tc 1 tcx
scenario xdp 0 tcx
scenario xdp 1 tcx
scenario tc 0 clsact
scenario tc 1 clsact
scenario xdp 0 clsact
unset SHADOWTAP_TC_ATTACH

touch "$STOP"
for _ in $(seq 100); do
  kill -0 "$WATCHDOG" 2>/dev/null || break
  sleep 0.1
done
wait "$WATCHDOG" || fail "the primary path broke during the test: $(cat "$H_TMP/watchdog.json")"
log "watchdog: $(cat "$H_TMP/watchdog.json")"
assert_eq "failed primary connections during the whole test" 0 "$(jget "$H_TMP/watchdog.json" 'j["failed"]')"
assert_gt "primary connections made during the whole test" 20 "$(jget "$H_TMP/watchdog.json" 'j["ok"]')"
