// SPDX-License-Identifier: Apache-2.0
#include "capture/packet_parser.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>

namespace shadowtap {
namespace {

constexpr uint16_t kEthIp = 0x0800, kEthIpv6 = 0x86dd, kEthVlan = 0x8100, kEthQinQ = 0x88a8;
constexpr uint8_t kIpip = 4, kTcp = 6, kUdp = 17, kIpv6 = 41;

uint16_t be16(const uint8_t *p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

bool isIpv6Ext(uint8_t next) {
  return next == 0 || next == 43 || next == 44 || next == 51 || next == 60;
}

// Ethernet and its VLAN tags at `off`; leaves `off` at the payload and returns the ethertype.
ParseError parseEthernet(std::span<const uint8_t> frame, size_t &off, uint16_t &proto) {
  const uint8_t *p = frame.data();
  size_t len = frame.size();
  if (len < off + 14)
    return ParseError::Truncated;
  proto = be16(p + off + 12);
  off += 14;
  for (int i = 0; i < ST_MAX_VLAN_DEPTH && (proto == kEthVlan || proto == kEthQinQ); i++) {
    if (len < off + 4)
      return ParseError::Truncated;
    proto = be16(p + off + 2);
    off += 4;
  }
  return ParseError::None;
}

// What an IP header says about the layer after it.
struct IpLayer {
  size_t l4 = 0;      // upper-layer header offset
  size_t l4End = 0;   // end of the IP payload within the capture
  size_t ipEnd = 0;   // end of the IP payload as the header says (0: unknown), captured or not
  uint8_t next = 0;   // upper-layer protocol
};

// The IP header (`proto` an ethertype) at `off`, within `len` captured bytes; fills the addresses.
ParseError parseIp(std::span<const uint8_t> frame, size_t len, size_t off, uint16_t proto, IpLayer &ip,
                   TcpPacket &out) {
  const uint8_t *p = frame.data();
  if (proto == kEthIp) {
    if (len < off + 20)
      return ParseError::Truncated;
    const uint8_t *h = p + off;
    size_t ihl = (h[0] & 0x0f) * 4u;
    if ((h[0] >> 4) != 4 || ihl < 20)
      return ParseError::BadHeader;
    if (len < off + ihl)
      return ParseError::Truncated;
    if (be16(h + 6) & 0x1fff)
      return ParseError::Fragment;
    ip.next = h[9];
    size_t total = be16(h + 2);
    if (total != 0 && total < ihl)
      return ParseError::BadHeader;
    // tot_len trims Ethernet padding; GSO/GRO super-packets may carry 0 (BIG TCP): then the
    // captured length rules.
    ip.l4End = total ? std::min(len, off + total) : len;
    ip.ipEnd = total ? off + total : 0;
    out.segmentLen = total ? static_cast<uint32_t>(total - ihl) : 0;
    out.src[0] = out.src[1] = out.dst[0] = out.dst[1] = 0;
    out.src[2] = out.dst[2] = htonl(0xffff);
    std::memcpy(&out.src[3], h + 12, 4);
    std::memcpy(&out.dst[3], h + 16, 4);
    out.ipv6 = false;
    ip.l4 = off + ihl;
    return ParseError::None;
  }
  if (proto != kEthIpv6)
    return ParseError::NotIp;
  if (len < off + 40)
    return ParseError::Truncated;
  const uint8_t *ip6 = p + off;
  if ((ip6[0] >> 4) != 6)
    return ParseError::BadHeader;
  size_t payloadLen = be16(ip6 + 4);
  ip.l4End = payloadLen ? std::min(len, off + 40 + payloadLen) : len; // 0: jumbogram / BIG TCP
  ip.ipEnd = payloadLen ? off + 40 + payloadLen : 0;
  std::memcpy(out.src, ip6 + 8, 16);
  std::memcpy(out.dst, ip6 + 24, 16);
  out.ipv6 = true;
  uint8_t next = ip6[6];
  size_t l4 = off + 40;
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
  ip.next = next;
  ip.l4 = l4;
  return ParseError::None;
}

// A UDP datagram at `off` to a VXLAN or Geneve port: moves `off` past the tunnel (and inner
// Ethernet) headers and sets the inner ethertype. Anything else is plain UDP: NotTcp, as in the
// kernel's st_parse_udp_tunnel().
ParseError parseUdpTunnel(std::span<const uint8_t> frame, size_t len, size_t &off, uint16_t &proto, Encap &encap) {
  const uint8_t *p = frame.data();
  if (len < off + 8 + 8)
    return ParseError::NotTcp;
  uint16_t dport = be16(p + off + 2);
  const uint8_t *tun = p + off + 8;
  if (dport == ST_PORT_GENEVE) {
    uint16_t type = be16(tun + 2);
    if ((tun[0] >> 6) != 0 || (type != ST_ETH_P_TEB && type != kEthIp && type != kEthIpv6))
      return ParseError::NotTcp;
    off += 16 + (tun[0] & 0x3fu) * 4u;
    encap = Encap::Geneve;
    if (type != ST_ETH_P_TEB) {
      proto = type;
      return ParseError::None;
    }
  } else if (dport == ST_PORT_VXLAN || dport == ST_PORT_VXLAN_LINUX) {
    if (!(tun[0] & ST_VXLAN_FLAG_I))
      return ParseError::NotTcp;
    off += 16;
    encap = Encap::Vxlan;
  } else {
    return ParseError::NotTcp;
  }
  return parseEthernet(frame.first(len), off, proto);
}

// The shift of a SYN's window scale option (kind 3), -1 without one; past 14 it counts as 14
// (RFC 7323 2.3). Malformed options end the walk, as the kernel's tcp_parse_options does.
int8_t windowScaleOption(std::span<const uint8_t> options) {
  size_t i = 0;
  while (i < options.size()) {
    uint8_t kind = options[i];
    if (kind == 0) // end of options
      break;
    if (kind == 1) { // no-op
      i++;
      continue;
    }
    if (i + 1 >= options.size() || options[i + 1] < 2 || i + options[i + 1] > options.size())
      break;
    if (kind == 3 && options[i + 1] == 3)
      return static_cast<int8_t>(std::min<uint8_t>(options[i + 2], 14));
    i += options[i + 1];
  }
  return -1;
}

} // namespace

ParseError parseTcpFrame(std::span<const uint8_t> frame, TcpPacket &out) {
  const uint8_t *p = frame.data();
  size_t len = frame.size(), off = 0;
  uint16_t proto = 0;
  out.encap = Encap::None;
  if (auto err = parseEthernet(frame, off, proto); err != ParseError::None)
    return err;

  IpLayer ip;
  if (auto err = parseIp(frame, len, off, proto, ip, out); err != ParseError::None)
    return err;
  if (ip.next == kIpip || ip.next == kIpv6 || ip.next == kUdp) {
    // One tunnel: the inner headers live within the outer IP payload that was captured.
    size_t inner = ip.l4;
    size_t outerEnd = ip.l4End;
    if (ip.next == kUdp) {
      if (auto err = parseUdpTunnel(frame, outerEnd, inner, proto, out.encap); err != ParseError::None)
        return err;
    } else {
      proto = ip.next == kIpip ? kEthIp : kEthIpv6;
      out.encap = ip.next == kIpip ? Encap::Ipip : Encap::Ip6ip6;
    }
    IpLayer innerIp;
    if (auto err = parseIp(frame, outerEnd, inner, proto, innerIp, out); err != ParseError::None)
      return err;
    // The outer header's length (a cut capture) bounds what the inner one may claim was sent.
    if (ip.ipEnd > ip.l4End && innerIp.ipEnd == 0)
      innerIp.ipEnd = ip.ipEnd;
    ip = innerIp;
    len = outerEnd;
  }

  if (ip.next != kTcp)
    return ParseError::NotTcp;
  size_t l4 = ip.l4;
  if (len < l4 + 20)
    return ParseError::Truncated;
  const uint8_t *tcp = p + l4;
  size_t doff = (tcp[12] >> 4) * 4u;
  if (doff < 20)
    return ParseError::BadHeader;
  if (len < l4 + doff || ip.l4End < l4 + doff)
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
  out.window = be16(tcp + 14);
  out.windowScale = out.syn ? windowScaleOption({tcp + 20, doff - 20}) : -1;
  out.payload = frame.subspan(l4 + doff, ip.l4End - (l4 + doff));
  out.segment = frame.subspan(l4, ip.l4End - l4);
  out.truncated = ip.ipEnd > ip.l4End; // the IP header says there is more than was captured
  return ParseError::None;
}

} // namespace shadowtap
