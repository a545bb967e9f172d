// SPDX-License-Identifier: Apache-2.0
// What the flow table tells the stages after it (replay, later HTTP/compare) about connections.
#pragma once

#include "flow/flow_key.h"
#include "shadowtap/shared.h"

#include <cstdint>
#include <span>

namespace shadowtap::flow {

using FlowId = uint64_t;

struct FlowInfo {
  FlowKey key;
  __u32 client[4]{}; // IPv4 mapped
  __u32 server[4]{};
  uint16_t clientPort = 0;
  uint16_t serverPort = 0;
  bool ipv6 = false;
};

enum class FlowEnd {
  Completed,   // both directions reached their FIN with no hole
  Reset,       // the client reset its connection: the replay aborts too
  ServerReset, // the server reset it: what the server had accepted is replayed whole, then closed
  Broken,      // a hole never filled (gap timeout, FIN with a hole, buffer overflow): nothing after it is sent
  Evicted,     // the flow table was full (LRU eviction)
  IdleTimeout, // no packet for the idle timeout
  Shutdown,    // the agent is stopping
  Shed,        // overload: the agent gave it up in flight, whole (the kernel stops mirroring it)
};

const char *flowEndName(FlowEnd end);

class FlowSink {
public:
  virtual ~FlowSink() = default;
  // The handshake was seen (SYN, then the server's SYN-ACK acknowledging it): a connection the
  // server accepted. Half-open connections never reach the sink.
  virtual void onFlowStart(FlowId id, const FlowInfo &info) = 0;
  // Client-to-server bytes, in order, each exactly once, as the server acknowledges them.
  virtual void onClientData(FlowId id, std::span<const uint8_t> bytes) = 0;
  // The client's FIN, reached in sequence and acknowledged: every client byte has been delivered.
  virtual void onClientFin(FlowId id) = 0;
  // The server's FIN came before the client's: the server closed first (a server that ends the
  // exchange, e.g. after Connection: close). The replay then lets the shadow close first too.
  virtual void onServerClosedFirst(FlowId) {}
  // Server-to-client bytes, in order (used for comparison; replay ignores them).
  virtual void onServerData(FlowId, std::span<const uint8_t>) {}
  // Last call for this id.
  virtual void onFlowEnd(FlowId id, FlowEnd end) = 0;
};

} // namespace shadowtap::flow
