// SPDX-License-Identifier: Apache-2.0
// The software TCP checksum check against frames whose checksums the kernel computed: captured
// with tcpdump on a veth with transmit checksum offload off (tcpdump -vv: "cksum ... correct"),
// and, for the partial form, on the sending side with offload on ("incorrect -> ..."): the field
// then holds only the pseudo-header sum the NIC would complete.
#include "capture/packet_parser.h"
#include "capture/tcp_checksum.h"

#include <gtest/gtest.h>
#include <string>
#include <vector>

using namespace shadowtap;

namespace {

// 10.9.0.1:41002 -> 10.9.0.2:7000 and fd00:9::1 -> fd00:9::2, Linux 6.18.
const char *kIpv4Syn =
    "46b7825ec24e926e9a12208108004500003c3fc040004006e6e70a0900010a090002a02a1b58ae8b67ab00000000a002"
    "faf001b20000020405b40402080a77b8edd3000000000103030a";
const char *kIpv4Payload5 =
    "46b7825ec24e926e9a1220810800450000393fc240004006e6e80a0900010a090002a02a1b58ae8b67acd2db8cca8018"
    "003f5b6d00000101080a77b8edd30ac6216a68656c6c6f";
const char *kIpv4Payload19 =
    "46b7825ec24e926e9a1220810800450000473fc440004006e6d80a0900010a090002a02a1b58ae8b67b1d2db8ccd8018"
    "003ffe3c00000101080a77b8ee3b0ac6216a6f64642d6c656e6774682d7061796c6f616421";
const char *kIpv6Syn =
    "46b7825ec24e926e9a12208186dd6007415100280640fd000009000000000000000000000001fd000009000000000000"
    "000000000002d9e41b58adc3156300000000a002fd20aa6d0000020405a00402080a755878b0000000000103030a";
const char *kIpv6Payload5 =
    "46b7825ec24e926e9a12208186dd6007415100250640fd000009000000000000000000000001fd000009000000000000"
    "000000000002d9e41b58adc31564fec601c18018004090cc00000101080a755878b0328bce3a68656c6c6f";
const char *kIpv6Payload19 =
    "46b7825ec24e926e9a12208186dd6007415100330640fd000009000000000000000000000001fd000009000000000000"
    "000000000002d9e41b58adc31569fec601c48018004033a000000101080a75587914328bce3a6f64642d6c656e677468"
    "2d7061796c6f616421";
// Transmit offload on: CHECKSUM_PARTIAL, the field is the folded pseudo-header sum.
const char *kIpv4Payload5Partial =
    "7ed2c2ebedbe828396b75f7e080045000039b2eb4000400673bf0a0900010a090002c5061b5809327dab059373998018"
    "003f144000000101080a100b7d1b15526b4268656c6c6f";
const char *kIpv6Payload5Partial =
    "7ed2c2ebedbe828396b75f7e86dd600568c200250640fd000009000000000000000000000001fd000009000000000000"
    "000000000002c4581b580eb7fefc783ae7f080180040fa4100000101080aa1f2ba7f39deb8bc68656c6c6f";

std::vector<uint8_t> hex(const char *text) {
  std::vector<uint8_t> out;
  std::string s(text);
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

TcpChecksumResult check(const std::vector<uint8_t> &frame) {
  TcpPacket p;
  EXPECT_EQ(parseTcpFrame(frame, p), ParseError::None);
  return checkTcpChecksum(p);
}

const std::vector<const char *> kValid = {kIpv4Syn, kIpv4Payload5, kIpv4Payload19,
                                          kIpv6Syn, kIpv6Payload5, kIpv6Payload19};

} // namespace

TEST(TcpChecksum, KernelComputedChecksumsAreValidIpv4AndIpv6EvenAndOddLengths) {
  for (const char *frame : kValid)
    EXPECT_EQ(check(hex(frame)), TcpChecksumResult::Valid) << frame;
}

TEST(TcpChecksum, AnyFlippedBitInTheSegmentOrPseudoHeaderIsInvalid) {
  for (const char *text : kValid) {
    auto frame = hex(text);
    bool v6 = frame[12] == 0x86;
    // From the source address on, every byte is in the pseudo-header or the segment.
    size_t addrs = v6 ? 14 + 8 : 14 + 12;
    for (size_t i = addrs; i < frame.size(); i++) {
      auto bad = frame;
      bad[i] ^= 0x01;
      EXPECT_EQ(check(bad), TcpChecksumResult::Invalid) << "byte " << i << " of " << frame.size();
    }
    // The last byte of an odd-length segment is the high half of a padded word: flipping its
    // top bit must be seen as well.
    auto bad = frame;
    bad.back() ^= 0x80;
    EXPECT_EQ(check(bad), TcpChecksumResult::Invalid);
  }
}

TEST(TcpChecksum, ChecksumOfOnesComplementZeroIsAcceptedInBothForms) {
  // A one's complement sum has two zeros: +0 (0x0000) and -0 (0xffff). Rewrite one byte pair of
  // the payload so that the required checksum becomes 0x0000 or 0xffff and check both spellings.
  auto frame = hex(kIpv4Payload19);
  TcpPacket p;
  ASSERT_EQ(parseTcpFrame(frame, p), ParseError::None);
  size_t checkOff = frame.size() - p.segment.size() + 16;
  uint16_t field = static_cast<uint16_t>(frame[checkOff] << 8 | frame[checkOff + 1]);
  // Adding `field` into the payload's last full word and zeroing the field keeps the sum: the
  // new segment needs checksum 0x0000 (same as 0xffff in one's complement).
  size_t last = frame.size() - 3; // an aligned word inside the 19-byte payload (segment offset even)
  ASSERT_EQ((last - (frame.size() - p.segment.size())) % 2, 0u);
  uint32_t word = static_cast<uint32_t>(frame[last] << 8 | frame[last + 1]) + field;
  word = (word & 0xffff) + (word >> 16);
  frame[last] = static_cast<uint8_t>(word >> 8);
  frame[last + 1] = static_cast<uint8_t>(word);
  frame[checkOff] = frame[checkOff + 1] = 0;
  EXPECT_EQ(check(frame), TcpChecksumResult::Valid);
}

TEST(TcpChecksum, PartialOffloadChecksumIsRecognised) {
  EXPECT_EQ(check(hex(kIpv4Payload5Partial)), TcpChecksumResult::PartialOffload);
  EXPECT_EQ(check(hex(kIpv6Payload5Partial)), TcpChecksumResult::PartialOffload);
  auto bad = hex(kIpv4Payload5Partial);
  bad.back() ^= 1; // a partial field says nothing about the payload; a wrong field is invalid
  EXPECT_EQ(check(bad), TcpChecksumResult::PartialOffload);
  bad = hex(kIpv4Payload5Partial);
  bad[14 + 20 + 17] ^= 1; // the field itself
  EXPECT_EQ(check(bad), TcpChecksumResult::Invalid);
}

TEST(TcpChecksum, EthernetPaddingIsNotPartOfTheSegment) {
  auto frame = hex(kIpv4Payload5);
  frame.resize(80, 0x55);
  EXPECT_EQ(check(frame), TcpChecksumResult::Valid);
}

TEST(TcpChecksum, VlanTagsDoNotMatter) {
  auto frame = hex(kIpv6Payload19);
  frame.insert(frame.begin() + 12, {0x81, 0x00, 0x00, 0x2a});
  EXPECT_EQ(check(frame), TcpChecksumResult::Valid);
}

TEST(TcpChecksum, CutCopiesCannotBeChecked) {
  for (const char *text : kValid) {
    auto frame = hex(text);
    frame.pop_back();
    TcpPacket p;
    if (parseTcpFrame(frame, p) != ParseError::None)
      continue; // cut inside the headers
    EXPECT_TRUE(p.truncated);
    EXPECT_EQ(checkTcpChecksum(p), TcpChecksumResult::Unknown);
  }
}

TEST(TcpChecksum, SumsLargeSegmentsWithoutOverflow) {
  std::vector<uint8_t> ones(65536, 0xff);
  EXPECT_EQ(foldChecksum(onesComplementAdd(ones)), 0xffff);
  std::vector<uint8_t> odd = {0x12, 0x34, 0x56};
  EXPECT_EQ(foldChecksum(onesComplementAdd(odd)), 0x1234 + 0x5600);
}

// The sum is taken eight bytes at a time in the machine's byte order: it must equal RFC 1071's
// big-endian 16-bit words, one by one, for every length (odd ones too), start and running sum.
TEST(TcpChecksum, WordAtATimeSumEqualsTheBigEndianDefinition) {
  auto reference = [](std::span<const uint8_t> data, uint32_t sum) {
    uint64_t acc = sum;
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2)
      acc += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
    if (i < data.size())
      acc += static_cast<uint32_t>(data[i] << 8);
    while (acc >> 16)
      acc = (acc & 0xffffu) + (acc >> 16);
    return static_cast<uint16_t>(acc);
  };
  std::vector<uint8_t> bytes(70000);
  uint32_t seed = 12345;
  for (auto &b : bytes) {
    seed = seed * 1103515245u + 12345u;
    b = static_cast<uint8_t>(seed >> 16);
  }
  for (size_t start : {0u, 1u, 3u, 7u})
    for (size_t length : {0u, 1u, 2u, 3u, 7u, 8u, 9u, 15u, 16u, 17u, 1459u, 1460u, 65535u, 65536u})
      for (uint32_t sum : {0u, 0xffffu, 0x1234567u, 0xfffffff0u}) {
        std::span<const uint8_t> data(bytes.data() + start, length);
        EXPECT_EQ(foldChecksum(onesComplementAdd(data, sum)), reference(data, sum))
            << "start " << start << " length " << length << " sum " << sum;
      }
  std::vector<uint8_t> ones(65536, 0xff); // the largest sums: every word 0xffff
  EXPECT_EQ(foldChecksum(onesComplementAdd(ones, 0xffffffffu)), reference(ones, 0xffffffffu));
}
