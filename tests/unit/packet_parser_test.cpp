// SPDX-License-Identifier: Apache-2.0
#include "capture/packet_parser.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <random>
#include <vector>

using namespace shadowtap;

namespace {

std::vector<uint8_t> ipv4Tcp(const std::string &payload, uint16_t vlanTags = 0, uint8_t ihlWords = 5) {
  std::vector<uint8_t> f(12, 0xaa);
  for (uint16_t i = 0; i < vlanTags; i++) {
    f.insert(f.end(), {0x81, 0x00, 0x00, static_cast<uint8_t>(i + 1)});
  }
  f.insert(f.end(), {0x08, 0x00});
  size_t ip = f.size();
  size_t total = ihlWords * 4 + 20 + payload.size();
  f.insert(f.end(), {static_cast<uint8_t>(0x40 | ihlWords), 0, static_cast<uint8_t>(total >> 8),
                     static_cast<uint8_t>(total), 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1});
  f.resize(ip + ihlWords * 4, 1); // options: NOPs
  f.insert(f.end(), {0x9c, 0x40, 0x1f, 0x90, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

} // namespace

TEST(PacketParser, Ipv4WithOptionsAndVlans) {
  for (uint16_t tags : {0, 1, 2}) {
    auto frame = ipv4Tcp("hello", tags, 7);
    TcpPacket p;
    ASSERT_EQ(parseTcpFrame(frame, p), ParseError::None) << tags;
    EXPECT_EQ(p.sport, 40000);
    EXPECT_EQ(p.dport, 8080);
    EXPECT_EQ(p.seq, 0x1000u);
    EXPECT_TRUE(p.ack_flag);
    EXPECT_FALSE(p.syn);
    EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), "hello");
    EXPECT_EQ(p.src[3], htonl(0x0a000002));
  }
}

TEST(PacketParser, EthernetPaddingIsNotPayload) {
  auto frame = ipv4Tcp("");
  frame.resize(60, 0); // minimum Ethernet frame: 6 bytes of padding after the TCP header
  TcpPacket p;
  ASSERT_EQ(parseTcpFrame(frame, p), ParseError::None);
  EXPECT_TRUE(p.payload.empty());
}

TEST(PacketParser, TruncatedAtEveryByteNeverReadsPastTheEnd) {
  auto frame = ipv4Tcp("payload", 2, 6);
  for (size_t len = 0; len < frame.size(); len++) {
    std::vector<uint8_t> cut(frame.begin(), frame.begin() + static_cast<long>(len));
    TcpPacket p;
    auto err = parseTcpFrame(cut, p);
    if (err == ParseError::None) // only possible once the TCP header is whole; payload is cut
      EXPECT_LE(p.payload.data() + p.payload.size(), cut.data() + cut.size());
  }
}

TEST(PacketParser, RejectsNonTcpAndFragments) {
  auto frame = ipv4Tcp("x");
  TcpPacket p;
  auto udp = frame;
  udp[14 + 9] = 17;
  EXPECT_EQ(parseTcpFrame(udp, p), ParseError::NotTcp);
  auto frag = frame;
  frag[14 + 6] = 0x00;
  frag[14 + 7] = 0x10;
  EXPECT_EQ(parseTcpFrame(frag, p), ParseError::Fragment);
  auto arp = frame;
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(parseTcpFrame(arp, p), ParseError::NotIp);
  auto badIhl = frame;
  badIhl[14] = 0x44;
  EXPECT_EQ(parseTcpFrame(badIhl, p), ParseError::BadHeader);
}

TEST(PacketParser, RandomBytesNeverCrash) {
  std::mt19937 rng(11);
  for (int i = 0; i < 20000; i++) {
    std::vector<uint8_t> f(rng() % 200);
    for (auto &b : f)
      b = static_cast<uint8_t>(rng());
    if (f.size() > 13 && (i & 1)) {
      f[12] = (i & 2) ? 0x08 : 0x86;
      f[13] = (i & 2) ? 0x00 : 0xdd;
    }
    TcpPacket p;
    if (parseTcpFrame(f, p) == ParseError::None)
      ASSERT_LE(p.payload.data() + p.payload.size(), f.data() + f.size());
  }
}
