// SPDX-License-Identifier: Apache-2.0
// Replays every mirrored connection to every shadow target, `copies` times each, as fresh TCP
// connections: fire-and-forget, never touching the user's connection.
//
// Everything runs on one Boost.Asio io_context (the same one that reads the capture), with
// non-blocking sockets only: a slow, down or resetting shadow costs its own connections, which
// are shed past a bounded backlog, and never blocks capture or other flows.
#pragma once

#include "flow/flow_sink.h"
#include "replay/exchange.h"
#include "replay/replay_context.h"
#include "replay/replay_options.h"
#include "replay/replay_plan.h"
#include "replay/request_pool.h"
#include "replay/target_state.h"

#include <array>
#include <chrono>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

namespace shadowtap::replay {

class ShadowConnection;

class Replayer : public flow::FlowSink {
public:
  Replayer(boost::asio::io_context &io, ReplayOptions options, const ReplayPlan &plan);
  ~Replayer() override;

  // Takes a new plan for connections that start from now on. Targets are matched by name: one
  // that stays keeps its index, counters and connections; a new one is appended.
  void setPlan(const ReplayPlan &plan);

  void onFlowStart(flow::FlowId id, const flow::FlowInfo &info) override;
  void onClientData(flow::FlowId id, std::span<const uint8_t> bytes) override;
  void onClientFin(flow::FlowId id) override;
  void onServerClosedFirst(flow::FlowId id) override;
  void onFlowEnd(flow::FlowId id, flow::FlowEnd end) override;
  // HTTP flows (the plan's http ports): the bytes given so far end this exchange's request on
  // every replay of the flow; each replay reports the shadow's answer to `observer`.
  void endRequest(flow::FlowId id, const ExchangePtr &exchange);
  // HTTP: a mirrored request begins now. Its bytes reach the shadows no earlier than `ingressNs`
  // (CLOCK_REALTIME, its first packet on the tap) plus ReplayOptions::paceDelay (pacing); a pooled
  // flow's request leases a pool connection per copy until endRequest() (request_pool.h).
  void beginRequest(flow::FlowId id, uint64_t ingressNs);
  // HTTP pacing of the connection itself: its replays connect no earlier than `handshakeNs`
  // (CLOCK_REALTIME, the server's SYN-ACK on the tap) plus ReplayOptions::paceDelay, so a shadow
  // gets the connection's own timeline (connect, then each request at its time), as the primary did.
  void paceConnect(flow::FlowId id, uint64_t handshakeNs);
  void setObserver(ExchangeObserver *observer) { context_.observer = observer; }

  // Every target ever configured, in a stable order (index == TargetState::index).
  const std::deque<TargetState> &targets() const { return targets_; }
  const TargetState &target(size_t index) const { return targets_[index]; }
  const ReplayStats &stats() const { return stats_; }
  size_t backlogBytes() const { return stats_.backlogBytes; }
  uint64_t connectionsRouted() const { return connectionsRouted_; } // connections given a route (not x copies)
  void abortAll(); // shutdown: RST every open replay connection
  // No more flows (an offline input ended): the pools' connections close once answered, instead
  // of after their idle timeout.
  void finishPools();
  // Some target's pool has three quarters of the requests it can carry at once unanswered (its
  // size x RequestPool::kMaxPipelined): an offline replay reads on only once it has room again for
  // a turn's requests (a turn of 4 batches of 256 frames brings ~110 one-request connections).
  // Half full held it back too often: it waits for its 20 ms tick, and ran at a quarter of the
  // connections per second (bench/pipeline.sh); without the wait 109 of 20,000 requests were shed.
  bool poolsNearlyFull() const;
  // Periodic (the worker's tick): gives back buffer memory no longer needed (ChunkPool::trim).
  void tick(uint64_t nowNs);
  // The worker's chunk pool: the backlogs' and (MirrorPipeline) the reassemblers' whole chunks.
  const std::shared_ptr<ChunkPool> &chunkPool() const { return context_.chunkPool; }

private:
  uint64_t connectionsRouted_ = 0;
  struct IndexedRoute {
    size_t target;
    unsigned copies;
  };
  struct PortRoute { // where one service port's connections go
    std::vector<IndexedRoute> targets;
    bool http = false;
    bool pooled = false; // HttpRules::pooled: requests go over the targets' pools
  };
  // A flow of a pooled service: the pool connections its request in progress holds (one per
  // target and copy, null where the request was shed), none between requests.
  struct PooledFlow {
    std::shared_ptr<const PortRoute> route;
    std::vector<std::pair<size_t, std::shared_ptr<ShadowConnection>>> leases; // target, connection
    bool inRequest = false;
  };
  void releaseLeases(PooledFlow &flow, bool cutShort); // cutShort: the request never ended: RST
  void open(flow::FlowId id);
  void countPending(const PortRoute &route, int sign);
  std::vector<std::shared_ptr<ShadowConnection>> *opened(flow::FlowId id); // opens if due; null if none
  uint64_t paceOffsetNs(size_t slot) const;
  size_t activeTotal() const; // replay connections open, every target
  bool atLimit(const TargetState &target) const; // no room for one more open replay
  // The target is at its limit: the replay waits in its queue (false: the queue is full or off).
  bool enqueue(size_t target, bool http, uint64_t connectNs, std::vector<std::shared_ptr<ShadowConnection>> &connections);
  // Starts queued replays while their targets have room, oldest first; sheds those that waited
  // longer than ReplayOptions::maxQueueWait. On every opened replay's close, and on the tick.
  void admitQueued();

  ReplayOptions options_;
  ReplayStats stats_;
  std::array<uint8_t, 65536> readBuffer_{};
  ReplayContext context_;
  std::deque<TargetState> targets_; // a deque: connections hold references across appends
  std::map<uint16_t, std::shared_ptr<const PortRoute>> routes_;
  std::unordered_map<flow::FlowId, std::vector<std::shared_ptr<ShadowConnection>>> flows_;
  // Flows that have not sent a byte or a FIN yet: their replays open only then (open()), so a
  // flood of half-open connections never reaches a shadow. Bounded by the flow table.
  struct NotYetOpened {
    std::shared_ptr<const PortRoute> route;
    uint64_t connectNs = 0; // paceConnect(): no connect before this CLOCK_REALTIME instant
  };
  std::unordered_map<flow::FlowId, NotYetOpened> notYetOpened_;
  // Per target (same index): replays waiting for a place under its limit, oldest first. An entry
  // whose replay was closed meanwhile (its flow reset, its backlog too large) is skipped.
  struct Queued {
    std::shared_ptr<ShadowConnection> connection;
    std::chrono::steady_clock::time_point since;
    uint64_t connectNs = 0; // HTTP pacing, as start() takes it
  };
  std::deque<std::deque<Queued>> queues_;
  std::unordered_map<flow::FlowId, PooledFlow> pooledFlows_;
  std::deque<RequestPool> pools_; // per target (same index)
  bool admitting_ = false;    // admitQueued() is running (a start that fails at once calls back)
  bool shuttingDown_ = false; // abortAll(): nothing leaves the queue any more
};

} // namespace shadowtap::replay
