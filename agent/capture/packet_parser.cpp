// SPDX-License-Identifier: Apache-2.0
#include "capture/packet_parser.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>

namespace shadowtap {
namespace {

constexpr uint16_t kEthIp = 0x0800, kEthIpv6 = 0x86dd, kEthVlan = 0x8100, kEthQinQ = 0x88a8;
constexpr uint8_t kTcp = 6;

uint16_t be16(const uint8_t *p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

bool isIpv6Ext(uint8_t next) {
  return next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
}

} // namespace

ParseError parseTcpFrame(std::span<const uint8_t> frame, TcpPacket &out) {
  const uint8_t *p = frame.data();
  size_t len = frame.size(), off = 14;
  if (len < 14)
    return ParseError::Truncated;
  uint16_t proto = be16(p + 12);
  for (int i = 0; i < ST_MAX_VLAN_DEPTH && (proto == kEthVlan || proto == kEthQinQ); i++) {
    if (len < off + 4)
      return ParseError::Truncated;
    proto = be16(p + off + 2);
    off += 4;
  }

  size_t l4, l4End; // TCP header offset, end of the IP payload within the capture
  size_t ipEnd = 0;  // end of the IP payload as its header says (0: unknown), captured or not
  uint8_t next;
  if (proto == kEthIp) {
    if (len < off + 20)
      return ParseError::Truncated;
    const uint8_t *ip = p + off;
    size_t ihl = (ip[0] & 0x0f) * 4u;
    if ((ip[0] >> 4) != 4 || ihl < 20)
      return ParseError::BadHeader;
    if (len < off + ihl)
      return ParseError::Truncated;
    if (be16(ip + 6) & 0x1fff)
      return ParseError::Fragment;
    next = ip[9];
    size_t total = be16(ip + 2);
    if (total != 0 && total < ihl)
      return ParseError::BadHeader;
    // tot_len trims Ethernet padding; GSO/GRO super-packets may carry 0 (BIG TCP): then the
    // captured length rules.
    l4End = total ? std::min(len, off + total) : len;
    ipEnd = total ? off + total : 0;
    out.segmentLen = total ? static_cast<uint32_t>(total - ihl) : 0;
    out.src[0] = out.src[1] = out.dst[0] = out.dst[1] = 0;
    out.src[2] = out.dst[2] = htonl(0xffff);
    std::memcpy(&out.src[3], ip + 12, 4);
    std::memcpy(&out.dst[3], ip + 16, 4);
    out.ipv6 = false;
    l4 = off + ihl;
  } else if (proto == kEthIpv6) {
    if (len < off + 40)
      return ParseError::Truncated;
    const uint8_t *ip6 = p + off;
    if ((ip6[0] >> 4) != 6)
      return ParseError::BadHeader;
    size_t payloadLen = be16(ip6 + 4);
    l4End = payloadLen ? std::min(len, off + 40 + payloadLen) : len; // 0: jumbogram / BIG TCP
    ipEnd = payloadLen ? off + 40 + payloadLen : 0;
    std::memcpy(out.src, ip6 + 8, 16);
    std::memcpy(out.dst, ip6 + 24, 16);
    out.ipv6 = true;
    next = ip6[6];
    l4 = off + 40;
    for (int i = 0; i < ST_MAX_IPV6_EXT_HDRS && isIpv6Ext(next); i++) {
      if (len < l4 + 8)
        return ParseError::Truncated;
      size_t extLen;
      if (next == 44) {
        if (be16(p + l4 + 2) & 0xfff8)
          return ParseError::Fragment;
        extLen = 8;
      } else if (next == 51) {
        extLen = (p[l4 + 1] + 2u) * 4u;
      } else {
        extLen = (p[l4 + 1] + 1u) * 8u;
      }
      if (len < l4 + extLen)
        return ParseError::Truncated;
      next = p[l4];
      l4 += extLen;
    }
    if (isIpv6Ext(next))
      return ParseError::BadHeader;
    out.segmentLen = payloadLen && off + 40 + payloadLen >= l4 ? static_cast<uint32_t>(off + 40 + payloadLen - l4) : 0;
  } else {
    return ParseError::NotIp;
  }

  if (next != kTcp)
    return ParseError::NotTcp;
  if (len < l4 + 20)
    return ParseError::Truncated;
  const uint8_t *tcp = p + l4;
  size_t doff = (tcp[12] >> 4) * 4u;
  if (doff < 20)
    return ParseError::BadHeader;
  if (len < l4 + doff || l4End < l4 + doff)
    return ParseError::Truncated;
  out.sport = be16(tcp);
  out.dport = be16(tcp + 2);
  out.seq = be32(tcp + 4);
  out.ack = be32(tcp + 8);
  uint8_t flags = tcp[13];
  out.fin = flags & 0x01;
  out.syn = flags & 0x02;
  out.rst = flags & 0x04;
  out.ack_flag = flags & 0x10;
  out.payload = frame.subspan(l4 + doff, l4End - (l4 + doff));
  out.segment = frame.subspan(l4, l4End - l4);
  out.truncated = ipEnd > l4End; // the IP header says there is more than was captured
  return ParseError::None;
}

} // namespace shadowtap
