// SPDX-License-Identifier: Apache-2.0
#include "flow/flow_table.h"

#include "common/enum_names.h"

#include <algorithm>

namespace shadowtap::flow {

namespace {
// A SYN carries at most this much Fast Open data: a SYN-ACK acknowledging more is not an
// answer to our SYN.
constexpr uint32_t kMaxSynData = 65535;
} // namespace

const char *flowEndName(FlowEnd end) {
  static constexpr EnumName<FlowEnd> kNames[] = {
      {FlowEnd::Completed, "completed"}, {FlowEnd::Reset, "reset"},       {FlowEnd::ServerReset, "server_reset"},
      {FlowEnd::Broken, "broken"},       {FlowEnd::Evicted, "evicted"},   {FlowEnd::IdleTimeout, "idle_timeout"},
      {FlowEnd::Shutdown, "shutdown"},   {FlowEnd::Shed, "shed_inflight"}};
  return nameOf(kNames, end);
}

FlowTable::FlowTable(const FlowLimits &limits, FlowSink &sink, std::shared_ptr<ChunkPool> chunks)
    : limits_(limits), sink_(sink), chunks_(chunks ? std::move(chunks) : std::make_shared<ChunkPool>()) {
  flows_.reserve(limits_.maxFlows);
}

size_t FlowTable::deliveredBytes() const {
  size_t n = 0;
  for (auto piece : delivered_)
    n += piece.size();
  return n;
}

FlowTable::~FlowTable() = default;

void FlowTable::setState(Flow &flow, State state) {
  lists_[state].splice(lists_[state].begin(), lists_[flow.state], flow.lru);
  flow.state = state;
}

void FlowTable::touch(Flow &flow, uint64_t nowNs) {
  flow.lastSeenNs = nowNs;
  lists_[flow.state].splice(lists_[flow.state].begin(), lists_[flow.state], flow.lru);
}

// The least valuable flow goes first: tombstones, skipped mid-stream flows, half-open ones (a SYN
// flood), and established connections only when nothing else is left. Except a few half-open flows
// only: those are handshakes in progress, not a flood the server leaves unanswered (whose half-open
// flows pile up past kHandshakesInProgress at once). Under a flood the server answers (SYN
// cookies), every flood flow is established a round trip later and the half-open list holds just
// the handshakes in flight; taking its tail there evicted a real client's connection between its
// SYN and the server's SYN-ACK (never replayed: conns_test B failed so once, with the machine
// loaded), while the established tail is the oldest flood flow.
void FlowTable::makeRoom() {
  while (flows_.size() >= limits_.maxFlows) {
    State victim = Established;
    if (!lists_[Ended].empty())
      victim = Ended;
    else if (!lists_[Skipped].empty())
      victim = Skipped;
    else if (lists_[HalfOpen].size() > kHandshakesInProgress || lists_[Established].empty())
      victim = HalfOpen;
    end(flows_.find(lists_[victim].back()), FlowEnd::Evicted, true);
  }
}

void FlowTable::startFlow(const FlowKey &key, const TcpPacket &syn, uint64_t nowNs) {
  makeRoom();
  lists_[HalfOpen].push_front(key);
  Flow &flow = flows_[key];
  flow.id = nextId_++;
  flow.state = HalfOpen;
  flow.lru = lists_[HalfOpen].begin();
  flow.lastSeenNs = nowNs;
  flow.info.key = key;
  std::memcpy(flow.info.client, syn.src, sizeof(flow.info.client));
  std::memcpy(flow.info.server, syn.dst, sizeof(flow.info.server));
  flow.info.clientPort = syn.sport;
  flow.info.serverPort = syn.dport;
  flow.info.ipv6 = syn.ipv6;
  flow.clientIsn = syn.seq;
  flow.clientScale = syn.windowScale;
  flow.client.emplace(syn.seq, limits_.maxBufferedPerDirection, /*gated=*/true, chunks_);
  stats_.flowsStarted++;
  stats_.active++;
  feedClient(flow, syn); // Fast Open: the SYN's data is the stream's first bytes
}

void FlowTable::skipFlow(const FlowKey &key, uint64_t nowNs) {
  makeRoom();
  lists_[Skipped].push_front(key);
  Flow &flow = flows_[key];
  flow.state = Skipped;
  flow.lru = lists_[Skipped].begin();
  flow.lastSeenNs = nowNs;
  stats_.midstreamSkipped++;
}

void FlowTable::onPacket(const TcpPacket &packet, uint64_t nowNs) {
  stats_.packets++;
  FlowKey key = flowKeyOf(packet);
  bool opening = packet.syn && !packet.ack_flag && !packet.rst;

  auto it = flows_.find(key);
  if (it != flows_.end() && (it->second.state == Skipped || it->second.state == Ended) && opening) {
    erase(it); // the tuple is reused by a new connection: forget the old one
    it = flows_.end();
  }
  if (it == flows_.end()) {
    if (opening)
      startFlow(key, packet, nowNs);
    else
      skipFlow(key, nowNs);
    return;
  }

  Flow &flow = it->second;
  touch(flow, nowNs);
  if (flow.state == Skipped || flow.state == Ended)
    return;
  weigh(flow, packet.payload.size());

  bool fromClient = packet.sport == flow.info.clientPort &&
                    std::memcmp(packet.src, flow.info.client, sizeof(flow.info.client)) == 0;
  if (packet.rst) {
    if (!acceptsReset(flow, fromClient, packet)) {
      stats_.rstIgnored++;
      return;
    }
    // A server's RST carries its receive position: what it acknowledges there was accepted.
    if (!fromClient && flow.state == Established && packet.ack_flag)
      ackClient(flow, packet.ack);
    if (flow.state == Established || flow.state == HalfOpen)
      end(it, fromClient ? FlowEnd::Reset : FlowEnd::ServerReset);
    return;
  }
  if (flow.state == Established && !packet.syn)
    followWindow(flow, fromClient, packet);
  if (fromClient) {
    feedClient(flow, packet);
  } else if (flow.state == Established || (packet.syn && packet.ack_flag)) {
    if (flow.state == HalfOpen) {
      establish(flow, packet);
      if (flow.state != Established) {
        stats_.outOfWindow++; // a SYN-ACK that does not answer our SYN
        return;
      }
    }
    if (packet.fin && !flow.serverFin) {
      flow.serverFin = true;
      if (flow.state == Established && !flow.client->finSeen()) // its FIN not captured yet
        sink_.onServerClosedFirst(flow.id);
    }
    if (packet.ack_flag)
      ackClient(flow, packet.ack);
    if (flow.state == Established)
      feedServer(flow, packet);
  } // else: the server says nothing that counts before its SYN-ACK
  if (flow.state != Established && flow.state != HalfOpen)
    return; // it ended while being fed (overflow, cut copy)

  trackHoles(flow, nowNs);
  bool serverDone = flow.server ? flow.server->finished() : flow.serverFin;
  if (flow.state == Established && flow.client->finished() && serverDone)
    end(flows_.find(key), FlowEnd::Completed);
}

bool FlowTable::acceptsReset(const Flow &flow, bool fromClient, const TcpPacket &packet) const {
  if (fromClient)
    return flow.client->acceptsReset(packet.seq);
  if (flow.state == HalfOpen) // a refused connection: the RST acknowledges our SYN
    return packet.ack_flag && packet.ack - (flow.clientIsn + 1) <= kMaxSynData;
  return !flow.server || flow.server->acceptsReset(packet.seq); // lost response stream: cannot tell
}

void FlowTable::establish(Flow &flow, const TcpPacket &synAck) {
  if (synAck.ack - (flow.clientIsn + 1) > kMaxSynData)
    return;
  // RFC 7323: windows are shifted only when both SYNs offered a scale.
  if (flow.clientScale < 0 || synAck.windowScale < 0)
    flow.clientScale = flow.serverScale = 0;
  else
    flow.serverScale = synAck.windowScale;
  if (limits_.serverPayload)
    flow.server.emplace(synAck.seq, limits_.maxBufferedPerDirection, /*gated=*/false, chunks_);
  setState(flow, Established);
  stats_.established++;
  sink_.onFlowStart(flow.id, flow.info);
}

// A receiver's advertised window bounds how far its sender may go past the receiver's ACK, so
// how much the other direction's reassembler may have to hold when a segment is lost before the
// tap (the rest of the window arrives before its retransmission). Its bound follows the largest
// window seen, with room for the buffers' own overhead, from the configured bound up to
// maxBufferedFollowingWindow (and never past the total).
void FlowTable::followWindow(Flow &flow, bool fromClient, const TcpPacket &packet) {
  auto &stream = fromClient ? flow.server : flow.client;
  if (!stream)
    return;
  size_t window = size_t{packet.window} << (fromClient ? flow.clientScale : flow.serverScale);
  size_t wanted = window + window / 4 + (256u << 10);
  stream->raiseBound(std::min({wanted, limits_.maxBufferedFollowingWindow, limits_.maxBufferedTotal}));
}

void FlowTable::charge(const std::optional<StreamReassembler> &stream, size_t before) {
  stats_.bufferedBytes = stats_.bufferedBytes - before + stream->memoryBytes();
}

void FlowTable::feedClient(Flow &flow, const TcpPacket &packet) {
  if (packet.payload.empty() && !packet.fin)
    return; // a pure ACK: it acknowledges the server's bytes, which replay does not need
  if (packet.truncated) { // part of the client's bytes never reached us: nothing after them can go
    stats_.brokenTruncated++;
    end(flows_.find(flow.info.key), FlowEnd::Broken);
    return;
  }
  uint32_t seq = packet.syn ? packet.seq + 1 : packet.seq; // a SYN's data starts after the SYN
  size_t before = flow.client->memoryBytes();
  auto status = flow.client->onSegment(seq, packet.payload, packet.fin, delivered_);
  charge(flow.client, before);
  if (status == StreamReassembler::Status::OutOfWindow)
    stats_.outOfWindow++;
  if (status == StreamReassembler::Status::Overflow || stats_.bufferedBytes > limits_.maxBufferedTotal) {
    stats_.flowsBrokenOverflow++;
    end(flows_.find(flow.info.key), FlowEnd::Broken);
    return;
  }
  deliverClient(flow);
}

void FlowTable::ackClient(Flow &flow, uint32_t ack) {
  size_t before = flow.client->memoryBytes();
  if (flow.client->onAck(ack, delivered_) == StreamReassembler::Status::OutOfWindow)
    stats_.outOfWindow++;
  charge(flow.client, before);
  deliverClient(flow);
}

void FlowTable::deliverClient(Flow &flow) {
  for (auto piece : delivered_) { // only ever acknowledged bytes, so only of established flows
    stats_.clientBytes += piece.size();
    sink_.onClientData(flow.id, piece);
  }
  releaseHeldServer(flow);
  if (flow.state == Established && flow.client->finished() && !flow.clientFinSent) {
    flow.clientFinSent = true;
    sink_.onClientFin(flow.id);
  }
}

void FlowTable::feedServer(Flow &flow, const TcpPacket &packet) {
  if (!flow.server || (packet.payload.empty() && !packet.fin))
    return;
  if (packet.truncated) {
    dropServerStream(flow);
    return;
  }
  uint32_t seq = packet.syn ? packet.seq + 1 : packet.seq;
  size_t before = flow.server->memoryBytes();
  auto status = flow.server->onSegment(seq, packet.payload, packet.fin, delivered_);
  charge(flow.server, before);
  if (!delivered_.empty()) {
    if (flow.client->ackedUnseen() || !flow.heldServer.empty()) {
      // This answers client bytes still on their way to the capture: after them, not before.
      for (auto piece : delivered_)
        flow.heldServer.insert(flow.heldServer.end(), piece.begin(), piece.end());
      stats_.bufferedBytes += deliveredBytes();
      stats_.serverHeld++;
      if (flow.heldServer.size() > limits_.maxBufferedPerDirection)
        status = StreamReassembler::Status::Overflow;
    } else {
      for (auto piece : delivered_) {
        stats_.serverBytes += piece.size();
        sink_.onServerData(flow.id, piece);
      }
    }
  }
  if (status == StreamReassembler::Status::OutOfWindow)
    stats_.outOfWindow++;
  if (status == StreamReassembler::Status::Overflow || stats_.bufferedBytes > limits_.maxBufferedTotal)
    dropServerStream(flow);
}

void FlowTable::releaseHeldServer(Flow &flow) {
  if (flow.heldServer.empty() || flow.client->ackedUnseen())
    return; // (a dropped server stream took its held bytes with it)
  stats_.bufferedBytes -= flow.heldServer.size();
  stats_.serverBytes += flow.heldServer.size();
  sink_.onServerData(flow.id, flow.heldServer);
  flow.heldServer.clear();
  flow.heldServer.shrink_to_fit();
}

void FlowTable::dropServerStream(Flow &flow) {
  stats_.bufferedBytes -= flow.server->memoryBytes() + flow.heldServer.size();
  flow.heldServer.clear();
  setHole(flow, false, false, 0);
  flow.server.reset();
  stats_.serverStreamsLost++;
}

void FlowTable::trackHoles(Flow &flow, uint64_t nowNs) {
  setHole(flow, true, flow.client->hasHole(), nowNs);
  if (flow.server)
    setHole(flow, false, flow.server->hasHole(), nowNs);
}

// A flow with a hole waits in its direction's FIFO (holes open in time order), so the gap
// timeout only ever looks at the oldest.
void FlowTable::setHole(Flow &flow, bool client, bool hole, uint64_t nowNs) {
  auto &slot = client ? flow.clientHole : flow.serverHole;
  auto &list = client ? clientHoles_ : serverHoles_;
  if (hole && !slot) {
    list.push_back(flow.info.key);
    slot = std::prev(list.end());
    (client ? flow.clientHoleSinceNs : flow.serverHoleSinceNs) = nowNs;
  } else if (!hole && slot) {
    list.erase(*slot);
    slot.reset();
  }
}

void FlowTable::erase(Map::iterator it) {
  Flow &flow = it->second;
  setHole(flow, true, false, 0);
  setHole(flow, false, false, 0);
  lists_[flow.state].erase(flow.lru);
  flows_.erase(it);
}

void FlowTable::end(Map::iterator it, FlowEnd reason, bool eraseNow) {
  Flow &flow = it->second;
  if (flow.state == HalfOpen || flow.state == Established) {
    for (auto *stream : {&flow.client, &flow.server})
      if (*stream)
        stats_.bufferedBytes -= (*stream)->memoryBytes();
    stats_.bufferedBytes -= flow.heldServer.size();
    flow.heldServer.clear();
    setHole(flow, true, false, 0);
    setHole(flow, false, false, 0);
    stats_.active--;
    if (flow.client->unackedBytes() > 0)
      stats_.unacked++;
    if (flow.state == HalfOpen) {
      stats_.neverEstablished++; // the sink never heard of it
    } else {
      switch (reason) {
      case FlowEnd::Completed: stats_.flowsCompleted++; break;
      case FlowEnd::Reset: stats_.flowsReset++; break;
      case FlowEnd::ServerReset: stats_.serverReset++; break;
      case FlowEnd::Broken:
        stats_.flowsBroken++;
        if (flow.client->ackedUnseen())
          stats_.brokenCaptureLoss++;
        break;
      case FlowEnd::Evicted: stats_.flowsEvicted++; break;
      case FlowEnd::IdleTimeout: stats_.flowsIdle++; break;
      case FlowEnd::Shutdown: stats_.flowsShutdown++; break;
      case FlowEnd::Shed: stats_.flowsShed++; break;
      }
      sink_.onFlowEnd(flow.id, reason);
    }
  }
  if (eraseNow || reason == FlowEnd::Shutdown) {
    erase(it);
    return;
  }
  setState(flow, Ended);
  flow.client.reset();
  flow.server.reset();
}

void FlowTable::weigh(Flow &flow, size_t bytes) {
  if (flow.recentLook != look_) {
    flow.recentLook = look_;
    flow.recentBytes = 0;
  }
  flow.recentBytes += bytes;
}

void FlowTable::weighUnread(const TcpPacket &packet) {
  auto it = flows_.find(flowKeyOf(packet));
  if (it != flows_.end() && it->second.state == Established)
    weigh(it->second, packet.payload.size());
}

// O(established flows log) when it sheds, only while the agent is overloaded (InflightShedder):
// the alternative, a hole in every stream, costs every connection. A look that sheds nothing only
// starts the next one: the flows' counts are reset lazily, by their next packet.
std::vector<st_flow_key> FlowTable::shedShareOfRecentBytes(double share) {
  std::vector<st_flow_key> shed;
  uint64_t look = look_++;
  if (share <= 0)
    return shed;
  std::vector<std::pair<uint64_t, Map::iterator>> brought;
  uint64_t total = 0;
  for (const auto &key : lists_[Established]) {
    auto it = flows_.find(key);
    if (it->second.recentLook == look && it->second.recentBytes > 0) {
      brought.emplace_back(it->second.recentBytes, it);
      total += it->second.recentBytes;
    }
  }
  std::sort(brought.begin(), brought.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
  uint64_t goal = static_cast<uint64_t>(std::min(share, 1.0) * static_cast<double>(total));
  uint64_t gone = 0;
  for (auto &[bytes, it] : brought) {
    shed.push_back(it->first.tuple);
    end(it, FlowEnd::Shed);
    gone += bytes;
    if (gone >= goal)
      break;
  }
  return shed;
}

size_t FlowTable::endShedInKernel(const std::function<bool(const st_flow_key &)> &shedInKernel) {
  std::vector<FlowKey> shed;
  for (State state : {HalfOpen, Established})
    for (const auto &key : lists_[state])
      if (shedInKernel(key.tuple))
        shed.push_back(key);
  for (const auto &key : shed)
    end(flows_.find(key), FlowEnd::Shed);
  return shed.size();
}

void FlowTable::tick(uint64_t nowNs) {
  // Each list is in last-seen order: only its expired tail is looked at.
  auto expire = [&](State state, uint64_t after, auto onExpired) {
    while (!lists_[state].empty()) {
      auto it = flows_.find(lists_[state].back());
      if (it->second.lastSeenNs + after > nowNs)
        break;
      onExpired(it);
    }
  };
  expire(Ended, limits_.lingerNs, [&](Map::iterator it) { erase(it); });
  expire(Skipped, limits_.idleTimeoutNs, [&](Map::iterator it) { erase(it); });
  expire(HalfOpen, limits_.handshakeTimeoutNs, [&](Map::iterator it) { end(it, FlowEnd::IdleTimeout); });
  expire(Established, limits_.idleTimeoutNs, [&](Map::iterator it) {
    end(it, it->second.client->hasHole() ? FlowEnd::Broken : FlowEnd::IdleTimeout);
  });
  while (!clientHoles_.empty()) {
    auto it = flows_.find(clientHoles_.front());
    if (it->second.clientHoleSinceNs + limits_.gapTimeoutNs > nowNs)
      break;
    end(it, FlowEnd::Broken);
  }
  while (!serverHoles_.empty()) {
    auto it = flows_.find(serverHoles_.front());
    if (it->second.serverHoleSinceNs + limits_.gapTimeoutNs > nowNs)
      break;
    dropServerStream(it->second);
  }
}

void FlowTable::closeAll(FlowEnd reason) {
  while (!flows_.empty())
    end(flows_.begin(), reason, true);
}

} // namespace shadowtap::flow
