// SPDX-License-Identifier: Apache-2.0
#include "runtime/plan_resolver.h"

#include <atomic>
#include <boost/asio/post.hpp>

namespace shadowtap {

// The worker posts its result through this; the loop side marks it dead when the resolver goes,
// so a result that arrives after that is dropped instead of touching a destroyed resolver.
struct PlanResolver::Shared {
  std::atomic<bool> alive{true};
};

PlanResolver::PlanResolver(boost::asio::io_context &io) : io_(io), shared_(std::make_shared<Shared>()) {}

PlanResolver::~PlanResolver() {
  shared_->alive = false;
  if (worker_.joinable())
    worker_.join();
}

void PlanResolver::resolve(Load load, Build build, Done done) {
  Request request{std::move(load), std::move(build), std::move(done)};
  if (running_) {
    next_ = std::move(request);
    return;
  }
  start(std::move(request));
}

void PlanResolver::start(Request request) {
  if (worker_.joinable())
    worker_.join(); // the last one posted its result already: it is ending or ended
  running_ = true;
  pending_.emplace(io_.get_executor());
  worker_ = std::thread([this, shared = shared_, request = std::move(request)]() mutable {
    Result result;
    try {
      RunOptions options = request.load();
      result.plan = request.build(options);
      result.options = std::move(options);
    } catch (const std::exception &e) {
      result.error = e.what();
    }
    boost::asio::post(io_, [this, shared, result = std::move(result), done = std::move(request.done)]() mutable {
      if (shared->alive)
        finished(std::move(result), std::move(done));
    });
  });
}

void PlanResolver::finished(Result result, Done done) {
  running_ = false;
  pending_.reset();
  done(std::move(result));
  if (next_ && !running_) {
    Request request = std::move(*next_);
    next_.reset();
    start(std::move(request));
  }
}

} // namespace shadowtap
