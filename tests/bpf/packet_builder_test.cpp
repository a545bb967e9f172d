// SPDX-License-Identifier: Apache-2.0
// The packet builder is test infrastructure, but a wrong length or checksum in it would make
// every other test lie: check what it produces against the formats.
#include "packet_builder.h"
#include "test_packets.h"

#include <gtest/gtest.h>

namespace shadowtap::test {
namespace {

uint16_t be16(const Bytes &p, size_t at) {
  return static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
}

TEST(PacketBuilder, Ipv4TcpLengthsAndChecksums) {
  Bytes p = PacketBuilder()
                .eth()
                .ipv4(Ipv4Layer{.options = {1, 1, 1}})
                .tcp(TcpLayer{.options = {2, 4, 5, 0xb4}})
                .payload(7)
                .build();
  ASSERT_EQ(p.size(), 14u + 24 + 24 + 7);
  EXPECT_EQ(be16(p, 12), kEthPIp);
  EXPECT_EQ(p[14], 0x46);
  EXPECT_EQ(be16(p, 16), 24 + 24 + 7);
  EXPECT_EQ(p[23], kIpProtoTcp);
  EXPECT_EQ(inetChecksum(&p[14], 24), 0) << "IPv4 header checksum";
  EXPECT_EQ(p[14 + 24 + 12] >> 4, 6) << "doff";
  // TCP checksum: pseudo header + segment sums to 0xffff.
  uint32_t pseudo =
      (p[26] << 8 | p[27]) + (p[28] << 8 | p[29]) + (p[30] << 8 | p[31]) + (p[32] << 8 | p[33]) + kIpProtoTcp + 24 + 7;
  EXPECT_EQ(inetChecksum(&p[38], 31, pseudo), 0);
}

TEST(PacketBuilder, Ipv6ExtensionChainAndLengths) {
  Bytes p = PacketBuilder()
                .eth()
                .vlan(kEthP8021AD, 5)
                .vlan(kEthP8021Q, 6)
                .ipv6()
                .ipv6Ext(Ipv6ExtLayer{kIpProtoHopOpts, 1, 0, false, {}})
                .ipv6Ext(Ipv6ExtLayer{kIpProtoAh, 1, 0, false, {}})
                .ipv6Ext(Ipv6ExtLayer{kIpProtoFragment, 0, 3, true, {}})
                .udp()
                .build();
  EXPECT_EQ(be16(p, 12), kEthP8021AD);
  EXPECT_EQ(be16(p, 16), kEthP8021Q);
  EXPECT_EQ(be16(p, 20), kEthPIpv6);
  size_t ip = 22;
  EXPECT_EQ(p[ip + 6], kIpProtoHopOpts);
  EXPECT_EQ(be16(p, ip + 4), 16 + 12 + 8 + 8);
  EXPECT_EQ(p[ip + 40], kIpProtoAh);
  EXPECT_EQ(p[ip + 56], kIpProtoFragment);
  EXPECT_EQ(p[ip + 68], kIpProtoUdp);
  EXPECT_EQ(be16(p, ip + 70), 3 << 3 | 1);
  EXPECT_EQ(p.size(), ip + 40 + 16 + 12 + 8 + 8);
}

TEST(PacketBuilder, ResponseSwapsEndpointsAndTruncateCuts) {
  Bytes req = tcpPacket({}).build(), resp = tcpPacket({}, true).build();
  EXPECT_EQ(be16(req, 34), 40000);
  EXPECT_EQ(be16(req, 36), 80);
  EXPECT_EQ(be16(resp, 34), 80);
  EXPECT_EQ(be16(resp, 36), 40000);
  EXPECT_EQ(tcpPacket({}).truncate(20).build().size(), 20u);
  LayerOffsets offsets;
  PacketBuilder b = tcpPacket({});
  buildWithOffsets(b.layers(), &offsets);
  EXPECT_EQ(offsets.start, (std::vector<size_t>{0, 14, 34}));
}

} // namespace
} // namespace shadowtap::test
