// SPDX-License-Identifier: Apache-2.0
// The capture reader of `shadowtap replay`: classic pcap in both resolutions and byte orders,
// pcapng, Linux cooked and raw IP link types, and malformed files (an Error naming the offset,
// never a crash; a torn last record skipped and reported).
#include "capture/pcap_reader.h"
#include "common/error.h"

#include <cstring>
#include <gtest/gtest.h>
#include <string>
#include <vector>

using namespace shadowtap;

namespace {

using Bytes = std::vector<uint8_t>;

void put32(Bytes &b, uint32_t v, bool big = false) {
  for (int i = 0; i < 4; i++)
    b.push_back(static_cast<uint8_t>(big ? v >> (24 - 8 * i) : v >> (8 * i)));
}
void put16(Bytes &b, uint16_t v, bool big = false) {
  b.push_back(static_cast<uint8_t>(big ? v >> 8 : v));
  b.push_back(static_cast<uint8_t>(big ? v : v >> 8));
}

Bytes classic(uint32_t magic, uint16_t link, bool big = false) {
  Bytes b;
  put32(b, magic, big);
  put16(b, 2, big);
  put16(b, 4, big);
  put32(b, 0, big);
  put32(b, 0, big);
  put32(b, 65535, big);
  put32(b, link, big);
  return b;
}

void record(Bytes &b, uint32_t sec, uint32_t frac, const Bytes &data, bool big = false) {
  put32(b, sec, big);
  put32(b, frac, big);
  put32(b, static_cast<uint32_t>(data.size()), big);
  put32(b, static_cast<uint32_t>(data.size()), big);
  b.insert(b.end(), data.begin(), data.end());
}

struct Read {
  std::vector<Bytes> frames;
  std::vector<uint64_t> ts;
  bool torn = false;
};

Read readAll(const Bytes &file) {
  std::FILE *f = fmemopen(const_cast<uint8_t *>(file.data()), file.size(), "rb");
  Read out;
  {
    PcapReader reader(f, "test.pcap");
    CapturedFrame frame;
    while (reader.next(frame)) {
      out.frames.emplace_back(frame.data.begin(), frame.data.end());
      out.ts.push_back(frame.tsNs);
    }
    out.torn = reader.truncatedTail();
  }
  std::fclose(f);
  return out;
}

std::string errorOf(const Bytes &file) {
  try {
    readAll(file);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

const Bytes kEth = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, 0x45, 0, 0, 20};

} // namespace

TEST(PcapReader, ClassicMicrosAndNanosBothByteOrders) {
  for (bool big : {false, true}) {
    Bytes us = classic(0xa1b2c3d4, 1, big);
    record(us, 10, 5, kEth, big);
    auto r = readAll(us);
    ASSERT_EQ(r.frames.size(), 1u);
    EXPECT_EQ(r.frames[0], kEth);
    EXPECT_EQ(r.ts[0], 10'000'005'000ull);
    Bytes ns = classic(0xa1b23c4d, 1, big);
    record(ns, 10, 5, kEth, big);
    record(ns, 11, 7, kEth, big);
    r = readAll(ns);
    ASSERT_EQ(r.frames.size(), 2u);
    EXPECT_EQ(r.ts[1], 11'000'000'007ull);
    EXPECT_FALSE(r.torn);
  }
}

TEST(PcapReader, LinuxCookedAndRawIpGetAnEthernetHeader) {
  Bytes ip = {0x45, 0, 0, 20, 1, 2, 3, 4};
  Bytes sll(14, 0);
  sll.push_back(0x08);
  sll.push_back(0x00);
  sll.insert(sll.end(), ip.begin(), ip.end());
  Bytes f = classic(0xa1b2c3d4, kLinkLinuxSll);
  record(f, 1, 0, sll);
  auto r = readAll(f);
  ASSERT_EQ(r.frames.size(), 1u);
  ASSERT_EQ(r.frames[0].size(), 14 + ip.size());
  EXPECT_EQ(r.frames[0][12], 0x08);
  EXPECT_EQ(r.frames[0][13], 0x00);
  EXPECT_TRUE(std::equal(ip.begin(), ip.end(), r.frames[0].begin() + 14));

  Bytes raw = classic(0xa1b2c3d4, kLinkRaw);
  Bytes ip6 = {0x60, 0, 0, 0};
  record(raw, 1, 0, ip6);
  r = readAll(raw);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0][12], 0x86);
  EXPECT_EQ(r.frames[0][13], 0xdd);
}

TEST(PcapReader, Pcapng) {
  Bytes b;
  // Section header (length 28), interface (Ethernet, if_tsresol 10^-9), one enhanced packet.
  put32(b, 0x0a0d0d0a), put32(b, 28), put32(b, 0x1a2b3c4d), put16(b, 1), put16(b, 0);
  put32(b, 0xffffffff), put32(b, 0xffffffff), put32(b, 28);
  put32(b, 1), put32(b, 28), put16(b, 1), put16(b, 0), put32(b, 0);
  put16(b, 9), put16(b, 1), b.insert(b.end(), {9, 0, 0, 0}), put32(b, 28);
  size_t padded = (kEth.size() + 3) & ~size_t(3);
  uint32_t total = static_cast<uint32_t>(32 + padded);
  put32(b, 6), put32(b, total), put32(b, 0), put32(b, 0), put32(b, 1234567);
  put32(b, static_cast<uint32_t>(kEth.size())), put32(b, static_cast<uint32_t>(kEth.size()));
  b.insert(b.end(), kEth.begin(), kEth.end());
  b.resize(b.size() + padded - kEth.size(), 0);
  put32(b, total);
  auto r = readAll(b);
  ASSERT_EQ(r.frames.size(), 1u);
  EXPECT_EQ(r.frames[0], kEth);
  EXPECT_EQ(r.ts[0], 1234567u);
}

TEST(PcapReader, TornLastRecordIsSkippedAndReported) {
  Bytes f = classic(0xa1b2c3d4, 1);
  record(f, 1, 0, kEth);
  record(f, 2, 0, kEth);
  for (size_t cut : {size_t(1), size_t(5), kEth.size() + 3}) {
    Bytes torn(f.begin(), f.end() - static_cast<std::ptrdiff_t>(cut));
    auto r = readAll(torn);
    EXPECT_EQ(r.frames.size(), 1u) << cut;
    EXPECT_TRUE(r.torn) << cut;
  }
}

TEST(PcapReader, MalformedFilesThrowWithTheOffset) {
  EXPECT_NE(errorOf({}).find("offset 0: not a capture file"), std::string::npos);
  EXPECT_NE(errorOf({'G', 'E', 'T', ' ', '/'}).find("not a pcap or pcapng file"), std::string::npos);
  Bytes shortHeader = classic(0xa1b2c3d4, 1);
  shortHeader.resize(10);
  EXPECT_NE(errorOf(shortHeader).find("pcap file header cut short"), std::string::npos);
  Bytes badLink = classic(0xa1b2c3d4, 147);
  EXPECT_NE(errorOf(badLink).find("link type 147 is not supported"), std::string::npos);
  Bytes huge = classic(0xa1b2c3d4, 1);
  put32(huge, 1), put32(huge, 0), put32(huge, 1u << 30), put32(huge, 60);
  EXPECT_NE(errorOf(huge).find("offset 24: record of 1073741824 bytes"), std::string::npos);
  Bytes badMicros = classic(0xa1b2c3d4, 1);
  record(badMicros, 1, 2000000, kEth);
  EXPECT_NE(errorOf(badMicros).find("microseconds"), std::string::npos);
  Bytes shortSll = classic(0xa1b2c3d4, kLinkLinuxSll);
  record(shortSll, 1, 0, {1, 2, 3});
  EXPECT_NE(errorOf(shortSll).find("too short for its link header"), std::string::npos);
  Bytes ng;
  put32(ng, 0x0a0d0d0a), put32(ng, 28), put32(ng, 0x1a2b3c4d), put16(ng, 1), put16(ng, 0);
  put32(ng, 0), put32(ng, 0), put32(ng, 28);
  Bytes packetWithoutInterface = ng;
  put32(packetWithoutInterface, 6), put32(packetWithoutInterface, 32);
  for (int i = 0; i < 5; i++)
    put32(packetWithoutInterface, 0);
  put32(packetWithoutInterface, 32);
  EXPECT_NE(errorOf(packetWithoutInterface).find("which no interface block described"), std::string::npos);
  Bytes mismatched = ng;
  put32(mismatched, 5), put32(mismatched, 16), put32(mismatched, 0), put32(mismatched, 20);
  EXPECT_NE(errorOf(mismatched).find("trailing length differs"), std::string::npos);
}
