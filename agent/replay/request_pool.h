// SPDX-License-Identifier: Apache-2.0
// Pooled HTTP replay (HttpRules::pooled: `--http-pool`, a service's `http.pool`): the mirrored
// requests of every client connection of a service reach one shadow target over a few keep-alive
// connections this pool keeps, as a mesh mirrors requests (Envoy sends the copy over its own
// connection pool to the shadow cluster), instead of one replay connection per client connection.
//
// Why: one request per connection (`Connection: close` clients, churn) made the agent pay a whole
// TCP connection — connect, handshake, both FINs, the shadow's side of it on loopback — per
// request: 0.5-0.8 CPU-s per 10k connections measured (bench/churn.sh), where keep-alive traffic
// costs 0.05 per 10k requests. Pooled, a request costs a write and a read on a connection that is
// already open. What it gives up: a client connection's own timeline (connect, its requests on one
// connection), so pooled replay is for request/response HTTP. The bytes outside a framed request
// (after an Upgrade, the raw rest of a stream that could not be framed) are not replayed, counted
// (ReplayStats::unpooledBytes).
//
// A request is leased one connection per copy for as long as its bytes come (the head, a body
// spread over packets); no other request's bytes go to that connection meanwhile. Which one: the
// one this turn's requests already go to (its send waits for the turn's end), while it may
// pipeline one more (as below), so they share a send; else an idle one (nothing unanswered), else
// a new one while the pool is under its size and the target under its limits, else the least
// loaded, pipelined behind at most kMaxPipelined unanswered
// requests that are due (HTTP/1.1 answers in order; the shadow connection times each answer from
// when the one before it ended) and kMaxPerConnection in all. Requests held back by pacing
// (ReplayOptions::paceDelay: each reaches the shadow at its ingress time plus 50 ms) are not
// pipelined: by their time the ones before them are answered. Counting them was measured to shed
// 22 % of the requests of bench/churn.sh (11,000 requests/s x 50 ms held: more than the 64 x 8 the
// pool had room for). None of these: the request is shed, counted (TargetStats::pool_shed).
// A connection the shadow closes, or says it will (Connection: close, 101), leaves the pool; one
// idle for idleTimeout is closed with a FIN, as the shadow's own keep-alive timeout would.
#pragma once

#include "replay/replay_context.h"
#include "replay/target_state.h"

#include <chrono>
#include <memory>
#include <vector>

namespace shadowtap::replay {

class ShadowConnection;

class RequestPool {
public:
  static constexpr size_t kMaxPipelined = 8;       // due, unanswered, per connection
  static constexpr size_t kMaxPerConnection = 256; // due or held, unanswered, per connection
  static constexpr std::chrono::seconds kIdleTimeout{4};
  using Clock = std::chrono::steady_clock;

  RequestPool(ReplayContext &context, TargetState &target) : context_(context), target_(target) {}
  RequestPool(const RequestPool &) = delete;
  RequestPool &operator=(const RequestPool &) = delete;
  ~RequestPool();

  // A connection for one request's bytes, leased until release(); `mayOpen`: the target is under
  // its limits (a new connection may be opened, up to ReplayOptions::poolConnectionsPerTarget).
  // Null: shed (counted).
  std::shared_ptr<ShadowConnection> lease(bool mayOpen, Clock::time_point now);
  void release(const std::shared_ptr<ShadowConnection> &connection, Clock::time_point now);
  // Closes (FIN) the connections idle past kIdleTimeout; forgets closed ones. On the worker's tick.
  void tick(Clock::time_point now);
  void abortAll();  // shutdown: RST every connection
  void finishAll(); // no more requests (the end of an offline input): each closes once answered
  // Three quarters of the requests the pool can carry at once (its size x kMaxPipelined) are
  // unanswered: an offline replay reads on only once it has room again (Replayer::poolsNearlyFull).
  bool nearlyFull() const;

private:
  struct Member {
    std::shared_ptr<ShadowConnection> connection;
    bool leased = false;
    Clock::time_point lastUsed;
    bool mayLease() const; // not leased this turn, and may carry more requests
  };
  void retireUnusable(); // leaves the pool: closed, or not to be reused (finished once unleased)
  static bool mayPipelineOneMore(const ShadowConnection &connection, uint64_t &nowNs);
  Member *leastLoadedThatMayPipeline(Member &least, uint64_t &nowNs); // null: none may (shed)

  ReplayContext &context_;
  TargetState &target_;
  std::vector<Member> members_;
};

} // namespace shadowtap::replay
