#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# "ready" means ready: five fresh agent starts in a row (TC mode, --shadow to a recorder in a
# shadow namespace). Each start polls `status --json` as fast as it answers; at the FIRST status
# that says this agent (its pid) is ready:
#   - /proc/<agent>/status CapEff no longer holds CAP_SYS_ADMIN (bit 21): capabilities are dropped
#     before "ready", not some time after;
#   - a connection sent at once (3 keep-alive POSTs) is replayed to the shadow byte-identical:
#     the capture is open and the loop runs;
#   - /healthz answers 200 (and never answered 200 while status still said "not ready": before
#     "ready" it answers 503 or not at all).
# Why: supervisors (the DaemonSet's probes, systemd, the harness itself) start traffic or declare
# the agent healthy on this signal; a "ready" that comes before the capture is open loses the
# first connections, one before the capability drop runs with privileges it claims to have shed.
# Usage: readiness_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
source "$(dirname "$0")/../lib/harness.sh"
h_init --need curl
h_agent "${1:-}"

PORT=18080
SHADOW=19001
STARTS=5
h_topology rd --shadow
serve_http "$PORT"
serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"

# healthz: the HTTP status of /healthz on the agent's default metrics address ("000": no answer).
healthz() {
  nsenter --net="/run/netns/$NS_SRV" curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    http://127.0.0.1:9477/healthz 2>/dev/null || true
}

for n in $(seq "$STARTS"); do
  : >"$H_TMP/shadow.jsonl"
  : >"$H_TMP/$n.conns"
  agent_launch --iface "$SRV_IF" --port "$PORT" --percent 100 --shadow "$SHD4:$SHADOW"
  polls=0 early=""
  while :; do
    kill -0 "$AGENT_PID" 2>/dev/null || fail "start $n: the agent exited during start-up: $(cat "$AGENT_LOG")"
    [ "$polls" -lt 300 ] || fail "start $n: not ready after $polls status polls"
    polls=$((polls + 1))
    # /healthz first, then status: "ready" never goes back, so a 200 followed by a status that
    # still says "not ready" means /healthz said 200 too early.
    code=$(healthz)
    state=""
    st status --iface "$SRV_IF" --json >"$H_TMP/$n.status.json" 2>/dev/null &&
      state=$(jtry "$H_TMP/$n.status.json" "('ready' if j['ready'] else 'starting') if j['agent_pid'] == $AGENT_PID else ''")
    [ "$state" = ready ] && break
    [ "$state" = starting ] && [ "$code" = 200 ] && fail "start $n: /healthz answered 200 before status said ready"
    early+=" $code${state:+/$state}"
    case "$code" in
    000 | 503 | 200) ;;
    *) fail "start $n: /healthz answered $code during start-up (expected 503 or nothing)" ;;
    esac
    sleep 0.02
  done
  # At once, from the first "ready": the capabilities, then a connection.
  capeff=$(agent_capeff)
  http_client "$H_TMP/$n.client.json" --host "$SRV4" --port "$PORT" --id "r${n}x" --conns 1 --reqs 3 \
    --body 1000 --out-conns "$H_TMP/$n.conns"
  log "start $n: ready after $polls status polls (/healthz[/status] before:${early:- none}), CapEff $(printf '%#x' "$capeff")"
  [ $((capeff >> 21 & 1)) -eq 0 ] || fail "start $n: CAP_SYS_ADMIN still held at the first ready status (CapEff $capeff)"
  [ $((capeff >> 12 & 1)) -eq 1 ] || fail "start $n: CAP_NET_ADMIN missing from the ready agent (CapEff $capeff)"
  log "ok: start $n: CAP_SYS_ADMIN dropped at the first ready status"
  assert_eq "start $n: /healthz once ready" 200 "$(healthz)"
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' 1 10 || true
  compare_streams "$H_TMP/$n.compare.json" --client "$H_TMP/$n.conns" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
  agent_stop_checked
  check_untapped "$NS_SRV" "$SRV_IF" 0 "start $n, after SIGTERM"
done
