// SPDX-License-Identifier: Apache-2.0
// `shadowtap replay`'s loop: an offline input (a capture or a recording) paced by its own
// timestamps into the live pipeline (flow table, HTTP stage, replayer), on one io_context. Ends
// once the input is done and every replay connection has finished; the pipeline's counters and,
// in HTTP mode, the comparison are what it leaves behind.
#pragma once

#include "compare/comparison.h"
#include "offline/offline_input.h"
#include "pipeline/mirror_pipeline.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>

namespace shadowtap {

struct OfflineReplayResult {
  PipelineStats stats;
  uint64_t items = 0;       // frames or records read
  uint64_t spanNs = 0;      // the input's own time span (first to last timestamp)
  uint64_t elapsedNs = 0;   // how long the replay took, wall clock, until the last replay finished
  uint64_t inputDoneNs = 0; // ... until the input was all handed over
};

class OfflineReplay {
public:
  // `progress`: called about once a second while it runs (a terminal's status line).
  OfflineReplay(const flow::FlowLimits &limits, replay::ReplayOptions options, const replay::ReplayPlan &plan,
                compare::Comparison &comparison, std::unique_ptr<OfflineInput> input,
                std::function<void(const OfflineReplayResult &)> progress = {});
  OfflineReplayResult run(); // throws Error if the input turns out to be malformed
  const OfflineInput &input() const { return *input_; }
  void stop(); // SIGINT: end now (open replays are reset)

private:
  void drain();
  void tick();
  OfflineReplayResult result() const;

  boost::asio::io_context io_;
  std::unique_ptr<OfflineInput> input_;
  size_t maxBacklog_;
  MirrorPipeline pipeline_;
  boost::asio::steady_timer ticker_;
  std::function<void(const OfflineReplayResult &)> progress_;
  bool drainPosted_ = false;
  bool inputEnded_ = false;
  uint64_t startNs_ = 0, inputDoneNs_ = 0, endNs_ = 0, lastProgressNs_ = 0;
  std::exception_ptr error_;
};

} // namespace shadowtap
