// SPDX-License-Identifier: Apache-2.0
#include "test_packets.h"

#include <cstring>

namespace shadowtap::test {

TcpShape tcpShape(uint16_t clientPort, uint8_t flags, size_t payload) {
  TcpShape shape;
  shape.clientPort = clientPort;
  shape.flags = flags;
  shape.payload = payload;
  return shape;
}

PacketBuilder tcpPacket(const TcpShape &shape, bool response) {
  PacketBuilder b;
  b.eth();
  for (const auto &tag : shape.vlans)
    b.vlan(tag);
  if (shape.tunnel != Tunnel::None) {
    // Node addresses outside; requests go node B -> node A, responses back.
    if (shape.outerV6)
      b.ipv6(Ipv6Layer{.src = ipv6(response ? "fd99::a" : "fd99::b"), .dst = ipv6(response ? "fd99::b" : "fd99::a")});
    else
      b.ipv4(Ipv4Layer{.src = ipv4(response ? "192.0.2.10" : "192.0.2.11"),
                       .dst = ipv4(response ? "192.0.2.11" : "192.0.2.10")});
    uint16_t entropy = response ? 51000 : 52000; // the UDP source port: the sender's flow hash
    switch (shape.tunnel) {
    case Tunnel::Vxlan:
    case Tunnel::VxlanLinux:
      b.udp(UdpLayer{entropy, shape.tunnel == Tunnel::Vxlan ? kPortVxlan : kPortVxlanLinux}).vxlan().eth();
      break;
    case Tunnel::Geneve:
    case Tunnel::GeneveIp:
      b.udp(UdpLayer{entropy, kPortGeneve}).geneve(GeneveLayer{.options = shape.geneveOptions});
      if (shape.tunnel == Tunnel::Geneve)
        b.eth();
      break;
    default: // IPIP / ip6ip6: the inner IP header follows straight away
      break;
    }
  }
  if (shape.v6) {
    Ipv6Layer ip;
    ip.src = response ? shape.server6 : shape.client6;
    ip.dst = response ? shape.client6 : shape.server6;
    b.ipv6(ip);
    for (const auto &ext : shape.exts)
      b.ipv6Ext(ext);
  } else {
    Ipv4Layer ip;
    ip.src = response ? shape.server4 : shape.client4;
    ip.dst = response ? shape.client4 : shape.server4;
    ip.options = shape.ipv4Options;
    ip.fragOffset = shape.fragOffset;
    ip.moreFragments = shape.moreFragments;
    ip.dontFragment = !shape.moreFragments && !shape.fragOffset;
    b.ipv4(ip);
  }
  TcpLayer tcp;
  tcp.sport = response ? shape.servicePort : shape.clientPort;
  tcp.dport = response ? shape.clientPort : shape.servicePort;
  tcp.flags = shape.flags;
  tcp.ack = (shape.flags & kTcpAck) ? 1 : 0;
  tcp.options = shape.tcpOptions;
  b.tcp(tcp);
  if (shape.payload)
    b.payload(shape.payload);
  return b;
}

void shapeAddrs(const TcpShape &shape, uint32_t client[4], uint32_t server[4]) {
  if (shape.v6) {
    std::memcpy(client, shape.client6.data(), 16);
    std::memcpy(server, shape.server6.data(), 16);
    return;
  }
  uint8_t c[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, s[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  std::memcpy(c + 12, shape.client4.data(), 4);
  std::memcpy(s + 12, shape.server4.data(), 4);
  std::memcpy(client, c, 16);
  std::memcpy(server, s, 16);
}

} // namespace shadowtap::test
