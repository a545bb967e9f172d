// SPDX-License-Identifier: Apache-2.0
// Packets of one TCP connection between a client and a service, in either direction, with the
// knobs the tests turn (VLAN tags, IPv4 options and fragments, IPv6 extension headers, flags).
#pragma once

#include "packet_builder.h"

#include <vector>

namespace shadowtap::test {

// One level of encapsulation around the connection's packets (outer addresses: the two nodes).
// IpInIp: IP protocol 4 or 41, as the inner family (`v6`) says; GeneveIp: IP straight after Geneve.
enum class Tunnel { None, Vxlan, VxlanLinux, Geneve, GeneveIp, IpInIp };

struct TcpShape {
  Tunnel tunnel = Tunnel::None;
  bool outerV6 = false;  // the tunnel's own IP header
  Bytes geneveOptions;   // Geneve only
  bool v6 = false;
  std::vector<VlanLayer> vlans;
  Bytes ipv4Options;
  uint16_t fragOffset = 0; // IPv4 fragment offset, 8-byte units
  bool moreFragments = false;
  std::vector<Ipv6ExtLayer> exts;
  uint8_t flags = kTcpSyn;
  Bytes tcpOptions;
  size_t payload = 0;
  Ipv4Addr client4 = ipv4("10.0.0.2");
  Ipv4Addr server4 = ipv4("10.0.0.1");
  Ipv6Addr client6 = ipv6("fd00::2");
  Ipv6Addr server6 = ipv6("fd00::1");
  uint16_t clientPort = 40000;
  uint16_t servicePort = 80;
};

// `response`: service -> client (what tc_egress sees); else client -> service.
PacketBuilder tcpPacket(const TcpShape &shape, bool response = false);
// The usual IPv4 shape of a connection from `clientPort`: these flags and `payload` bytes.
TcpShape tcpShape(uint16_t clientPort, uint8_t flags, size_t payload = 0);

// The 16-byte (IPv4-mapped) endpoint addresses of a shape, as the flow key holds them.
void shapeAddrs(const TcpShape &shape, uint32_t client[4], uint32_t server[4]);

} // namespace shadowtap::test
