// SPDX-License-Identifier: Apache-2.0
// The flow table: TCP packets in (both directions, any order), whole connections out.
//
// Replay needs only the client's bytes, so only a client-direction hole breaks a flow; a hole or
// overflow in the response direction (e.g. an XDP-mode copy cut at the snaplen) drops just that
// direction's stream, counted, and the replay goes on.
// A connection is followed from its SYN (the SYN's sender is the client). Connections already
// open when the tap started (first packet is not a SYN) are skipped and counted once. Every
// bound is explicit — flows, bytes buffered per direction and in total, idle and gap timeouts —
// and every flow that ends early ends with a reason the sink hears and the stats count.
#pragma once

#include "capture/packet_parser.h"
#include "flow/flow_sink.h"
#include "flow/flow_stats.h"
#include "flow/stream_reassembler.h"

#include <cstring>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

namespace shadowtap::flow {

struct FlowLimits {
  size_t maxFlows = 65536;
  size_t maxBufferedPerDirection = 4u << 20; // out-of-order bytes waiting for a hole to fill
  size_t maxBufferedTotal = 256u << 20;
  uint64_t gapTimeoutNs = 2'000'000'000ull;   // a hole must fill within this
  uint64_t idleTimeoutNs = 300'000'000'000ull;
  uint64_t lingerNs = 10'000'000'000ull; // an ended flow absorbs its late packets this long
};

class FlowTable {
public:
  FlowTable(const FlowLimits &limits, FlowSink &sink);
  ~FlowTable();

  void onPacket(const TcpPacket &packet, uint64_t nowNs);
  void tick(uint64_t nowNs);       // gap and idle timeouts
  void closeAll(FlowEnd reason);   // every open flow ends with `reason`
  // New bounds apply from the next packet; streams keep the per-direction bound they began with.
  void setLimits(const FlowLimits &limits) { limits_ = limits; }

  const FlowStats &stats() const { return stats_; }
  size_t activeFlows() const { return stats_.active; }
  size_t bufferedBytes() const { return stats_.bufferedBytes; }

private:
  struct KeyHash {
    size_t operator()(const st_flow_key &k) const { return st_flow_key_hash(&k, 0x5eed); }
  };
  struct KeyEq {
    bool operator()(const st_flow_key &a, const st_flow_key &b) const { return std::memcmp(&a, &b, sizeof(a)) == 0; }
  };
  struct Flow {
    FlowId id = 0;
    FlowInfo info;
    bool ignored = false;   // mid-stream: tracked only so it is counted once
    bool tombstone = false; // ended: late packets (last ACKs, retransmissions) are absorbed
    std::optional<StreamReassembler> client;
    std::optional<StreamReassembler> server;
    bool clientFinSent = false;
    uint64_t lastSeenNs = 0;
    uint64_t holeSinceNs = 0;       // client direction; 0: no hole
    uint64_t serverHoleSinceNs = 0; // server direction
    bool serverFin = false;         // a FIN from the server was seen, usable stream or not
    std::list<st_flow_key>::iterator lru;
  };
  using Map = std::unordered_map<st_flow_key, Flow, KeyHash, KeyEq>;

  Flow *startFlow(const st_flow_key &key, const TcpPacket &syn, uint64_t nowNs);
  void ignoreFlow(const st_flow_key &key, uint64_t nowNs);
  void makeRoom();
  void feed(Flow &flow, StreamReassembler &stream, bool fromClient, const TcpPacket &packet, uint64_t nowNs);
  // Ends a flow: tells the sink, counts, then keeps a tombstone (or erases it when evicting).
  void end(Map::iterator it, FlowEnd reason, bool erase = false);
  void erase(Map::iterator it);
  void touch(Flow &flow, uint64_t nowNs);
  void dropServerStream(Flow &flow);

  FlowLimits limits_;
  FlowSink &sink_;
  Map flows_;
  std::list<st_flow_key> lru_; // front: most recently seen
  FlowStats stats_;
  FlowId nextId_ = 1;
  std::vector<uint8_t> scratch_;
};

} // namespace shadowtap::flow
