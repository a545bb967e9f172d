# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# netns.sh: network namespaces, veth pairs, addresses, and the topology most scripts share.
#
# h_topology TAG [--shadow] [--router] [--no-ipv6]:
#
#   [ns $NS_CLI] $CLI_IF ==veth== $SRV_IF [ns $NS_SRV] $SRV_SH_IF ==veth== $SHD_IF [ns $NS_SHD]
#     $CLI4                          $SRV4   the service   $SRV_SH4           $SHD4   the shadow(s)
#                                    ^ the agent taps $SRV_IF (its mirror pair is made in $NS_SRV)
#                                      and replays from $SRV_SH4 to the shadow namespace (--shadow)
#
#   --router: the client sits one hop further, behind a router namespace $NS_RTR whose forward
#   chain can impair traffic per segment (h_impair; TCP hands GSO super-packets to the client's
#   own output hook even with GSO off, so per-segment loss has to happen on a forwarding hop):
#
#   [ns $NS_CLI] $CLI_IF ==== $RTC_IF [ns $NS_RTR] $RTS_IF ==== $SRV_IF [ns $NS_SRV] ...
#     $H_NET.2.2               $H_NET.2.1          $H_NET.0.2          $SRV4
#
# Names: namespaces TAG-cli-$H_ID, TAG-srv-$H_ID..., interfaces TAG + one letter + $H_ID (TAG
# of at most 4 characters: <= 15). Addresses: $H_NET.0.1 server, .0.2 client, $H_NET.1.1/.1.2
# server/shadow (H_NET defaults to 10.88; set it, or any of the address variables, before
# calling). Only inside these namespaces.
# The agent runs through `nsenter --net` (see agent.sh); everything else through `ip netns exec`
# (in_cli, in_srv, in_shd, in_rtr, in_ns). Never background these functions: $! would be a
# subshell; background `ip netns exec NS CMD` itself (h_bg).

H_NET="${H_NET:-10.88}"

in_ns() {
  local ns="$1"
  shift
  ip netns exec "$ns" "$@"
}
in_cli() { ip netns exec "$NS_CLI" "$@"; }
in_srv() { ip netns exec "$NS_SRV" "$@"; }
in_shd() { ip netns exec "$NS_SHD" "$@"; }
in_rtr() { ip netns exec "$NS_RTR" "$@"; }

# h_netns_add NS [--no-ipv6]: a namespace, deleted on exit, loopback up.
h_netns_add() {
  ip netns add "$1" || fail "cannot create namespace $1"
  H_NETNS+=("$1")
  ip -n "$1" link set lo up
  if [ "${2:-}" = --no-ipv6 ]; then
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
}

# h_veth NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair between two namespaces, both ends up.
# ADDR_* are CIDRs ("" for none).
h_veth() {
  ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" || fail "cannot create veth $2/$5"
  [ -z "$3" ] || ip -n "$1" addr add "$3" dev "$2"
  [ -z "$6" ] || ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

# h_wait_up NS IF: no ping on minimal CI images: wait (bounded) for carrier; the first connection
# of each script then proves the path end to end.
h_wait_up() {
  local i
  for ((i = 0; i < 50; i++)); do
    ip -n "$1" -o link show dev "$2" | grep -q 'state UP' && return 0
    sleep 0.1
  done
  fail "$2 in $1 did not come up"
}

h_topology() {
  local tag="$1" shadow=0 router=0 noipv6=""
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
    --shadow) shadow=1 ;;
    --router) router=1 ;;
    --no-ipv6) noipv6=--no-ipv6 ;;
    *) fail "h_topology: unknown option $1" ;;
    esac
    shift
  done
  [ "${#tag}" -le 4 ] || fail "h_topology: tag '$tag' longer than 4 characters"
  NS_CLI="$tag-cli-$H_ID" NS_SRV="$tag-srv-$H_ID" NS_SHD="$tag-shd-$H_ID" NS_RTR="$tag-rtr-$H_ID"
  CLI_IF="${tag}c$H_ID" SRV_IF="${tag}s$H_ID" SRV_SH_IF="${tag}h$H_ID" SHD_IF="${tag}d$H_ID"
  RTC_IF="${tag}a$H_ID" RTS_IF="${tag}b$H_ID"
  SRV4="${SRV4:-$H_NET.0.1}" CLI4="${CLI4:-$H_NET.0.2}" SRV_SH4="${SRV_SH4:-$H_NET.1.1}" SHD4="${SHD4:-$H_NET.1.2}"
  h_netns_add "$NS_SRV" $noipv6
  h_netns_add "$NS_CLI" $noipv6
  if [ "$router" = 1 ]; then
    h_netns_add "$NS_RTR" $noipv6
    CLI4="$H_NET.2.2"
    h_veth "$NS_CLI" "$CLI_IF" "$CLI4/24" "$NS_RTR" "$RTC_IF" "$H_NET.2.1/24"
    h_veth "$NS_RTR" "$RTS_IF" "$H_NET.0.2/24" "$NS_SRV" "$SRV_IF" "$SRV4/24"
    in_rtr sysctl -qw net.ipv4.ip_forward=1
    ip -n "$NS_CLI" route add default via "$H_NET.2.1"
    ip -n "$NS_SRV" route add "$H_NET.2.0/24" via "$H_NET.0.2"
    h_wait_up "$NS_RTR" "$RTC_IF"
    h_wait_up "$NS_RTR" "$RTS_IF"
  else
    h_veth "$NS_CLI" "$CLI_IF" "$CLI4/24" "$NS_SRV" "$SRV_IF" "$SRV4/24"
  fi
  if [ "$shadow" = 1 ]; then
    h_netns_add "$NS_SHD" $noipv6
    h_veth "$NS_SRV" "$SRV_SH_IF" "$SRV_SH4/24" "$NS_SHD" "$SHD_IF" "$SHD4/24"
    h_wait_up "$NS_SRV" "$SRV_SH_IF"
    h_wait_up "$NS_SHD" "$SHD_IF"
  fi
  h_wait_up "$NS_CLI" "$CLI_IF"
  h_wait_up "$NS_SRV" "$SRV_IF"
  log "topology: $NS_CLI($CLI4) -> $NS_SRV($SRV4, $SRV_IF)$([ "$shadow" = 1 ] && echo " -> $NS_SHD($SHD4)")$([ "$router" = 1 ] && echo " via $NS_RTR")"
}

# h_impair PORT DROP_PERCENT DUP_PERCENT: the router drops and duplicates that share of the
# client's TCP segments to $SRV4:PORT (nftables numgen, forward hook), with TSO/GSO/GRO off on the
# client's path so every segment is MSS-sized. Needs h_topology --router.
h_impair() {
  local port="$1" drop="$2" dup="$3" spec ns ifc
  for spec in "$NS_CLI $CLI_IF" "$NS_RTR $RTC_IF" "$NS_RTR $RTS_IF"; do
    read -r ns ifc <<<"$spec"
    ip netns exec "$ns" ethtool -K "$ifc" tso off gso off gro off >/dev/null 2>&1 ||
      fail "ethtool -K $ifc tso off gso off gro off failed in $ns"
  done
  in_rtr nft -f - <<NFT || fail "cannot install the impairment rules"
table ip h_impair {
  chain impair {
    type filter hook forward priority 0; policy accept;
    ip saddr $CLI4 ip daddr $SRV4 tcp dport $port numgen random mod 100 < $drop counter drop
    ip saddr $CLI4 ip daddr $SRV4 tcp dport $port numgen random mod 100 < $dup counter dup to $SRV4 device "$RTS_IF"
  }
}
NFT
}

# h_impair_counts: "DROPPED DUPLICATED" segments so far.
h_impair_counts() {
  local out
  out="$(in_rtr nft list table ip h_impair)"
  echo "$(grep -o 'counter packets [0-9]* bytes [0-9]* drop' <<<"$out" | awk '{print $3}')" \
    "$(grep -o 'counter packets [0-9]* bytes [0-9]* dup' <<<"$out" | awk '{print $3}')"
}
