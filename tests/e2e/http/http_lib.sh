# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the HTTP e2e tests share, on top of ../lib.sh (source that and call e2e_init first).
HTTP_TOOLS="$E2E_DIR/http/tools"

# start_service NAME LISTEN PORT BEHAVIOUR [DELAY_MS]: tools/behaviour_server.py in the server
# namespace, logging each request to $E2E_TMP/NAME.jsonl; returns once it listens.
start_service() {
  local ready="$E2E_TMP/$1.ready"
  ip netns exec "$NS_SRV" "$PYTHON" "$HTTP_TOOLS/behaviour_server.py" --name "$1" --listen "$2" --port "$3" \
    --behaviour "$4" --delay-ms "${5:-300}" --log "$E2E_TMP/$1.jsonl" --ready-file "$ready" \
    >"$E2E_TMP/$1.log" 2>&1 &
  E2E_BG_PIDS+=("$!")
  for _ in $(seq 100); do
    [ -e "$ready" ] && return 0
    sleep 0.05
  done
  fail "service $1 did not start: $(cat "$E2E_TMP/$1.log")"
}
