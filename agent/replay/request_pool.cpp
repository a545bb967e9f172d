// SPDX-License-Identifier: Apache-2.0
#include "replay/request_pool.h"

#include "common/clock.h"
#include "replay/shadow_connection.h"

#include <algorithm>

namespace shadowtap::replay {

RequestPool::~RequestPool() { abortAll(); }

void RequestPool::retireUnusable() {
  std::erase_if(members_, [](Member &m) {
    if (m.connection->closed())
      return true;
    if (m.connection->reusable() || m.leased)
      return false;
    m.connection->finish(); // FIN once what it has is written; it completes on its own
    return true;
  });
}

bool RequestPool::Member::mayLease() const { return !leased && connection->reusable(); }

std::shared_ptr<ShadowConnection> RequestPool::lease(bool mayOpen, Clock::time_point now) {
  retireUnusable();
  // This turn's requests gather on one connection while it may pipeline one more: they leave in
  // one send at the turn's end (ShadowConnection::write), and the shadow answers them in one read.
  // Spread one per idle connection they cost a send, its delivery and a read each: the pooled row
  // of bench/pipeline.sh took 1.9 requests per send that way and 1.3x the CPU, bench/churn.sh's
  // pool row 1.7x (docs/architecture.md, "One send per turn").
  Member *least = nullptr; // the least loaded that could take one more, eligible or not yet known
  Member *gathering = nullptr;
  uint64_t nowNs = 0;
  for (auto &m : members_) {
    if (!m.mayLease())
      continue;
    if (m.connection->flushPending() && mayPipelineOneMore(*m.connection, nowNs)) {
      gathering = &m;
      break;
    }
    if (!least || m.connection->unanswered() < least->connection->unanswered())
      least = &m;
  }
  Member *chosen = gathering;
  if (!chosen && least && least->connection->unanswered() == 0)
    chosen = least;
  if (!chosen && mayOpen && members_.size() < context_.options.poolConnectionsPerTarget) {
    auto connection = std::make_shared<ShadowConnection>(context_, target_, true);
    connection->makePooled();
    target_.stats.routed++; // a replay connection of its own: opened and ended like any other
    target_.stats.poolOpened++;
    connection->start();
    if (connection->closed()) { // failed at once (no socket): counted by the connection
      target_.stats.poolShed++;
      return nullptr;
    }
    chosen = &members_.emplace_back(Member{std::move(connection), false, now});
  }
  if (!chosen && least)
    chosen = leastLoadedThatMayPipeline(*least, nowNs);
  if (!chosen) {
    target_.stats.poolShed++;
    return nullptr;
  }
  chosen->leased = true;
  chosen->lastUsed = now;
  target_.stats.poolRequests++;
  return chosen->connection;
}

// Whether `connection` may take one more request pipelined: under kMaxPipelined due and
// kMaxPerConnection in all. Whether a request is due (not held by pacing) takes a walk of the
// connection's requests (unansweredDue), so only past kMaxPipelined in all; `nowNs` is read once
// per lease, by the first walk.
bool RequestPool::mayPipelineOneMore(const ShadowConnection &connection, uint64_t &nowNs) {
  size_t unanswered = connection.unanswered();
  if (unanswered < kMaxPipelined) // fewer due than that, whatever is held
    return true;
  if (unanswered >= kMaxPerConnection)
    return false;
  if (!nowNs)
    nowNs = realtimeNs();
  return connection.unansweredDue(nowNs) < kMaxPipelined;
}

// The least loaded connection that may take one more request pipelined. A connection is walked
// only if it would be less loaded than the best found so far (a few of the 64 in any order, not
// all): under pacing every connection holds about paceDelay x rate / size requests (~10 in
// bench/churn.sh's pool row), and walking all of them on every lease took 3.6 % of the agent.
RequestPool::Member *RequestPool::leastLoadedThatMayPipeline(Member &least, uint64_t &nowNs) {
  if (mayPipelineOneMore(*least.connection, nowNs))
    return &least;
  Member *best = nullptr;
  for (auto &m : members_) {
    if (!m.mayLease() || (best && m.connection->unanswered() >= best->connection->unanswered()))
      continue;
    if (mayPipelineOneMore(*m.connection, nowNs))
      best = &m;
  }
  return best;
}

void RequestPool::release(const std::shared_ptr<ShadowConnection> &connection, Clock::time_point now) {
  for (auto &m : members_)
    if (m.connection == connection) {
      m.leased = false;
      m.lastUsed = now;
      return;
    }
}

void RequestPool::tick(Clock::time_point now) {
  retireUnusable();
  std::erase_if(members_, [now](Member &m) {
    if (m.leased || m.connection->unanswered() || now - m.lastUsed < kIdleTimeout)
      return false;
    m.connection->finish();
    return true;
  });
}

bool RequestPool::nearlyFull() const {
  size_t unanswered = 0;
  for (const auto &m : members_)
    unanswered += m.connection->unanswered();
  return unanswered * 4 >= context_.options.poolConnectionsPerTarget * kMaxPipelined * 3;
}

void RequestPool::finishAll() {
  for (auto &m : members_)
    m.connection->finish(); // FIN after what is queued; completed once every request is answered
  members_.clear();
}

void RequestPool::abortAll() {
  for (auto &m : members_)
    m.connection->abort();
  members_.clear();
}

} // namespace shadowtap::replay
