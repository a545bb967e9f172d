# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The e2e tests' topology and short-connection traffic, on the one harness (tests/lib/harness.sh:
# names, the clean-up trap, the agent, captures).
#
# e2e_init AGENT_BINARY sets the harness up; e2e_make_pair makes the pair every test of this
# folder runs on:
#
#   [ns $NS_CLI]  $CLI_IF ==== veth ==== $SRV_IF  [ns $NS_SRV]   <- the agent taps $SRV_IF
#    $CLI4 $CLI4_EXCL                         $SRV4                  st-<SRV_IF...>.0 -> .1
#    $CLI6 $CLI6_EXCL                         $SRV6                  (created by `run`: $AGENT_MIRROR_TX/RX)
#
# with a second client address per family (the one the tests exclude). Only 10.77.x and ULA
# fd00:5354:e2e::/64 addresses, only inside these namespaces.

# shellcheck source=tests/lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/harness.sh"

e2e_init() {
  h_init --need tc --need tcpdump --need setpriv
  h_agent "${1:-}"
  # errors_test.sh (which grows concurrently) still says E2E_TMP: the same directory as H_TMP.
  # shellcheck disable=SC2034
  E2E_TMP="$H_TMP"
}

e2e_make_pair() {
  H_NET=10.77
  h_topology e2e
  CLI4_EXCL=10.77.0.3
  SRV6=fd00:5354:e2e::1 CLI6=fd00:5354:e2e::2 CLI6_EXCL=fd00:5354:e2e::ee03
  ip -n "$NS_CLI" addr add "$CLI4_EXCL/24" dev "$CLI_IF"
  # nodad: the addresses are usable at once instead of after duplicate address detection.
  ip -n "$NS_SRV" addr add "$SRV6/64" dev "$SRV_IF" nodad
  ip -n "$NS_CLI" addr add "$CLI6/64" dev "$CLI_IF" nodad
  ip -n "$NS_CLI" addr add "$CLI6_EXCL/64" dev "$CLI_IF" nodad
  # Some tests run the agent by hand (expecting it to fail): a tap it would leave is cleaned too.
  h_tap_register "$NS_SRV" "$SRV_IF"
}

# e2e_start_server PORT[,PORT...] [--mode echo-lines]: tests/tools/tcp_server.py in the server namespace.
e2e_start_server() {
  local ports="$1"
  shift
  h_serve "server.${ports//,/-}" "$NS_SRV" "$PYTHON" "$H_TOOLS/tcp_server.py" --ports "$ports" "$@"
}

# e2e_client OUT_JSON ARGS...: tests/tools/tcp_client.py in the client namespace (bounded), leaves its
# JSON summary in OUT_JSON and fails the test if any connection failed.
e2e_client() {
  local out="$1"
  shift
  if ! timeout 60 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/tcp_client.py" "$@" >"$out" 2>&1; then
    fail "client $* failed: $(cat "$out")"
  fi
}

# mirrored_run NAME PORT CLIENT_ARGS...: the client's connections with a capture on the mirror port
# around them, then the agent's status and the capture's summary: $H_TMP/NAME.client.json,
# NAME.status.json, NAME.pcap, NAME.json.
mirrored_run() {
  local name="$1" port="$2"
  shift 2
  capture_start "$name"
  e2e_client "$H_TMP/$name.client.json" "$@"
  capture_stop
  status_json "$SRV_IF" "$H_TMP/$name.status.json"
  analyse "$CAP_FILE" "$H_TMP/$name.json" "$port"
}

# 5-sigma bounds of a binomial count: "low high" for N trials at percent P.
binomial_bounds() {
  "$PYTHON" -c 'import math,sys; n=int(sys.argv[1]); p=float(sys.argv[2])/100; m=n*p; s=5*math.sqrt(n*p*(1-p)); print(max(0,math.floor(m-s)), math.ceil(m+s))' "$1" "$2"
}

# start_service NAME LISTEN PORT BEHAVIOUR [DELAY_MS]: tests/tools/behaviour_server.py (the HTTP
# tests' service) in the server namespace, logging each request to $H_TMP/NAME.jsonl.
start_service() {
  h_serve "$1" "$NS_SRV" "$PYTHON" "$H_TOOLS/behaviour_server.py" --name "$1" --listen "$2" --port "$3" \
    --behaviour "$4" --delay-ms "${5:-300}" --log "$H_TMP/$1.jsonl"
}
