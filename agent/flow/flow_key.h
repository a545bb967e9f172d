// SPDX-License-Identifier: Apache-2.0
// A connection's identity in user space: its direction-normalised tuple (st_flow_key, as the
// kernel keys st_flows) and the zone it was mirrored in — a collector's VXLAN VNI, 0 for a tap's
// own frames — so the connections of two nodes that use the same addresses and ports (the pod
// CIDRs of two clusters) never share a flow at one collector.
#pragma once

#include "capture/packet_parser.h"
#include "shadowtap/shared.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace shadowtap::flow {

struct FlowKey {
  st_flow_key tuple{};
  uint32_t zone = 0;

  bool operator==(const FlowKey &other) const {
    return zone == other.zone && std::memcmp(&tuple, &other.tuple, sizeof tuple) == 0;
  }
};

struct FlowKeyHash {
  size_t operator()(const FlowKey &key) const { return st_flow_key_hash(&key.tuple, 0x5eed ^ key.zone); }
};

inline FlowKey flowKeyOf(const TcpPacket &packet) {
  FlowKey key;
  st_flow_key_make(&key.tuple, packet.src, packet.sport, packet.dst, packet.dport);
  key.zone = packet.zone;
  return key;
}

} // namespace shadowtap::flow
