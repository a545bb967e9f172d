// SPDX-License-Identifier: Apache-2.0
#include "offline/offline_replay.h"

#include "common/clock.h"
#include "runtime/drain_turn.h"
#include "runtime/readable_watch.h"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace asio = boost::asio;

OfflineReplay::OfflineReplay(const flow::FlowLimits &limits, replay::ReplayOptions options,
                             const replay::ReplayPlan &plan, compare::Comparison &comparison,
                             std::unique_ptr<OfflineInput> input,
                             std::function<void(const OfflineReplayResult &)> progress)
    : input_(std::move(input)), maxBacklog_(options.maxBacklogTotal),
      pipeline_(io_, limits, std::move(options), plan, comparison), ticker_(io_), progress_(std::move(progress)) {}

void OfflineReplay::drain() {
  if (inputEnded_)
    return;
  // Never outrun the shadows: while their backlog is over half its budget, reading waits (the
  // tick retries), so a fast replay slows down instead of shedding whole connections.
  if (pipeline_.backlogBytes() > maxBacklog_ / 2) {
    input_->pump(pipeline_, 0); // quiets the timer only
    return;
  }
  bool more;
  try {
    more = input_->pump(pipeline_, kOfflineDrainTurn.batchesPerTurn);
  } catch (...) {
    error_ = std::current_exception();
    pipeline_.shutdown();
    io_.stop();
    return;
  }
  if (input_->finished()) {
    inputEnded_ = true;
    inputDoneNs_ = monotonicNs();
    pipeline_.endOfInput();
    return;
  }
  postNextTurn(io_, drainPosted_, more, [this] { drain(); });
}

void OfflineReplay::tick() {
  ticker_.expires_after(kOfflineDrainTurn.tick);
  ticker_.async_wait([this](const boost::system::error_code &ec) {
    if (ec)
      return;
    drain();
    // The pipeline's clock is the input's: its timeouts (gap, idle, handshake) follow the time
    // the input was recorded in, whatever the speed.
    pipeline_.tick(input_->clockNs());
    uint64_t now = monotonicNs();
    if (progress_ && now - lastProgressNs_ >= 1'000'000'000ull) {
      lastProgressNs_ = now;
      progress_(result());
    }
    if (inputEnded_ && pipeline_.replaysIdle()) {
      endNs_ = now;
      io_.stop();
      return;
    }
    tick();
  });
}

OfflineReplayResult OfflineReplay::result() const {
  OfflineReplayResult out;
  out.stats = pipeline_.stats();
  out.items = input_->items();
  out.spanNs = input_->clockNs() > input_->firstTsNs() ? input_->clockNs() - input_->firstTsNs() : 0;
  uint64_t end = endNs_ ? endNs_ : monotonicNs();
  out.elapsedNs = end - startNs_;
  out.inputDoneNs = inputDoneNs_ ? inputDoneNs_ - startNs_ : 0;
  return out;
}

OfflineReplayResult OfflineReplay::run() {
  startNs_ = monotonicNs();
  lastProgressNs_ = startNs_;
  ReadableWatch watch(io_, input_->readableFd(), [this] { drain(); });
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code &ec, int signo) {
    if (ec)
      return;
    spdlog::warn("received {}: stopping, open replays are reset", strsignal(signo));
    pipeline_.shutdown();
    endNs_ = monotonicNs();
    io_.stop();
  });
  tick();
  io_.run();
  if (error_)
    std::rethrow_exception(error_);
  return result();
}

} // namespace shadowtap
