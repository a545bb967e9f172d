// SPDX-License-Identifier: Apache-2.0
#include "replay/replayer.h"

#include "replay/shadow_connection.h"

#include <algorithm>

namespace shadowtap::replay {

Replayer::Replayer(boost::asio::io_context &io, ReplayOptions options, const ReplayPlan &plan)
    : options_(std::move(options)), context_{io, options_, readBuffer_, stats_, nullptr, 0, std::make_shared<ChunkPool>(),
                                                   [this] { admitQueued(); }} {
  setPlan(plan);
}

void Replayer::setPlan(const ReplayPlan &plan) {
  auto indexOf = [this](const ShadowTarget &target) {
    for (auto &known : targets_)
      if (known.target.name == target.name) {
        known.target.endpoints = target.endpoints; // re-resolved
        return known.index;
      }
    TargetState &added = targets_.emplace_back();
    added.index = targets_.size() - 1;
    added.window.setCeiling(options_.maxConnectionsPerTarget);
    added.stats.concurrencyLimit = added.window.limitShown();
    added.target = target;
    queues_.emplace_back();
    pools_.emplace_back(context_, added);
    return added.index;
  };
  std::map<std::string, size_t> index;
  for (const auto &target : plan.targets)
    index[target.name] = indexOf(target);
  routes_.clear();
  for (const auto &[port, routes] : plan.routes) {
    auto route = std::make_shared<PortRoute>();
    auto rules = plan.http.find(port);
    route->http = rules != plan.http.end();
    route->pooled = route->http && rules->second && rules->second->pooled;
    for (const auto &r : routes)
      route->targets.push_back({index.at(r.target), r.copies});
    routes_[port] = std::move(route);
  }
}

Replayer::~Replayer() { abortAll(); }

void Replayer::tick(uint64_t nowNs) {
  admitQueued(); // the window may have grown, a back-off ended, a queued replay waited too long
  auto now = std::chrono::steady_clock::now();
  for (auto &pool : pools_)
    pool.tick(now);
  context_.chunkPool->trim(nowNs);
  stats_.bufferBytes = context_.chunkPool->mappedBytes();
}

// The replay opens with the client's first byte (or FIN), not with its SYN: a half-open
// connection (a SYN flood) costs a map entry, not a socket here and a connection at the shadow.
// A pending flow keeps the route it started with: a reload meanwhile does not change where it goes
// (nor what `pending` counted for it).
void Replayer::onFlowStart(flow::FlowId id, const flow::FlowInfo &info) {
  auto route = routes_.find(info.serverPort);
  if (route == routes_.end())
    return; // a mirrored port with no shadow: nothing to replay
  connectionsRouted_++;
  for (const auto &[target, copies] : route->second->targets)
    targets_[target].stats.routed += copies;
  if (route->second->pooled) { // its requests go over the pools: no replay of its own
    for (const auto &[target, copies] : route->second->targets)
      targets_[target].stats.pooled += copies;
    pooledFlows_.emplace(id, PooledFlow{route->second, {}, false});
    return;
  }
  countPending(*route->second, +1);
  notYetOpened_.emplace(id, NotYetOpened{route->second, 0});
}

void Replayer::countPending(const PortRoute &route, int sign) {
  for (const auto &[target, copies] : route.targets)
    targets_[target].stats.pending += sign > 0 ? copies : -static_cast<uint64_t>(copies);
}

void Replayer::open(flow::FlowId id) {
  auto pending = notYetOpened_.find(id);
  if (pending == notYetOpened_.end())
    return;
  auto route = std::move(pending->second.route);
  uint64_t connectNs = pending->second.connectNs;
  notYetOpened_.erase(pending);
  countPending(*route, -1);
  auto now = std::chrono::steady_clock::now();
  auto &connections = flows_[id];
  for (const auto &[target, copies] : route->targets) {
    for (unsigned copy = 0; copy < copies; copy++) {
      if (targets_[target].backingOff(now)) {
        targets_[target].stats.shedBackoff++;
        continue;
      }
      uint64_t startNs = connectNs ? connectNs + paceOffsetNs(connections.size()) : 0;
      // Behind replays already waiting too: the queue is first come, first served.
      if (atLimit(targets_[target]) || !queues_[target].empty()) {
        if (!enqueue(target, route->http, startNs, connections))
          targets_[target].stats.shedLimit++;
        continue;
      }
      auto connection = std::make_shared<ShadowConnection>(context_, targets_[target], route->http);
      connection->start(startNs);
      connections.push_back(std::move(connection));
    }
  }
}

bool Replayer::atLimit(const TargetState &target) const {
  return target.stats.active >= target.window.limit() || target.stats.connecting >= options_.maxConnectingPerTarget ||
         (options_.maxConnectionsTotal && activeTotal() >= options_.maxConnectionsTotal);
}

bool Replayer::enqueue(size_t target, bool http, uint64_t connectNs,
                       std::vector<std::shared_ptr<ShadowConnection>> &connections) {
  TargetState &state = targets_[target];
  // Within the count, and within the queue's half of the backlog budget with this one charged too.
  if (shuttingDown_ || state.stats.queued >= options_.maxQueuedPerTarget ||
      context_.backlogCharged() + options_.queuedReplayCost > options_.maxBacklogTotal / 2)
    return false;
  auto &queue = queues_[target];
  // Entries closed while waiting stay until they reach the front; a queue mostly made of them
  // (flows reset behind a head that cannot start) is swept so it stays bounded.
  if (queue.size() >= 2 * options_.maxQueuedPerTarget)
    std::erase_if(queue, [](const Queued &q) { return !q.connection->waiting(); });
  auto connection = std::make_shared<ShadowConnection>(context_, state, http);
  connection->enqueue();
  queue.push_back({connection, std::chrono::steady_clock::now(), connectNs});
  connections.push_back(std::move(connection));
  return true;
}

void Replayer::admitQueued() {
  if (admitting_ || shuttingDown_)
    return;
  admitting_ = true;
  auto now = std::chrono::steady_clock::now();
  for (size_t target = 0; target < queues_.size(); target++) {
    auto &queue = queues_[target];
    while (!queue.empty()) {
      Queued &head = queue.front();
      if (!head.connection->waiting()) {
        queue.pop_front();
        continue;
      }
      if (now - head.since > options_.maxQueueWait) {
        head.connection->abort(); // never started: counted shed_limit
        queue.pop_front();
        continue;
      }
      if (targets_[target].backingOff(now) || atLimit(targets_[target]))
        break;
      Queued next = std::move(head);
      queue.pop_front();
      next.connection->start(next.connectNs);
    }
  }
  admitting_ = false;
}

size_t Replayer::activeTotal() const {
  size_t active = 0;
  for (const auto &target : targets_)
    active += target.stats.active;
  return active;
}

// Opened flows are the common case: open() (a second lookup) runs only for a flow's first bytes.
std::vector<std::shared_ptr<ShadowConnection>> *Replayer::opened(flow::FlowId id) {
  auto it = flows_.find(id);
  if (it == flows_.end()) {
    open(id);
    it = flows_.find(id);
  }
  return it == flows_.end() ? nullptr : &it->second;
}

void Replayer::onClientData(flow::FlowId id, std::span<const uint8_t> bytes) {
  if (!pooledFlows_.empty())
    if (auto pooled = pooledFlows_.find(id); pooled != pooledFlows_.end()) {
      if (!pooled->second.inRequest) {
        stats_.unpooledBytes += bytes.size(); // outside a framed request: nothing to pool it with
        return;
      }
      for (auto &[target, connection] : pooled->second.leases)
        if (connection)
          connection->write(bytes);
      return;
    }
  auto *connections = opened(id);
  if (!connections)
    return;
  for (auto &connection : *connections)
    connection->write(bytes);
}

void Replayer::endRequest(flow::FlowId id, const ExchangePtr &exchange) {
  if (auto pooled = pooledFlows_.find(id); pooled != pooledFlows_.end()) {
    for (auto &[target, connection] : pooled->second.leases)
      if (connection)
        connection->endRequest(exchange);
    releaseLeases(pooled->second, false);
    return;
  }
  auto it = flows_.find(id);
  if (it == flows_.end())
    return;
  for (auto &connection : it->second)
    connection->endRequest(exchange);
}

void Replayer::releaseLeases(PooledFlow &flow, bool cutShort) {
  auto now = std::chrono::steady_clock::now();
  for (auto &[target, connection] : flow.leases)
    if (connection) {
      pools_[target].release(connection, now);
      if (cutShort) // a request that never ended must not reach the shadow as if whole
        connection->abort();
    }
  flow.leases.clear();
  flow.inRequest = false;
}

void Replayer::beginRequest(flow::FlowId id, uint64_t ingressNs) {
  auto delay = static_cast<uint64_t>(std::chrono::nanoseconds(context_.options.paceDelay).count());
  if (auto pooled = pooledFlows_.find(id); pooled != pooledFlows_.end()) {
    PooledFlow &flow = pooled->second;
    releaseLeases(flow, flow.inRequest); // a request begun before this one never ended
    flow.inRequest = true;
    auto now = std::chrono::steady_clock::now();
    for (const auto &[target, copies] : flow.route->targets)
      for (unsigned copy = 0; copy < copies; copy++) {
        TargetState &state = targets_[target];
        bool mayOpen = !state.backingOff(now) && !atLimit(state);
        auto connection = pools_[target].lease(mayOpen, now);
        if (connection && delay && ingressNs)
          connection->holdUntil(ingressNs + delay + paceOffsetNs(flow.leases.size()));
        flow.leases.emplace_back(target, std::move(connection));
      }
    return;
  }
  if (!delay || !ingressNs)
    return;
  auto *connections = opened(id);
  if (!connections)
    return;
  for (size_t slot = 0; slot < connections->size(); slot++)
    (*connections)[slot]->holdUntil(ingressNs + delay + paceOffsetNs(slot));
}

// Copy `slot` of a connection (target order, then copies) is paced this much after the first.
uint64_t Replayer::paceOffsetNs(size_t slot) const {
  auto spread = static_cast<uint64_t>(std::chrono::nanoseconds(context_.options.paceSpread).count());
  return std::min<uint64_t>(slot, ReplayOptions::kMaxPaceSlots) * spread;
}

void Replayer::paceConnect(flow::FlowId id, uint64_t handshakeNs) {
  auto delay = static_cast<uint64_t>(std::chrono::nanoseconds(context_.options.paceDelay).count());
  if (!delay || !handshakeNs)
    return;
  if (auto pending = notYetOpened_.find(id); pending != notYetOpened_.end() && pending->second.route->http)
    pending->second.connectNs = handshakeNs + delay;
}

void Replayer::onClientFin(flow::FlowId id) {
  if (auto pooled = pooledFlows_.find(id); pooled != pooledFlows_.end()) {
    if (pooled->second.inRequest) // the client ended inside a request: it is not replayed whole
      releaseLeases(pooled->second, true);
    return;
  }
  auto *connections = opened(id); // closed without a byte: still replayed, connect then FIN
  if (!connections)
    return;
  for (auto &connection : *connections)
    connection->finish();
}

void Replayer::onServerClosedFirst(flow::FlowId id) {
  if (pooledFlows_.count(id))
    return; // the pool's connections keep their own close order
  if (auto *connections = opened(id))
    for (auto &connection : *connections)
      connection->letShadowCloseFirst();
}

void Replayer::onFlowEnd(flow::FlowId id, flow::FlowEnd end) {
  if (auto pooled = pooledFlows_.find(id); pooled != pooledFlows_.end()) {
    releaseLeases(pooled->second, pooled->second.inRequest);
    pooledFlows_.erase(pooled);
    return;
  }
  if (auto pending = notYetOpened_.find(id); pending != notYetOpened_.end()) {
    countPending(*pending->second.route, -1);
    for (const auto &[target, copies] : pending->second.route->targets)
      targets_[target].stats.skippedEmpty += copies;
    notYetOpened_.erase(pending);
    return;
  }
  auto it = flows_.find(id);
  if (it == flows_.end())
    return;
  for (auto &connection : it->second) {
    // A client reset aborts the replay, like the client did. A server reset ends it after
    // everything the server had accepted (all of it was delivered already): the shadow gets that
    // whole, then a FIN. Otherwise a replay that already has every client byte and its FIN
    // finishes on its own; any other is cut short with a RST so the shadow never takes a
    // truncated stream for a complete one.
    if (end == flow::FlowEnd::ServerReset)
      connection->finish();
    else if (end == flow::FlowEnd::Reset || !connection->finRequested())
      connection->abort();
  }
  flows_.erase(it);
}

bool Replayer::poolsNearlyFull() const {
  return std::any_of(pools_.begin(), pools_.end(), [](const RequestPool &pool) { return pool.nearlyFull(); });
}

void Replayer::finishPools() {
  for (auto &pool : pools_)
    pool.finishAll();
}

void Replayer::abortAll() {
  shuttingDown_ = true; // replays closed below must not start queued ones
  for (auto &queue : queues_) {
    for (auto &queued : queue)
      queued.connection->abort();
    queue.clear();
  }
  notYetOpened_.clear();
  pooledFlows_.clear();
  for (auto &pool : pools_)
    pool.abortAll();
  for (auto &[id, connections] : flows_)
    for (auto &connection : connections)
      connection->abort();
  flows_.clear();
}

} // namespace shadowtap::replay
