// SPDX-License-Identifier: Apache-2.0
// User-space twin of bpf/lib/parse.h for frames read from the mirror: Ethernet, up to two VLAN
// tags, IPv4 (options; non-first fragments refused), IPv6 (bounded extension-header walk), TCP.
// One level of encapsulation is opened as the BPF parser opens it (VXLAN on UDP 4789/8472, Geneve
// on 6081 with its options, IP protocols 4 and 41), so the packet is the inner TCP segment.
// Never trusts a length field: every read is bounds-checked against the captured bytes.
#pragma once

#include "shadowtap/shared.h"

#include <cstdint>
#include <span>

namespace shadowtap {

enum class ParseError {
  None,
  Truncated, // a header does not fit in the captured bytes
  NotIp,
  NotTcp,
  Fragment,  // non-first fragment: no TCP header
  BadHeader, // impossible field values (version, IHL, doff, ext chain too long)
};

// The tunnel the packet came out of (the ST_C_DECAP_* events of the kernel's parser).
enum class Encap : uint8_t { None, Vxlan, Geneve, Ipip, Ip6ip6 };

struct TcpPacket {
  __u32 src[4]; // IPv4 mapped into ::ffff:a.b.c.d, network order words (as in st_flow_key)
  __u32 dst[4];
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  bool syn = false, ack_flag = false, fin = false, rst = false;
  uint16_t window = 0;     // the receive window as sent (scaled by the sender's shift unless a SYN)
  int8_t windowScale = -1; // SYNs only: the window scale option's shift (RFC 7323), -1 if absent
  bool ipv6 = false;  // the inner IP header, when encapsulated
  Encap encap = Encap::None;
  // The capture cut this packet short (snaplen, or a copy smaller than the frame): its payload
  // is only a prefix of what was sent. The headers are whole.
  bool truncated = false;
  std::span<const uint8_t> payload; // TCP payload, limited by the IP length and the capture
  std::span<const uint8_t> segment; // TCP header + payload (what the TCP checksum covers, if whole)
  uint32_t segmentLen = 0;          // the segment's length by the IP header (0: unknown, e.g. BIG TCP)
  uint32_t zone = 0; // the frame's zone (Frame::zone), set by the pipeline, not the parser
};

// Parses one frame starting at the Ethernet header. On success `out` is filled and None returned.
ParseError parseTcpFrame(std::span<const uint8_t> frame, TcpPacket &out);

} // namespace shadowtap
