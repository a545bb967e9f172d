// SPDX-License-Identifier: Apache-2.0
// `shadowtap replay`'s loop: an offline input (a capture or a recording) paced by its own
// timestamps into the live pipeline (flow table, HTTP stage, replayer), on one io_context. Ends
// once the input is done and every replay connection has finished — or, with --loop N, after N
// such passes back to back (each a fresh pipeline: the same connections again, as new ones), or
// at --duration, whichever comes first. The pipelines' counters, added up, and in HTTP mode the
// comparison are what it leaves behind.
#pragma once

#include "compare/comparison.h"
#include "offline/offline_input.h"
#include "pipeline/mirror_pipeline.h"
#include "runtime/readable_watch.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

namespace shadowtap {

struct OfflineReplayResult {
  PipelineStats stats;
  uint64_t items = 0;       // frames or records read, every pass
  uint64_t spanNs = 0;      // the input's own time span (first to last timestamp), every pass
  uint64_t elapsedNs = 0;   // how long the replay took, wall clock, until the last replay finished
  uint64_t inputDoneNs = 0; // ... until the input was all handed over (the last pass's)
  unsigned passes = 0;      // passes begun
  uint64_t connections = 0; // connections handed to the replayer, every pass
  bool stoppedEarly = false; // --duration or a signal ended it before the input did
};

struct OfflineReplaySettings {
  flow::FlowLimits limits;
  replay::ReplayOptions options;
  unsigned loops = 1;                        // passes over the input; 0: until --duration or a signal
  std::chrono::milliseconds duration{0};     // 0: no limit
  uint32_t maxConnsPerSecond = 0;            // --rate: new connections replayed per second at most; 0: none
};

class OfflineReplay {
public:
  using Opener = std::function<std::unique_ptr<OfflineInput>()>;
  // `open` is called once per pass. `progress`: about once a second while it runs.
  OfflineReplay(OfflineReplaySettings settings, const replay::ReplayPlan &plan, compare::Comparison &comparison,
                Opener open, std::function<void(const OfflineReplayResult &)> progress = {});
  OfflineReplayResult run(); // throws Error if the input turns out to be malformed
  const OfflineInput &input() const { return *input_; }

private:
  void startPass();
  bool finishPass(); // false: that was the last one
  void addPassUnderWay(OfflineReplayResult &into) const;
  void drain();
  bool shadowsBehind() const;
  bool overRate();
  void tick();
  void stopNow(const char *why);
  OfflineReplayResult result() const;

  boost::asio::io_context io_;
  OfflineReplaySettings settings_;
  const replay::ReplayPlan &plan_;
  compare::Comparison &comparison_;
  Opener open_;
  std::unique_ptr<OfflineInput> input_;
  std::unique_ptr<MirrorPipeline> pipeline_;
  std::unique_ptr<ReadableWatch> watch_;
  size_t maxBacklog_;
  size_t perTargetGate_ = 0, totalGate_ = 0; // open replays at which reading waits (0: never)
  boost::asio::steady_timer ticker_;
  boost::asio::steady_timer deadline_;
  std::function<void(const OfflineReplayResult &)> progress_;
  bool drainPosted_ = false;
  bool inputEnded_ = false;
  bool stoppedEarly_ = false;
  unsigned passes_ = 0;
  OfflineReplayResult done_; // the counters of the passes already finished (stats, items, span, connections)
  uint64_t rateWindowNs_ = 0, rateWindowBase_ = 0; // --rate: this window's start and connections before it
  uint64_t startNs_ = 0, inputDoneNs_ = 0, endNs_ = 0, lastProgressNs_ = 0;
  std::exception_ptr error_;
};

} // namespace shadowtap
