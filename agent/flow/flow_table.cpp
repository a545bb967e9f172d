// SPDX-License-Identifier: Apache-2.0
#include "flow/flow_table.h"

namespace shadowtap::flow {

const char *flowEndName(FlowEnd end) {
  switch (end) {
  case FlowEnd::Completed: return "completed";
  case FlowEnd::Reset: return "reset";
  case FlowEnd::Broken: return "broken";
  case FlowEnd::Evicted: return "evicted";
  case FlowEnd::IdleTimeout: return "idle_timeout";
  case FlowEnd::Shutdown: return "shutdown";
  }
  return "unknown";
}

FlowTable::FlowTable(const FlowLimits &limits, FlowSink &sink) : limits_(limits), sink_(sink) {
  flows_.reserve(limits_.maxFlows);
}

FlowTable::~FlowTable() = default;

void FlowTable::touch(Flow &flow, uint64_t nowNs) {
  flow.lastSeenNs = nowNs;
  lru_.splice(lru_.begin(), lru_, flow.lru);
}

void FlowTable::makeRoom() {
  while (flows_.size() >= limits_.maxFlows && !lru_.empty()) {
    auto it = flows_.find(lru_.back());
    end(it, FlowEnd::Evicted, true);
  }
}

FlowTable::Flow *FlowTable::startFlow(const st_flow_key &key, const TcpPacket &syn, uint64_t nowNs) {
  makeRoom();
  lru_.push_front(key);
  Flow &flow = flows_[key];
  flow.id = nextId_++;
  flow.lru = lru_.begin();
  flow.lastSeenNs = nowNs;
  flow.info.key = key;
  std::memcpy(flow.info.client, syn.src, sizeof(flow.info.client));
  std::memcpy(flow.info.server, syn.dst, sizeof(flow.info.server));
  flow.info.clientPort = syn.sport;
  flow.info.serverPort = syn.dport;
  flow.info.ipv6 = syn.ipv6;
  flow.client.emplace(syn.seq, limits_.maxBufferedPerDirection);
  stats_.active++;
  stats_.flowsStarted++;
  sink_.onFlowStart(flow.id, flow.info);
  return &flow;
}

void FlowTable::ignoreFlow(const st_flow_key &key, uint64_t nowNs) {
  makeRoom();
  lru_.push_front(key);
  Flow &flow = flows_[key];
  flow.ignored = true;
  flow.lru = lru_.begin();
  flow.lastSeenNs = nowNs;
  stats_.midstreamSkipped++;
}

void FlowTable::onPacket(const TcpPacket &packet, uint64_t nowNs) {
  stats_.packets++;
  st_flow_key key;
  st_flow_key_make(&key, packet.src, packet.sport, packet.dst, packet.dport);
  bool opening = packet.syn && !packet.ack_flag && !packet.rst;

  auto it = flows_.find(key);
  if (it != flows_.end() && it->second.ignored && opening) {
    erase(it); // the tuple is reused by a new connection: forget the old one
    it = flows_.end();
  }
  if (it == flows_.end()) {
    if (opening)
      startFlow(key, packet, nowNs);
    else
      ignoreFlow(key, nowNs);
    return;
  }

  Flow &flow = it->second;
  touch(flow, nowNs);
  if (flow.ignored)
    return;

  bool fromClient = packet.sport == flow.info.clientPort &&
                    std::memcmp(packet.src, flow.info.client, sizeof(flow.info.client)) == 0;
  if (packet.rst) {
    end(it, FlowEnd::Reset);
    return;
  }
  if (!fromClient && packet.fin)
    flow.serverFin = true;
  if (packet.syn) {
    // SYN retransmission (client) or SYN-ACK (server): the server's stream starts here.
    if (!fromClient && packet.ack_flag && !flow.server)
      flow.server.emplace(packet.seq, limits_.maxBufferedPerDirection);
    if (packet.payload.empty() && !packet.fin)
      return;
  }
  std::optional<StreamReassembler> &stream = fromClient ? flow.client : flow.server;
  if (stream) {
    feed(flow, *stream, fromClient, packet, nowNs);
    return;
  }
  // Server bytes with no usable server stream (no SYN-ACK captured, or dropped): replay does not
  // need them; the flow may still be complete.
  if (flow.client->finished() && flow.serverFin)
    end(it, FlowEnd::Completed);
}

void FlowTable::dropServerStream(Flow &flow) {
  stats_.bufferedBytes -= flow.server->bufferedBytes();
  flow.server.reset();
  flow.serverHoleSinceNs = 0;
  stats_.serverStreamsLost++;
}

void FlowTable::feed(Flow &flow, StreamReassembler &stream, bool fromClient, const TcpPacket &packet,
                     uint64_t nowNs) {
  scratch_.clear();
  size_t before = stream.bufferedBytes();
  auto status = stream.onSegment(packet.seq, packet.payload, packet.fin, scratch_);
  stats_.bufferedBytes = stats_.bufferedBytes - before + stream.bufferedBytes();

  if (!scratch_.empty()) {
    if (fromClient) {
      stats_.clientBytes += scratch_.size();
      sink_.onClientData(flow.id, scratch_);
    } else {
      stats_.serverBytes += scratch_.size();
      sink_.onServerData(flow.id, scratch_);
    }
  }
  if (status == StreamReassembler::Status::OutOfWindow)
    stats_.outOfWindow++;
  if (status == StreamReassembler::Status::Overflow || stats_.bufferedBytes > limits_.maxBufferedTotal) {
    if (!fromClient) {
      dropServerStream(flow);
    } else {
      stats_.flowsBrokenOverflow++;
      end(flows_.find(flow.info.key), FlowEnd::Broken);
      return;
    }
  }
  if (fromClient && stream.finished() && !flow.clientFinSent) {
    flow.clientFinSent = true;
    sink_.onClientFin(flow.id);
  }

  auto trackHole = [nowNs](bool hole, uint64_t &since) {
    if (!hole)
      since = 0;
    else if (since == 0)
      since = nowNs;
  };
  trackHole(flow.client->hasHole(), flow.holeSinceNs);
  if (flow.server)
    trackHole(flow.server->hasHole(), flow.serverHoleSinceNs);

  bool serverDone = flow.server ? flow.server->finished() : flow.serverFin;
  if (flow.client->finished() && serverDone)
    end(flows_.find(flow.info.key), FlowEnd::Completed);
}

void FlowTable::erase(Map::iterator it) {
  lru_.erase(it->second.lru);
  flows_.erase(it);
}

void FlowTable::end(Map::iterator it, FlowEnd reason, bool eraseNow) {
  Flow &flow = it->second;
  if (!flow.ignored) {
    if (flow.client)
      stats_.bufferedBytes -= flow.client->bufferedBytes();
    if (flow.server)
      stats_.bufferedBytes -= flow.server->bufferedBytes();
    stats_.active--;
    switch (reason) {
    case FlowEnd::Completed: stats_.flowsCompleted++; break;
    case FlowEnd::Reset: stats_.flowsReset++; break;
    case FlowEnd::Broken: stats_.flowsBroken++; break;
    case FlowEnd::Evicted: stats_.flowsEvicted++; break;
    case FlowEnd::IdleTimeout: stats_.flowsIdle++; break;
    case FlowEnd::Shutdown: stats_.flowsShutdown++; break;
    }
    sink_.onFlowEnd(flow.id, reason);
  }
  if (eraseNow || reason == FlowEnd::Shutdown) {
    erase(it);
    return;
  }
  flow.ignored = flow.tombstone = true;
  flow.client.reset();
  flow.server.reset();
  flow.holeSinceNs = 0;
}

void FlowTable::tick(uint64_t nowNs) {
  for (auto it = flows_.begin(); it != flows_.end();) {
    auto next = std::next(it);
    const Flow &flow = it->second;
    uint64_t idle = nowNs - flow.lastSeenNs;
    if (flow.tombstone ? idle >= limits_.lingerNs : (flow.ignored && idle >= limits_.idleTimeoutNs))
      erase(it);
    else if (!flow.ignored && flow.holeSinceNs && nowNs - flow.holeSinceNs >= limits_.gapTimeoutNs)
      end(it, FlowEnd::Broken);
    else if (!flow.ignored && flow.serverHoleSinceNs && nowNs - flow.serverHoleSinceNs >= limits_.gapTimeoutNs)
      dropServerStream(it->second);
    else if (!flow.ignored && idle >= limits_.idleTimeoutNs)
      end(it, flow.holeSinceNs ? FlowEnd::Broken : FlowEnd::IdleTimeout);
    it = next;
  }
}

void FlowTable::closeAll(FlowEnd reason) {
  while (!flows_.empty())
    end(flows_.begin(), reason, true);
}

} // namespace shadowtap::flow
