// SPDX-License-Identifier: Apache-2.0
#include "capture/tcp_checksum.h"

#include <cstring>

namespace shadowtap {

uint32_t onesComplementAdd(std::span<const uint8_t> data, uint32_t sum) {
  // 64-bit accumulator: a 64 KiB segment adds at most 32768 words of 0xffff, far from overflow.
  uint64_t acc = sum;
  size_t i = 0, n = data.size();
  for (; i + 1 < n; i += 2)
    acc += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (i < n)
    acc += static_cast<uint32_t>(data[i] << 8);
  while (acc >> 32)
    acc = (acc & 0xffffffffu) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

uint16_t foldChecksum(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TcpChecksumResult checkTcpChecksum(const TcpPacket &packet) {
  if (packet.truncated || packet.segmentLen == 0 || packet.segment.size() != packet.segmentLen ||
      packet.segment.size() < 20)
    return TcpChecksumResult::Unknown;

  // Pseudo-header: addresses, protocol and TCP length (IPv4: 12 bytes, IPv6: 40 bytes; the sum
  // is the same whatever the order of its 16-bit words).
  uint32_t pseudo = 0;
  uint8_t addrs[32];
  if (packet.ipv6) {
    std::memcpy(addrs, packet.src, 16);
    std::memcpy(addrs + 16, packet.dst, 16);
    pseudo = onesComplementAdd({addrs, 32});
  } else {
    std::memcpy(addrs, &packet.src[3], 4);
    std::memcpy(addrs + 4, &packet.dst[3], 4);
    pseudo = onesComplementAdd({addrs, 8});
  }
  uint32_t len = packet.segmentLen;
  pseudo += (len >> 16) + (len & 0xffffu) + 6u /* IPPROTO_TCP */;

  uint16_t total = foldChecksum(onesComplementAdd(packet.segment, pseudo));
  if (total == 0xffff)
    return TcpChecksumResult::Valid;
  // A partial checksum is the folded pseudo-header sum itself, written where the result goes.
  uint16_t field = static_cast<uint16_t>(packet.segment[16] << 8 | packet.segment[17]);
  uint16_t partial = foldChecksum(pseudo);
  if (field == partial || (partial == 0xffff && field == 0) || (partial == 0 && field == 0xffff))
    return TcpChecksumResult::PartialOffload;
  return TcpChecksumResult::Invalid;
}

} // namespace shadowtap
