// SPDX-License-Identifier: Apache-2.0
// The data plane's contract, one table row per case: a packet, a hook, the maps' setup, and what
// must come out: the verdict (always pass), the packet (never modified), the terminal counter and
// events, and whether a clone / ring record was made. Each row also runs through the reference
// classifier, so the fuzz tests' oracle is checked against the same hand-written expectations.
#include "netns_environment.h"
#include "reference_classifier.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <cstring>
#include <functional>
#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

constexpr uint32_t kMirrored = ST_C_MAX; // "mirrored": cloned on TC hooks, ring_sent on XDP
constexpr uint32_t kOtherMark = 0x1234;

struct MapSetup {
  uint32_t ratePpm = ST_RATE_SCALE;
  uint32_t ruleFlags = ST_RULE_ENABLED;
  bool missingMirror = false; // the rule names an ifindex that does not exist
  std::vector<std::string> excludes;
  uint32_t mark = 0; // __sk_buff.mark (TC only)
  uint32_t skipMark = ST_DEFAULT_MARK;
  bool enabled = true;
  uint32_t runtimeFlags = 0; // st_runtime.flags
};

struct Row {
  std::string name;
  std::vector<Hook> hooks;
  std::function<Bytes(Hook)> packet;
  MapSetup setup;
  uint32_t reason;
  std::vector<uint32_t> events;
};

const std::vector<Hook> kAll = {Hook::TcIngress, Hook::TcEgress, Hook::XdpIngress};
const std::vector<Hook> kTc = {Hook::TcIngress, Hook::TcEgress};
// Only XDP: TC test_run refuses these frames (see tcTestRunRefuses); the vlan_ rows cover TC.
const std::vector<Hook> kXdp = {Hook::XdpIngress};
const std::vector<Hook> kIngress = {Hook::TcIngress, Hook::XdpIngress};
const std::vector<uint32_t> kDecided = {ST_C_FLOW_DECIDED};
// A SYN sampled in: its connection is admitted (the ledger's first stage), then recorded.
const std::vector<uint32_t> kAdmitted = {ST_C_FLOW_ADMITTED, ST_C_FLOW_DECIDED};
const std::vector<uint32_t> kStateless = {ST_C_FLOW_STATELESS};

// A packet of the test connection, oriented for the hook: requests on ingress, responses on egress.
std::function<Bytes(Hook)> conn(TcpShape shape = {}) {
  return [shape](Hook hook) { return tcpPacket(shape, isEgress(hook)).build(); };
}
std::function<Bytes(Hook)> request(TcpShape shape = {}) {
  return [shape](Hook) { return tcpPacket(shape, false).build(); };
}
std::function<Bytes(Hook)> response(TcpShape shape = {}) {
  return [shape](Hook) { return tcpPacket(shape, true).build(); };
}
std::function<Bytes(Hook)> raw(PacketBuilder builder) {
  return [builder](Hook) { return builder.build(); };
}
std::function<Bytes(Hook)> truncated(TcpShape shape, size_t len) {
  return [shape, len](Hook hook) { return tcpPacket(shape, isEgress(hook)).truncate(len).build(); };
}

// The test connection (or `s`) on a port no rule names.
TcpShape otherPort(TcpShape s = {}) {
  s.servicePort = 81;
  return s;
}
TcpShape v6() {
  TcpShape s;
  s.v6 = true;
  return s;
}
TcpShape withVlans(std::vector<uint16_t> tpids, bool ip6 = false) {
  TcpShape s;
  s.v6 = ip6;
  uint16_t vid = 10;
  for (uint16_t tpid : tpids)
    s.vlans.push_back(VlanLayer{tpid, vid++, {}});
  return s;
}
TcpShape withExts(std::vector<Ipv6ExtLayer> exts) {
  TcpShape s = v6();
  s.exts = std::move(exts);
  return s;
}
TcpShape flags(uint8_t f, bool ip6 = false) {
  TcpShape s;
  s.v6 = ip6;
  s.flags = f;
  return s;
}

Ipv6ExtLayer ext(uint8_t type, uint8_t hdrLen = 0) {
  return Ipv6ExtLayer{type, hdrLen, 0, false, {}};
}
Ipv6ExtLayer frag6(uint16_t offset, bool more) {
  return Ipv6ExtLayer{kIpProtoFragment, 0, offset, more, {}};
}

TcpShape tunnel(Tunnel kind, bool innerV6 = false, bool outerV6 = false) {
  TcpShape s;
  s.tunnel = kind;
  s.v6 = innerV6;
  s.outerV6 = outerV6;
  return s;
}
std::vector<uint32_t> decapThen(uint32_t decap, std::vector<uint32_t> events) {
  events.insert(events.begin(), decap);
  return events;
}

// A UDP datagram from node B to node A's tunnel port carrying `inner` (layers after the UDP header).
PacketBuilder udpTo(uint16_t port) {
  PacketBuilder b;
  b.eth().ipv4(Ipv4Layer{.src = ipv4("192.0.2.11"), .dst = ipv4("192.0.2.10")}).udp(UdpLayer{52000, port});
  return b;
}

PacketBuilder ipv4With(Ipv4Layer ip, bool withTcp = true) {
  PacketBuilder b;
  b.eth().ipv4(ip);
  if (withTcp)
    b.tcp();
  return b;
}

std::vector<Row> rows() {
  std::vector<Row> r;
  // ---- plain, matched connections ----------------------------------------------------------
  r.push_back({"ipv4_syn", kAll, conn(), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_syn", kAll, conn(v6()), {}, kMirrored, kAdmitted});
  r.push_back({"ipv4_ack_without_record_is_stateless", kAll, conn(flags(kTcpAck)), {}, kMirrored, kStateless});
  r.push_back({"ipv6_data_without_record_is_stateless",
               kAll,
               [](Hook h) {
                 TcpShape s = flags(kTcpAck | kTcpPsh, true);
                 s.payload = 300;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               kStateless});
  r.push_back({"synack_is_not_a_syn", kAll, conn(flags(kTcpSyn | kTcpAck)), {}, kMirrored, kStateless});
  r.push_back({"tcp_with_options_and_payload",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.tcpOptions = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
                 s.payload = 100;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               kAdmitted});
  r.push_back({"rate_zero_syn_not_sampled", kAll, conn(), {.ratePpm = 0}, ST_C_NOT_SAMPLED, kDecided});
  r.push_back({"rule_disabled_flag_is_port_miss", kAll, conn(), {.ruleFlags = 0}, ST_C_PORT_MISS, {}});
  r.push_back({"clone_to_missing_ifindex_fails", kTc, conn(), {.missingMirror = true}, ST_C_CLONE_FAILED, kAdmitted});

  // ---- VLAN --------------------------------------------------------------------------------
  r.push_back({"vlan_8021q", kAll, conn(withVlans({kEthP8021Q})), {}, kMirrored, kAdmitted});
  r.push_back({"vlan_8021ad", kAll, conn(withVlans({kEthP8021AD})), {}, kMirrored, kAdmitted});
  r.push_back({"vlan_8021q_ipv6", kAll, conn(withVlans({kEthP8021Q}, true)), {}, kMirrored, kAdmitted});
  r.push_back({"qinq", kAll, conn(withVlans({kEthP8021AD, kEthP8021Q})), {}, kMirrored, kAdmitted});
  r.push_back({"double_8021q", kAll, conn(withVlans({kEthP8021Q, kEthP8021Q}, true)), {}, kMirrored, kAdmitted});
  r.push_back({"three_tags_vlan_too_deep",
               kAll,
               conn(withVlans({kEthP8021AD, kEthP8021Q, kEthP8021Q})),
               {},
               ST_C_VLAN_TOO_DEEP,
               {}});
  r.push_back({"vlan_not_ip", kAll, raw(PacketBuilder().eth().vlan().arp()), {}, ST_C_NOT_IP, {}});

  // ---- IPv4 options and fragments ----------------------------------------------------------
  r.push_back({"ipv4_options",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.ipv4Options = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}; // record route, 2 slots
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               kAdmitted});
  r.push_back({"ipv4_max_options_ihl15",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.ipv4Options = Bytes(40, 1); // 40 NOPs
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               kAdmitted});
  r.push_back({"ipv4_first_fragment_mf",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.moreFragments = true;
                 s.payload = 64;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               kAdmitted});
  r.push_back({"ipv4_nonfirst_fragment",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.moreFragments = true;
                 s.fragOffset = 185;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               ST_C_FRAGMENT,
               {}});
  r.push_back({"ipv4_last_fragment",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.fragOffset = 1;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               ST_C_FRAGMENT,
               {}});

  // ---- IPv6 extension headers ------------------------------------------------------------
  r.push_back({"ipv6_hop_by_hop", kAll, conn(withExts({ext(kIpProtoHopOpts)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_hop_by_hop_16_bytes", kAll, conn(withExts({ext(kIpProtoHopOpts, 1)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_routing", kAll, conn(withExts({ext(kIpProtoRouting, 2)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_dest_opts", kAll, conn(withExts({ext(kIpProtoDstOpts)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_first_fragment", kAll, conn(withExts({frag6(0, true)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_atomic_fragment", kAll, conn(withExts({frag6(0, false)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_ah", kAll, conn(withExts({ext(kIpProtoAh, 4)})), {}, kMirrored, kAdmitted});
  r.push_back({"ipv6_six_ext_headers_at_walk_limit",
               kAll,
               conn(withExts({ext(kIpProtoHopOpts), ext(kIpProtoDstOpts), ext(kIpProtoRouting), frag6(0, true),
                              ext(kIpProtoAh, 1), ext(kIpProtoDstOpts)})),
               {},
               kMirrored,
               kAdmitted});
  r.push_back({"ipv6_seven_ext_headers_malformed",
               kAll,
               conn(withExts({ext(kIpProtoHopOpts), ext(kIpProtoDstOpts), ext(kIpProtoRouting), frag6(0, true),
                              ext(kIpProtoAh, 1), ext(kIpProtoDstOpts), ext(kIpProtoDstOpts)})),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv6_fragment_nonzero_offset", kAll, conn(withExts({frag6(100, true)})), {}, ST_C_FRAGMENT, {}});
  r.push_back({"ipv6_last_fragment_after_hop_by_hop",
               kAll,
               conn(withExts({ext(kIpProtoHopOpts), frag6(7, false)})),
               {},
               ST_C_FRAGMENT,
               {}});
  r.push_back({"ipv6_esp_not_tcp",
               kAll,
               raw(PacketBuilder().eth().ipv6(Ipv6Layer{.nextHeader = kIpProtoEsp}).payload(40)),
               {},
               ST_C_NOT_TCP,
               {}});
  r.push_back({"ipv6_no_next_header", kAll, raw(PacketBuilder().eth().ipv6()), {}, ST_C_NOT_TCP, {}});
  r.push_back({"ipv6_dest_opts_then_udp",
               kAll,
               raw(PacketBuilder().eth().ipv6().ipv6Ext(ext(kIpProtoDstOpts)).udp()),
               {},
               ST_C_NOT_TCP,
               {}});

  // ---- not TCP / not IP --------------------------------------------------------------------
  r.push_back(
      {"ipv4_udp", kAll, raw(PacketBuilder().eth().ipv4().udp(UdpLayer{40000, 80}).payload(20)), {}, ST_C_NOT_TCP, {}});
  r.push_back({"ipv6_udp", kAll, raw(PacketBuilder().eth().ipv6().udp(UdpLayer{40000, 80})), {}, ST_C_NOT_TCP, {}});
  r.push_back({"ipv4_icmp", kAll, raw(PacketBuilder().eth().ipv4().icmp().payload(56)), {}, ST_C_NOT_TCP, {}});
  r.push_back({"ipv6_icmpv6",
               kAll,
               raw(PacketBuilder().eth().ipv6().icmp(IcmpLayer{128, 0}).payload(56)),
               {},
               ST_C_NOT_TCP,
               {}});
  r.push_back({"arp", kAll, raw(PacketBuilder().eth().arp()), {}, ST_C_NOT_IP, {}});
  r.push_back({"lldp", kAll, raw(PacketBuilder().eth(EthLayer{.ethertype = 0x88cc}).payload(46)), {}, ST_C_NOT_IP, {}});
  r.push_back({"ethernet_only_14_bytes_unknown_type", kAll, raw(PacketBuilder().eth()), {}, ST_C_NOT_IP, {}});

  // ---- malformed and truncated (the shortest frame test_run accepts is 14 bytes) ------------
  r.push_back({"truncated_vlan_tag", kAll, truncated(withVlans({kEthP8021Q}), 17), {}, ST_C_MALFORMED_L2, {}});
  r.push_back(
      {"truncated_vlan_tag_at_ethernet_end", kAll, truncated(withVlans({kEthP8021Q}), 14), {}, ST_C_MALFORMED_L2, {}});
  r.push_back({"truncated_second_vlan_tag",
               kAll,
               truncated(withVlans({kEthP8021AD, kEthP8021Q}), 20),
               {},
               ST_C_MALFORMED_L2,
               {}});
  r.push_back({"ipv4_header_absent", kXdp, truncated({}, 14), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv4_header_truncated", kXdp, truncated({}, 14 + 19), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"vlan_ipv4_header_absent", kAll, truncated(withVlans({kEthP8021Q}), 18), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back(
      {"vlan_ipv4_header_truncated", kAll, truncated(withVlans({kEthP8021Q}), 18 + 19), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"qinq_ipv4_header_truncated",
               kAll,
               truncated(withVlans({kEthP8021AD, kEthP8021Q}), 22 + 1),
               {},
               ST_C_MALFORMED_IPV4,
               {}});
  r.push_back(
      {"vlan_ipv6_header_absent", kAll, truncated(withVlans({kEthP8021Q}, true), 18), {}, ST_C_MALFORMED_IPV6, {}});
  r.push_back({"vlan_ipv6_header_truncated",
               kAll,
               truncated(withVlans({kEthP8021Q}, true), 18 + 39),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv4_options_beyond_data",
               kAll,
               [](Hook h) {
                 TcpShape s;
                 s.ipv4Options = Bytes(40, 1);
                 return tcpPacket(s, isEgress(h)).truncate(14 + 59).build();
               },
               {},
               ST_C_MALFORMED_IPV4,
               {}});
  r.push_back(
      {"ipv4_ihl_beyond_packet_end", kAll, raw(ipv4With(Ipv4Layer{.ihl = 15}, false)), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv4_ihl_4", kAll, raw(ipv4With(Ipv4Layer{.ihl = 4})), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv4_ihl_0", kAll, raw(ipv4With(Ipv4Layer{.ihl = 0})), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv4_bad_version_6", kAll, raw(ipv4With(Ipv4Layer{.version = 6})), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv4_bad_version_0", kAll, raw(ipv4With(Ipv4Layer{.version = 0})), {}, ST_C_MALFORMED_IPV4, {}});
  r.push_back({"ipv6_bad_version_4",
               kAll,
               raw(PacketBuilder().eth().ipv6(Ipv6Layer{.version = 4}).tcp()),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv6_header_absent", kXdp, truncated(v6(), 14), {}, ST_C_MALFORMED_IPV6, {}});
  r.push_back({"ipv6_header_truncated", kXdp, truncated(v6(), 14 + 39), {}, ST_C_MALFORMED_IPV6, {}});
  r.push_back({"ipv6_ext_header_shorter_than_8",
               kAll,
               truncated(withExts({ext(kIpProtoHopOpts)}), 14 + 40 + 7),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv6_ext_header_length_beyond_data",
               kAll,
               truncated(withExts({ext(kIpProtoDstOpts, 3)}), 14 + 40 + 31),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv6_ah_length_beyond_data",
               kAll,
               truncated(withExts({ext(kIpProtoAh, 4)}), 14 + 40 + 23),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv6_fragment_header_truncated",
               kAll,
               truncated(withExts({frag6(0, true)}), 14 + 40 + 4),
               {},
               ST_C_MALFORMED_IPV6,
               {}});
  r.push_back({"ipv4_tcp_header_absent", kAll, truncated({}, 14 + 20), {}, ST_C_MALFORMED_TCP, {}});
  r.push_back({"ipv4_tcp_header_truncated", kAll, truncated({}, 14 + 20 + 19), {}, ST_C_MALFORMED_TCP, {}});
  r.push_back({"ipv6_tcp_header_truncated", kAll, truncated(v6(), 14 + 40 + 13), {}, ST_C_MALFORMED_TCP, {}});
  r.push_back({"ipv6_tcp_after_ext_truncated",
               kAll,
               truncated(withExts({ext(kIpProtoRouting)}), 14 + 48 + 12),
               {},
               ST_C_MALFORMED_TCP,
               {}});
  r.push_back(
      {"tcp_doff_4", kAll, raw(PacketBuilder().eth().ipv4().tcp(TcpLayer{.doff = 4})), {}, ST_C_MALFORMED_TCP, {}});
  r.push_back({"tcp_doff_past_the_packet",
               kAll,
               raw(PacketBuilder().eth().ipv4().tcp(TcpLayer{.doff = 15})),
               {},
               ST_C_MALFORMED_TCP,
               {}});
  r.push_back({"tcp_doff_0_ipv6",
               kAll,
               raw(PacketBuilder().eth().ipv6().tcp(TcpLayer{.doff = 0})),
               {},
               ST_C_MALFORMED_TCP,
               {}});

  // ---- port match by direction -------------------------------------------------------------
  r.push_back({"ingress_port_miss", kAll, conn(otherPort()), {}, ST_C_PORT_MISS, {}});
  r.push_back({"ingress_matches_destination_port_not_source", kIngress, response(), {}, ST_C_PORT_MISS, {}});
  r.push_back({"egress_matches_source_port_not_destination", {Hook::TcEgress}, request(), {}, ST_C_PORT_MISS, {}});
  r.push_back({"egress_response_matches", {Hook::TcEgress}, response(flags(kTcpAck)), {}, kMirrored, kStateless});
  // The host side of a pod's veth: requests to the pod leave by egress, its responses arrive by
  // ingress. With ST_RT_PORTS_EITHER_SIDE the port is looked for on the other side too, and the
  // client is whoever is not on the service port.
  const MapSetup eitherSide{.runtimeFlags = ST_RT_PORTS_EITHER_SIDE};
  r.push_back({"either_side_request_on_egress_matches", {Hook::TcEgress}, request(), eitherSide, kMirrored, kAdmitted});
  r.push_back({"either_side_response_on_ingress_matches", kIngress, response(flags(kTcpAck)), eitherSide, kMirrored,
               kStateless});
  r.push_back({"either_side_hook_side_first", kAll, conn(flags(kTcpAck)), eitherSide, kMirrored, kStateless});
  r.push_back({"either_side_other_port_misses", kAll, conn(otherPort()), eitherSide, ST_C_PORT_MISS, {}});

  // ---- excluded clients: the source on ingress, the destination on egress -----------------
  TcpShape excluded4;
  excluded4.client4 = ipv4("192.168.7.2");
  TcpShape excluded6 = v6();
  excluded6.client6 = ipv6("fd00:7::2");
  r.push_back({"excluded_ipv4_client", kAll, conn(excluded4), {.excludes = {"192.168.0.0/16"}}, ST_C_EXCLUDED, {}});
  r.push_back(
      {"excluded_ipv4_client_host_route", kAll, conn(excluded4), {.excludes = {"192.168.7.2/32"}}, ST_C_EXCLUDED, {}});
  r.push_back({"excluded_ipv6_client", kAll, conn(excluded6), {.excludes = {"fd00:7::/48"}}, ST_C_EXCLUDED, {}});
  // On the other side (a pod's veth), the client is still the one that is not on the service port.
  const MapSetup excludedEitherSide{.excludes = {"192.168.0.0/16"}, .runtimeFlags = ST_RT_PORTS_EITHER_SIDE};
  r.push_back({"either_side_excluded_client_request_on_egress", {Hook::TcEgress}, request(excluded4),
               excludedEitherSide, ST_C_EXCLUDED, {}});
  r.push_back({"either_side_excluded_client_response_on_ingress", kIngress, response(excluded4), excludedEitherSide,
               ST_C_EXCLUDED, {}});
  r.push_back({"excluding_the_server_does_not_exclude_ipv4",
               kAll,
               conn(excluded4),
               {.excludes = {"10.0.0.1/32"}},
               kMirrored,
               kAdmitted});
  r.push_back({"excluding_the_server_does_not_exclude_ipv6",
               kAll,
               conn(excluded6),
               {.excludes = {"fd00::1/128"}},
               kMirrored,
               kAdmitted});
  r.push_back({"exclude_neighbour_prefix_does_not_match",
               kAll,
               conn(excluded4),
               {.excludes = {"192.168.6.0/24"}},
               kMirrored,
               kAdmitted});
  r.push_back(
      {"ipv4_exclude_all_does_not_touch_ipv6", kAll, conn(v6()), {.excludes = {"0.0.0.0/0"}}, kMirrored, kAdmitted});
  r.push_back({"ipv4_exclude_all", kAll, conn(), {.excludes = {"0.0.0.0/0"}}, ST_C_EXCLUDED, {}});

  // ---- overlays: one level of encapsulation, the inner headers decide -------------------------
  const auto vxlanAdmitted = decapThen(ST_C_DECAP_VXLAN, kAdmitted);
  const auto geneveAdmitted = decapThen(ST_C_DECAP_GENEVE, kAdmitted);
  r.push_back({"vxlan_ipv4", kAll, conn(tunnel(Tunnel::Vxlan)), {}, kMirrored, vxlanAdmitted});
  r.push_back({"vxlan_8472_ipv4", kAll, conn(tunnel(Tunnel::VxlanLinux)), {}, kMirrored, vxlanAdmitted});
  r.push_back({"vxlan_ipv6_inner_ipv6_outer", kAll, conn(tunnel(Tunnel::Vxlan, true, true)), {}, kMirrored,
               vxlanAdmitted});
  r.push_back({"vxlan_ipv4_inner_ipv6_outer", kAll, conn(tunnel(Tunnel::Vxlan, false, true)), {}, kMirrored,
               vxlanAdmitted});
  r.push_back({"vxlan_outer_vlan",
               kAll,
               [](Hook h) {
                 TcpShape s = tunnel(Tunnel::Vxlan);
                 s.vlans.push_back(VlanLayer{kEthP8021Q, 7, {}});
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               vxlanAdmitted});
  r.push_back({"vxlan_data_without_record_is_stateless",
               kAll,
               [](Hook h) {
                 TcpShape s = tunnel(Tunnel::Vxlan);
                 s.flags = kTcpAck | kTcpPsh;
                 s.payload = 700;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               decapThen(ST_C_DECAP_VXLAN, kStateless)});
  r.push_back({"geneve_no_options", kAll, conn(tunnel(Tunnel::Geneve)), {}, kMirrored, geneveAdmitted});
  r.push_back({"geneve_with_options",
               kAll,
               [](Hook h) {
                 TcpShape s = tunnel(Tunnel::Geneve);
                 s.geneveOptions = {0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef, // class 0x0102 type 0x80 len 1
                                    0xff, 0xff, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7, 8}; // class 0xffff len 2
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               geneveAdmitted});
  r.push_back({"geneve_252_bytes_of_options_ipv6",
               kAll,
               [](Hook h) {
                 TcpShape s = tunnel(Tunnel::Geneve, true);
                 s.geneveOptions = Bytes(252, 0);
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               kMirrored,
               geneveAdmitted});
  r.push_back({"geneve_ip_payload_without_ethernet", kAll, conn(tunnel(Tunnel::GeneveIp)), {}, kMirrored,
               geneveAdmitted});
  r.push_back({"ipip", kAll, conn(tunnel(Tunnel::IpInIp)), {}, kMirrored, decapThen(ST_C_DECAP_IPIP, kAdmitted)});
  r.push_back({"ip6ip6", kAll, conn(tunnel(Tunnel::IpInIp, true, true)), {}, kMirrored,
               decapThen(ST_C_DECAP_IP6IP6, kAdmitted)});
  r.push_back({"ipv6_in_ipv4_sit", kAll, conn(tunnel(Tunnel::IpInIp, true, false)), {}, kMirrored,
               decapThen(ST_C_DECAP_IP6IP6, kAdmitted)});
  r.push_back({"ipv4_in_ipv6", kAll, conn(tunnel(Tunnel::IpInIp, false, true)), {}, kMirrored,
               decapThen(ST_C_DECAP_IPIP, kAdmitted)});
  r.push_back(
      {"vxlan_inner_port_miss", kAll, conn(otherPort(tunnel(Tunnel::Vxlan))), {}, ST_C_PORT_MISS, {ST_C_DECAP_VXLAN}});
  r.push_back({"vxlan_rate_zero_not_sampled", kAll, conn(tunnel(Tunnel::Vxlan)), {.ratePpm = 0}, ST_C_NOT_SAMPLED,
               decapThen(ST_C_DECAP_VXLAN, kDecided)});
  r.push_back({"vxlan_inner_client_excluded", kAll, conn(tunnel(Tunnel::Vxlan)), {.excludes = {"10.0.0.2/32"}},
               ST_C_EXCLUDED, {ST_C_DECAP_VXLAN}});
  r.push_back({"ipip_inner_client_excluded", kAll, conn(tunnel(Tunnel::IpInIp)), {.excludes = {"10.0.0.0/24"}},
               ST_C_EXCLUDED, {ST_C_DECAP_IPIP}});
  r.push_back({"excluding_the_outer_node_does_not_exclude", kAll, conn(tunnel(Tunnel::Geneve)),
               {.excludes = {"192.0.2.0/24"}}, kMirrored, geneveAdmitted});
  r.push_back({"vxlan_without_i_flag_is_udp", kAll, raw(udpTo(kPortVxlan).vxlan(VxlanLayer{.flags = 0}).eth().ipv4().tcp()),
               {}, ST_C_NOT_TCP, {}});
  r.push_back({"udp_to_vxlan_port_tunnel_header_truncated", kAll, raw(udpTo(kPortVxlan).payload(7)), {}, ST_C_NOT_TCP,
               {}});
  r.push_back({"udp_to_other_port_is_not_a_tunnel", kAll, raw(udpTo(4790).vxlan().eth().ipv4().tcp()), {},
               ST_C_NOT_TCP, {}});
  r.push_back({"geneve_version_1_is_udp", kAll,
               raw(udpTo(kPortGeneve).geneve(GeneveLayer{.version = 1}).eth().ipv4().tcp()), {}, ST_C_NOT_TCP, {}});
  r.push_back({"geneve_unknown_protocol_is_udp", kAll,
               raw(udpTo(kPortGeneve).geneve(GeneveLayer{.protocol = 0x8847}).payload(40)), {}, ST_C_NOT_TCP, {}});
  r.push_back({"geneve_options_beyond_the_packet", kAll,
               raw(udpTo(kPortGeneve).geneve(GeneveLayer{.optLen = 63}).eth().ipv4().tcp()), {}, ST_C_MALFORMED_L2,
               {ST_C_DECAP_GENEVE}});
  r.push_back({"vxlan_inner_arp", kAll, raw(udpTo(kPortVxlan).vxlan().eth().arp()), {}, ST_C_NOT_IP,
               {ST_C_DECAP_VXLAN}});
  r.push_back({"vxlan_inner_ethernet_truncated", kAll, raw(udpTo(kPortVxlan).vxlan().payload(10)), {},
               ST_C_MALFORMED_L2, {ST_C_DECAP_VXLAN}});
  r.push_back({"vxlan_inner_ipv4_truncated", kAll, truncated(tunnel(Tunnel::Vxlan), 14 + 20 + 8 + 8 + 14 + 12), {},
               ST_C_MALFORMED_IPV4, {ST_C_DECAP_VXLAN}});
  r.push_back({"ipip_inner_tcp_truncated", kAll, truncated(tunnel(Tunnel::IpInIp), 14 + 20 + 20 + 10), {},
               ST_C_MALFORMED_TCP, {ST_C_DECAP_IPIP}});
  r.push_back({"vxlan_inner_fragment",
               kAll,
               [](Hook h) {
                 TcpShape s = tunnel(Tunnel::Vxlan);
                 s.fragOffset = 100;
                 return tcpPacket(s, isEgress(h)).build();
               },
               {},
               ST_C_FRAGMENT,
               {ST_C_DECAP_VXLAN}});
  r.push_back({"vxlan_in_vxlan_opens_one_level", kAll,
               raw(udpTo(kPortVxlan).vxlan().eth().ipv4().udp(UdpLayer{53000, kPortVxlan}).vxlan().eth().ipv4().tcp()),
               {}, ST_C_NOT_TCP, {ST_C_DECAP_VXLAN}});
  r.push_back({"ipip_in_ipip_opens_one_level", kAll, raw(PacketBuilder().eth().ipv4().ipv4().ipv4().tcp()), {},
               ST_C_NOT_TCP, {ST_C_DECAP_IPIP}});

  // ---- marks and the runtime switch -------------------------------------------------------
  r.push_back({"agent_marked_packet", kTc, conn(), {.mark = ST_DEFAULT_MARK}, ST_C_MARKED, {}});
  r.push_back(
      {"marked_even_if_malformed", kTc, truncated({}, 14 + 20 + 5), {.mark = ST_DEFAULT_MARK}, ST_C_MARKED, {}});
  r.push_back({"other_mark_is_mirrored", kTc, conn(), {.mark = kOtherMark}, kMirrored, kAdmitted});
  r.push_back({"skip_mark_zero_matches_nothing", kTc, conn(), {.skipMark = 0}, kMirrored, kAdmitted});
  r.push_back({"disabled", kAll, conn(), {.enabled = false}, ST_C_DISABLED, {}});
  r.push_back({"disabled_even_if_malformed", kAll, truncated({}, 14 + 20 + 5), {.enabled = false}, ST_C_DISABLED, {}});
  r.push_back({"disabled_wins_over_mark", kTc, conn(), {.mark = ST_DEFAULT_MARK, .enabled = false}, ST_C_DISABLED, {}});
  return r;
}

struct Case {
  Row row;
  Hook hook;
};

// Readable names in gtest's failure lines instead of a byte dump.
void PrintTo(const Case &c, std::ostream *os) {
  *os << c.row.name << " on " << hookName(c.hook);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const Row &row : rows())
    for (Hook hook : row.hooks)
      out.push_back({row, hook});
  return out;
}

ReferenceConfig referenceConfig(const MapSetup &setup, uint32_t mirror) {
  ReferenceConfig config;
  config.enabled = setup.enabled;
  config.skipMark = setup.skipMark;
  config.seed = kTestSeed;
  config.runtimeFlags = setup.runtimeFlags;
  config.rules[kServicePort] = st_rule{setup.ratePpm, mirror, setup.ruleFlags, 0};
  for (const auto &cidr : setup.excludes)
    config.excludes.push_back(lpmKey(cidr));
  return config;
}

class FixtureTable : public ::testing::TestWithParam<Case> {};

TEST_P(FixtureTable, VerdictPacketCountersAndMirror) {
  const Row &row = GetParam().row;
  const Hook hook = GetParam().hook;
  const MapSetup &setup = row.setup;
  TestTap &tap = tapFor(hook);
  tap.reset();
  uint32_t mirror = setup.missingMirror ? 0x7fff0000u : static_cast<uint32_t>(mirrorIfindex());
  tap.setRule(kServicePort, setup.ratePpm, mirror, setup.ruleFlags);
  for (const auto &cidr : setup.excludes)
    tap.maps().addExclude(lpmKey(cidr));
  st_runtime runtime{kTestSeed, setup.skipMark, setup.enabled ? 1u : 0u, 0};
  runtime.flags = setup.runtimeFlags;
  tap.maps().setRuntime(runtime);

  const Bytes packet = row.packet(hook);
  const uint32_t reason = row.reason == kMirrored ? tap.mirroredReason(hook) : row.reason;
  auto before = tap.counters();
  RunResult result = tap.run(hook, packet, setup.mark);
  auto delta = counterDelta(before, tap.counters());

  ASSERT_EQ(result.err, 0) << "test_run failed: " << std::strerror(-result.err);
  // "next", never "ok": TC_ACT_OK would end the filter chain and skip every later filter.
  EXPECT_EQ(result.retval, isXdp(hook) ? kXdpPass : kTcActUnspec);
  EXPECT_EQ(result.out, packet) << "the program modified the packet\nin:\n"
                                << hexDump(packet) << "\nout:\n"
                                << hexDump(result.out);
  EXPECT_EQ(checkOnePacket(delta, reason, row.events), "") << "expected " << counterName(reason) << " for\n"
                                                           << hexDump(packet);

  auto records = tap.drainRing();
  if (reason == ST_C_RING_SENT) {
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].frame, packet);
  } else {
    EXPECT_TRUE(records.empty()) << "a ring record for a packet that was not mirrored";
  }

  if (!setup.missingMirror) {
    ReferenceClassifier reference(referenceConfig(setup, mirror));
    auto verdict = reference.classify(packet, isEgress(hook), isXdp(hook), tap.ringOutput(hook), setup.mark);
    EXPECT_EQ(counterName(verdict.reason), counterName(reason)) << "the reference classifier disagrees with the table";
    EXPECT_EQ(verdict.events, row.events) << "the reference classifier's events disagree with the table";
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, FixtureTable, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case> &info) {
                           return info.param.row.name + "_" + hookName(info.param.hook);
                         });

// test_run refuses frames shorter than an Ethernet header, so a program never sees one from it;
// pin that down so a kernel that starts accepting them makes us add the L2 rows above.
TEST(ShortFrames, TestRunRejectsFramesBelowEthernetHeader) {
  Bytes shortFrame(13, 0xff);
  for (Hook hook : kAll) {
    TestTap &tap = tapFor(hook);
    tap.reset();
    auto before = tap.counters();
    RunResult result = tap.run(hook, shortFrame);
    EXPECT_EQ(result.err, -EINVAL) << hookName(hook);
    EXPECT_EQ(counterDelta(before, tap.counters())[ST_C_SEEN], 0u) << hookName(hook);
  }
}

// TC test_run also refuses IPv4/IPv6-typed frames shorter than the fixed IP header; XDP takes them.
// If this starts failing, the kernel got more permissive: run the kXdp rows on TC too.
TEST(ShortFrames, TcTestRunRefusesTruncatedIpHeaders) {
  for (bool v6 : {false, true}) {
    TcpShape shape;
    shape.v6 = v6;
    size_t ipHeader = v6 ? 40 : 20;
    for (size_t len = 14; len < 14 + ipHeader; len++) {
      Bytes packet = tcpPacket(shape).truncate(len).build();
      ASSERT_TRUE(tcTestRunRefuses(packet));
      EXPECT_EQ(tcTap().run(Hook::TcIngress, packet).err, -EINVAL) << "len " << len;
      EXPECT_EQ(xdpTap().run(Hook::XdpIngress, packet).err, 0) << "len " << len;
    }
    EXPECT_FALSE(tcTestRunRefuses(tcpPacket(shape).truncate(14 + ipHeader).build()));
  }
}

} // namespace
} // namespace shadowtap::test
