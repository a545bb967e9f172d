# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The replay suite's topology, on the one harness (tests/lib/harness.sh). replay_init AGENT
# [--router] makes:
#
#   [ns $NS_CLI] $CLI_IF ==veth== $SRV_IF [ns $NS_SRV] $SRV_SH_IF ==veth== $SHD_IF [ns $NS_SHD]
#     $CLI4                          $SRV4  http_server.py   $SRV_SH4           $SHD4  recorder.py
#                                           on $PORT (18080)
#                                    ^ the agent taps $SRV_IF and replays to the shadow namespace
#
# (--router: the client one hop further, behind $NS_RTR, whose forward chain h_impair can
# impair). Only 10.88.x addresses, only inside these namespaces.

# shellcheck source=tests/lib/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../lib/harness.sh"

# node_neighbour NS NODE_IF FAR_IF NODE4 FAR4: one more namespace NS hanging off the server (node)
# namespace by a veth: NODE_IF in $NS_SRV with NODE4/24, FAR_IF in NS with FAR4/24, both up.
node_neighbour() {
  h_netns_add "$1"
  h_veth "$NS_SRV" "$2" "$4/24" "$1" "$3" "$5/24"
  h_wait_up "$NS_SRV" "$2"
  h_wait_up "$1" "$3"
}

replay_init() {
  h_init --need nft --need ethtool
  h_agent "${1:-}"
  shift || true
  h_topology rp --shadow "$@"
  PORT=18080
  serve_http "$PORT"
}
