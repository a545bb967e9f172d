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
#include "replay/replay_plan.h"
#include "replay/replay_stats.h"
#include "replay/shadow_target.h"

#include <array>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <set>
#include <memory>
#include <unordered_map>
#include <vector>

namespace shadowtap::replay {

struct ReplayOptions {
  uint32_t mark = 0;                         // SO_MARK: the BPF programs never mirror these packets
  // Bytes waiting for a slow shadow, then that replay is shed. Large enough for a burst the size
  // of a big upload (the client can outrun the shadow's first reads); the total bounds memory.
  size_t maxBacklogPerConnection = 64u << 20;
  size_t maxBacklogTotal = 256u << 20;
  std::chrono::milliseconds connectTimeout{3000};
  std::chrono::milliseconds drainTimeout{10000}; // after our FIN: wait this long for the shadow's
  std::chrono::milliseconds stallTimeout{10000}; // a write that makes no progress this long is shed
  std::chrono::milliseconds maxBackoff{10000};
};

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
  void onFlowEnd(flow::FlowId id, flow::FlowEnd end) override;
  // HTTP flows (the plan's http ports): the bytes given so far end this exchange's request on
  // every replay of the flow; each replay reports the shadow's answer to `observer`.
  void endRequest(flow::FlowId id, const ExchangePtr &exchange);
  void setObserver(ExchangeObserver *observer) { observer_ = observer; }
  const ReplayHttpStats &httpStats() const { return httpStats_; }

  const std::vector<TargetStats> &stats() const { return stats_; }
  const std::vector<ShadowTarget> &targets() const { return targets_; }
  size_t backlogBytes() const { return backlog_; }
  void abortAll(); // shutdown: RST every open replay connection

private:
  friend class ShadowConnection;
  struct Backoff {
    unsigned failures = 0;
    std::chrono::steady_clock::time_point until{};
  };
  void connectFailed(size_t target);
  void connectSucceeded(size_t target);

  struct IndexedRoute {
    size_t target;
    unsigned copies;
  };
  boost::asio::io_context &io_;
  ReplayOptions options_;
  std::vector<ShadowTarget> targets_;
  std::map<uint16_t, std::vector<IndexedRoute>> routes_;
  std::vector<TargetStats> stats_;
  std::vector<Backoff> backoff_;
  std::set<uint16_t> httpPorts_;
  ExchangeObserver *observer_ = nullptr;
  ReplayHttpStats httpStats_;
  std::array<uint8_t, 65536> readBuf_{}; // shared by every connection's reads (one thread)
  size_t backlog_ = 0;
  std::unordered_map<flow::FlowId, std::vector<std::shared_ptr<ShadowConnection>>> flows_;
  // Flows that have not sent a byte or a FIN yet: their replays open only then (open()), so a
  // flood of half-open connections never reaches a shadow. Bounded by the flow table.
  std::unordered_map<flow::FlowId, uint16_t> notYetOpened_;
  void open(flow::FlowId id);
  std::vector<std::shared_ptr<ShadowConnection>> *opened(flow::FlowId id); // opens if due; null if none
};

} // namespace shadowtap::replay
