// SPDX-License-Identifier: Apache-2.0
#include "offline/offline_replay.h"

#include "common/clock.h"
#include "runtime/drain_turn.h"

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <algorithm>
#include <csignal>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace asio = boost::asio;

OfflineReplay::OfflineReplay(OfflineReplaySettings settings, const replay::ReplayPlan &plan,
                             compare::Comparison &comparison, Opener open,
                             std::function<void(const OfflineReplayResult &)> progress)
    : settings_(std::move(settings)), plan_(plan), comparison_(comparison), open_(std::move(open)),
      maxBacklog_(std::min(settings_.options.maxBacklogTotal, settings_.options.maxBacklogPerConnection)),
      perTargetGate_(settings_.options.maxConnectionsPerTarget / 2),
      totalGate_(settings_.options.maxConnectionsTotal / 2), ticker_(io_), deadline_(io_),
      progress_(std::move(progress)) {
  startPass(); // the first input is opened here: a bad file fails before anything runs
}

// A pass: the input from its start, into a pipeline of its own, so the connections it replays are
// new ones (new flow ids, new replay sockets) even though their tuples are the last pass's.
void OfflineReplay::startPass() {
  watch_.reset();
  input_ = open_();
  pipeline_ = std::make_unique<MirrorPipeline>(io_, settings_.limits, settings_.options, plan_, comparison_);
  inputEnded_ = false;
  rateWindowNs_ = rateWindowBase_ = 0; // a new pipeline counts from 0
  passes_++;
  if (startNs_) // run() has started: watch the new input now (the first is watched from run())
    watch_ = std::make_unique<ReadableWatch>(io_, input_->readableFd(), [this] { drain(); });
}

// The counters of the pass under way (its pipeline and input), added to `into`'s.
void OfflineReplay::addPassUnderWay(OfflineReplayResult &into) const {
  accumulate(into.stats, pipeline_->stats());
  into.connections += pipeline_->connectionsRouted();
  into.items += input_->items();
  into.spanNs += input_->clockNs() > input_->firstTsNs() ? input_->clockNs() - input_->firstTsNs() : 0;
}

bool OfflineReplay::finishPass() {
  addPassUnderWay(done_);
  if (settings_.loops && passes_ >= settings_.loops)
    return false;
  startPass();
  return true;
}

// Never outrun the shadows: while their backlog is over half its budget, or half the replay
// connections allowed are open, reading waits (the tick retries), so a fast replay slows down
// instead of shedding whole connections. The backlog budget is the smaller of the total and the
// per-connection one: one large connection read at --speed max reached its own limit (64 MiB)
// long before the total's half and was shed; churn at --speed max opened a socket per connection
// until the open file limit refused them (bench/pipeline.sh: 74,317 of 200,000 shed_no_socket).
bool OfflineReplay::shadowsBehind() const {
  if (pipeline_->backlogBytes() > maxBacklog_ / 2 || pipeline_->poolsNearlyFull())
    return true;
  auto open = pipeline_->openReplays();
  return (perTargetGate_ && open.busiestTarget >= perTargetGate_) || (totalGate_ && open.total >= totalGate_);
}

// --rate N: at most N new connections per one-second window; past it reading waits for the next
// window (the tick retries). Reading goes by batches (256 frames or records, one a turn under
// --rate), so a window may run over by the connections of the batch that crossed the limit.
bool OfflineReplay::overRate() {
  if (!settings_.maxConnsPerSecond)
    return false;
  uint64_t now = monotonicNs();
  uint64_t routed = pipeline_->connectionsRouted();
  if (!rateWindowNs_ || now - rateWindowNs_ >= 1'000'000'000ull) {
    rateWindowNs_ = now;
    rateWindowBase_ = routed;
  }
  return routed - rateWindowBase_ >= settings_.maxConnsPerSecond;
}

void OfflineReplay::drain() {
  if (inputEnded_)
    return;
  if (shadowsBehind() || overRate()) {
    input_->pump(*pipeline_, 0); // quiets the timer only
    return;
  }
  bool more;
  try {
    // Under --rate one batch a turn, so a window overshoots by one batch's connections at most.
    more = input_->pump(*pipeline_, settings_.maxConnsPerSecond ? 1 : kOfflineDrainTurn.batchesPerTurn);
  } catch (...) {
    error_ = std::current_exception();
    pipeline_->shutdown();
    io_.stop();
    return;
  }
  if (input_->finished()) {
    inputEnded_ = true;
    inputDoneNs_ = monotonicNs();
    pipeline_->endOfInput();
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
    pipeline_->tick(input_->clockNs());
    uint64_t now = monotonicNs();
    if (progress_ && now - lastProgressNs_ >= 1'000'000'000ull) {
      lastProgressNs_ = now;
      progress_(result());
    }
    if (inputEnded_ && pipeline_->replaysIdle()) {
      if (!finishPass()) {
        pipeline_.reset(); // its counters are in done_
        endNs_ = now;
        io_.stop();
        return;
      }
      asio::post(io_, [this] { drain(); });
    }
    tick();
  });
}

void OfflineReplay::stopNow(const char *why) {
  if (!pipeline_)
    return; // already over
  spdlog::warn("{}: stopping, open replays are reset", why);
  stoppedEarly_ = true;
  pipeline_->shutdown();
  addPassUnderWay(done_);
  pipeline_.reset();
  endNs_ = monotonicNs();
  io_.stop();
}

OfflineReplayResult OfflineReplay::result() const {
  OfflineReplayResult out = done_;
  if (pipeline_)
    addPassUnderWay(out);
  uint64_t end = endNs_ ? endNs_ : monotonicNs();
  out.elapsedNs = end - startNs_;
  out.inputDoneNs = inputDoneNs_ ? inputDoneNs_ - startNs_ : 0;
  out.passes = passes_;
  out.stoppedEarly = stoppedEarly_;
  return out;
}

OfflineReplayResult OfflineReplay::run() {
  startNs_ = monotonicNs();
  lastProgressNs_ = startNs_;
  watch_ = std::make_unique<ReadableWatch>(io_, input_->readableFd(), [this] { drain(); });
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code &ec, int signo) {
    if (!ec)
      stopNow(strsignal(signo));
  });
  if (settings_.duration.count() > 0) {
    deadline_.expires_after(settings_.duration);
    deadline_.async_wait([this](const boost::system::error_code &ec) {
      if (!ec)
        stopNow("--duration reached");
    });
  }
  tick();
  io_.run();
  watch_.reset();
  if (error_)
    std::rethrow_exception(error_);
  return result();
}

} // namespace shadowtap
