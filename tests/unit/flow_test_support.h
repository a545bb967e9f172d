// SPDX-License-Identifier: Apache-2.0
// What the flow table's tests share: the segments of one test connection.
#pragma once

#include "capture/packet_parser.h"

#include <arpa/inet.h>
#include <cstdint>
#include <cstring>
#include <span>

namespace shadowtap::test {

// A segment of the connection 10.0.0.2:port (client) <-> 10.0.0.1:80 (server), IPv4-mapped as the
// parser gives them, from the client or from the server. The payload is not copied.
inline TcpPacket connSegment(uint16_t port, bool fromClient, uint32_t seq, uint32_t ack,
                             std::span<const uint8_t> payload, bool syn, bool ackFlag, bool fin = false,
                             bool rst = false) {
  TcpPacket p{};
  __u32 c[4] = {0, 0, htonl(0xffff), htonl(0x0a000002)};
  __u32 s[4] = {0, 0, htonl(0xffff), htonl(0x0a000001)};
  std::memcpy(p.src, fromClient ? c : s, 16);
  std::memcpy(p.dst, fromClient ? s : c, 16);
  p.sport = fromClient ? port : 80;
  p.dport = fromClient ? 80 : port;
  p.seq = seq;
  p.ack = ack;
  p.syn = syn;
  p.ack_flag = ackFlag;
  p.fin = fin;
  p.rst = rst;
  p.payload = payload;
  return p;
}

} // namespace shadowtap::test
