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

namespace {

using Frame = std::vector<uint8_t>;

Frame ipv6Tcp(const std::string &payload) {
  Frame f(12, 0xaa);
  f.insert(f.end(), {0x86, 0xdd, 0x60, 0, 0, 0, 0, static_cast<uint8_t>(20 + payload.size()), 6, 64});
  for (int i = 0; i < 2; i++) { // fd00::2 -> fd00::1
    f.insert(f.end(), {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(2 - i)});
  }
  f.insert(f.end(), {0x9c, 0x40, 0x1f, 0x90, 0, 0, 0x10, 0, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

// `inner` (from its Ethernet header) behind an outer IPv4 header of protocol `proto` between two
// nodes, with `tunnelHeader` first; `keepInnerEthernet` false drops the inner Ethernet header.
Frame encapsulate(const Frame &inner, uint8_t proto, const Frame &tunnelHeader, bool keepInnerEthernet) {
  Frame payload = tunnelHeader;
  payload.insert(payload.end(), inner.begin() + (keepInnerEthernet ? 0 : 14), inner.end());
  Frame f(12, 0xbb);
  f.insert(f.end(), {0x08, 0x00});
  size_t total = 20 + payload.size();
  f.insert(f.end(), {0x45, 0, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, 0, 0x40, 0, 64, proto,
                     0, 0, 192, 0, 2, 11, 192, 0, 2, 10});
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}

Frame udpTunnel(uint16_t dport, size_t innerLen, const Frame &header) {
  size_t udpLen = 8 + header.size() + innerLen;
  Frame h = {0xcb, 0x20, static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport), static_cast<uint8_t>(udpLen >> 8),
             static_cast<uint8_t>(udpLen), 0, 0};
  h.insert(h.end(), header.begin(), header.end());
  return h;
}

Frame vxlan(const Frame &inner, uint16_t port = ST_PORT_VXLAN) {
  return encapsulate(inner, 17, udpTunnel(port, inner.size(), {0x08, 0, 0, 0, 0, 0, 42, 0}), true);
}

Frame geneve(const Frame &inner, size_t optionWords, bool ethernet = true) {
  uint16_t type = ethernet ? ST_ETH_P_TEB : (inner[12] << 8 | inner[13]);
  Frame header = {static_cast<uint8_t>(optionWords), 0, static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type),
                  0, 0, 42, 0};
  header.resize(8 + optionWords * 4, 0x5a);
  return encapsulate(inner, 17, udpTunnel(ST_PORT_GENEVE, inner.size() - (ethernet ? 0 : 14), header), ethernet);
}

void expectInner(const Frame &frame, Encap encap, bool v6, const std::string &payload) {
  TcpPacket p;
  ASSERT_EQ(parseTcpFrame(frame, p), ParseError::None);
  EXPECT_EQ(p.encap, encap);
  EXPECT_EQ(p.ipv6, v6);
  EXPECT_EQ(p.sport, 40000);
  EXPECT_EQ(p.dport, 8080);
  EXPECT_FALSE(p.truncated);
  EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), payload);
  EXPECT_EQ(p.segmentLen, 20 + payload.size());
  if (v6) {
    EXPECT_EQ(p.src[0], htonl(0xfd000000));
    EXPECT_EQ(p.src[3], htonl(2));
  } else {
    EXPECT_EQ(p.src[3], htonl(0x0a000002)); // the inner client, not the node 192.0.2.11
    EXPECT_EQ(p.dst[3], htonl(0x0a000001));
  }
}

} // namespace

TEST(PacketParser, OverlaysYieldTheInnerPacket) {
  for (bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "inner ipv6" : "inner ipv4");
    Frame inner = v6 ? ipv6Tcp("over the overlay") : ipv4Tcp("over the overlay", 1);
    expectInner(vxlan(inner), Encap::Vxlan, v6, "over the overlay");
    expectInner(vxlan(inner, ST_PORT_VXLAN_LINUX), Encap::Vxlan, v6, "over the overlay");
    expectInner(geneve(inner, 0), Encap::Geneve, v6, "over the overlay");
    expectInner(geneve(inner, 5), Encap::Geneve, v6, "over the overlay");
    expectInner(geneve(inner, 63), Encap::Geneve, v6, "over the overlay");
    Frame bare = v6 ? inner : ipv4Tcp("over the overlay"); // no VLAN tag: IP straight after the tunnel
    expectInner(encapsulate(bare, v6 ? 41 : 4, {}, false), v6 ? Encap::Ip6ip6 : Encap::Ipip, v6, "over the overlay");
    expectInner(geneve(bare, 1, false), Encap::Geneve, v6, "over the overlay");
  }
  Frame plain = ipv4Tcp("x");
  expectInner(geneve(plain, 2, false), Encap::Geneve, false, "x");
}

TEST(PacketParser, OverlayPaddingAndCutsAreNotPayload) {
  Frame frame = vxlan(ipv4Tcp("abc"));
  frame.resize(frame.size() + 20, 0); // Ethernet padding after the outer IP payload
  expectInner(frame, Encap::Vxlan, false, "abc");
  Frame cut = vxlan(ipv4Tcp("abcdef"));
  cut.resize(cut.size() - 2); // a capture cut: the inner header says 6 bytes, 4 were captured
  TcpPacket p;
  ASSERT_EQ(parseTcpFrame(cut, p), ParseError::None);
  EXPECT_TRUE(p.truncated);
  EXPECT_EQ(std::string(p.payload.begin(), p.payload.end()), "abcd");
}

TEST(PacketParser, NotATunnelIsUdpAndOneLevelOnly) {
  TcpPacket p;
  Frame noIFlag = vxlan(ipv4Tcp("x"));
  noIFlag[14 + 20 + 8] = 0;
  EXPECT_EQ(parseTcpFrame(noIFlag, p), ParseError::NotTcp);
  Frame otherPort = vxlan(ipv4Tcp("x"), 4790);
  EXPECT_EQ(parseTcpFrame(otherPort, p), ParseError::NotTcp);
  Frame genevev1 = geneve(ipv4Tcp("x"), 0);
  genevev1[14 + 20 + 8] = 0x40;
  EXPECT_EQ(parseTcpFrame(genevev1, p), ParseError::NotTcp);
  Frame twice = vxlan(vxlan(ipv4Tcp("x")));
  EXPECT_EQ(parseTcpFrame(twice, p), ParseError::NotTcp);
  Frame optionsPastTheEnd = geneve(ipv4Tcp("x"), 0);
  optionsPastTheEnd[14 + 20 + 8] = 63;
  EXPECT_EQ(parseTcpFrame(optionsPastTheEnd, p), ParseError::Truncated);
}

TEST(PacketParser, OverlayTruncatedAtEveryByteNeverReadsPastTheEnd) {
  for (const Frame &frame : {vxlan(ipv4Tcp("payload", 2, 6)), geneve(ipv6Tcp("payload"), 3),
                             encapsulate(ipv6Tcp("payload"), 41, {}, false)}) {
    for (size_t len = 0; len < frame.size(); len++) {
      Frame cut(frame.begin(), frame.begin() + static_cast<long>(len));
      TcpPacket p;
      if (parseTcpFrame(cut, p) == ParseError::None)
        EXPECT_LE(p.payload.data() + p.payload.size(), cut.data() + cut.size());
    }
  }
}

namespace {
// A SYN (flags 0x02, window 0x1234) whose TCP header carries `options` (padded with NOPs to whole words).
std::vector<uint8_t> synWithOptions(std::vector<uint8_t> options) {
  while (options.size() % 4)
    options.push_back(1);
  auto f = ipv4Tcp("");
  size_t ip = 14, tcp = ip + 20;
  f.insert(f.end(), options.begin(), options.end());
  size_t total = f.size() - ip;
  f[ip + 2] = static_cast<uint8_t>(total >> 8);
  f[ip + 3] = static_cast<uint8_t>(total);
  f[tcp + 12] = static_cast<uint8_t>((20 + options.size()) / 4 << 4);
  f[tcp + 13] = 0x02;
  f[tcp + 14] = 0x12;
  f[tcp + 15] = 0x34;
  return f;
}
} // namespace

// The flow table sizes a direction's buffer from the window its receiver advertises: the window
// field of every segment, and the scale a SYN offers (RFC 7323), which later windows are shifted by.
TEST(PacketParser, WindowAndTheSynsWindowScale) {
  TcpPacket p;
  auto data = ipv4Tcp("x");
  ASSERT_EQ(parseTcpFrame(data, p), ParseError::None);
  EXPECT_EQ(p.window, 0xffff);
  EXPECT_EQ(p.windowScale, -1); // not a SYN

  // MSS, NOP, window scale 7, SACK permitted.
  auto syn = synWithOptions({2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2});
  ASSERT_EQ(parseTcpFrame(syn, p), ParseError::None);
  EXPECT_TRUE(p.syn);
  EXPECT_EQ(p.window, 0x1234);
  EXPECT_EQ(p.windowScale, 7);
  EXPECT_TRUE(p.payload.empty());

  auto noScale = synWithOptions({2, 4, 0x05, 0xb4, 4, 2});
  ASSERT_EQ(parseTcpFrame(noScale, p), ParseError::None);
  EXPECT_EQ(p.windowScale, -1);

  auto huge = synWithOptions({3, 3, 20}); // past 14 counts as 14
  ASSERT_EQ(parseTcpFrame(huge, p), ParseError::None);
  EXPECT_EQ(p.windowScale, 14);

  // Malformed: a zero length stops the walk before the scale; an end-of-options too; a scale
  // option cut by the header's end is not read.
  for (auto options : std::vector<std::vector<uint8_t>>{{8, 0, 3, 3, 7}, {0, 3, 3, 7}, {1, 1, 3, 3}}) {
    auto bad = synWithOptions(options);
    ASSERT_EQ(parseTcpFrame(bad, p), ParseError::None);
    EXPECT_EQ(p.windowScale, -1) << int(options[0]);
  }
}
