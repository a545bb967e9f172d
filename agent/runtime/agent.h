// SPDX-License-Identifier: Apache-2.0
// The running agent: everything `shadowtap run` keeps alive, in construction order.
//
//   Tap (attached programs, maps, mirror pair)
//   FrameSource (mirror ring in TC mode, BPF ring in XDP mode) -> [pcap] -> MirrorPipeline
//   local endpoint (/metrics, /healthz, /status.json, /report.json) and the stats file
//
// Driven by one io_context: the frame source's readiness, a 100 ms tick (timeouts, stats file),
// and the signals run.cpp routes here (reload). Ready (status "ready", /healthz 200) only once
// run.cpp says so: after capabilities are dropped, from inside the running loop.
#pragma once

#include "capture/frame_source.h"
#include "capture/pcap_writer.h"
#include "config/run_options.h"
#include "metrics/metrics_server.h"
#include "pipeline/mirror_pipeline.h"
#include "replay/replay_plan.h"
#include "runtime/agent_stats.h"
#include "runtime/readable_watch.h"
#include "tap/tap.h"

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace shadowtap {

// The service ports of a configuration.
std::set<uint16_t> mirroredPorts(const RunOptions &options);

class Agent {
public:
  Agent(boost::asio::io_context &io, const RunOptions &options, const std::string &bpffs,
        std::unique_ptr<PcapWriter> pcap, const replay::ReplayPlan &plan);
  ~Agent();
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;

  void markReady();
  void tick();
  // Everything is checked (file, flags, DNS) before anything changes; a bad file changes
  // nothing. Rules and exclusions are updated in place, so connections being replayed go on.
  void reload(const std::function<RunOptions()> &load);

private:
  void startEndpoint();
  void startPipeline(const replay::ReplayPlan &plan, const RunOptions &options);
  void openSource(std::unique_ptr<FrameSource> source);
  void drainSource();
  void onFrame(const Frame &frame);
  nlohmann::ordered_json statusDocument();
  std::string metricsText();
  void publish();

  boost::asio::io_context &io_;
  RunOptions options_;
  Tap tap_;
  std::unique_ptr<PcapWriter> pcap_;
  std::string statsPath_;
  std::unique_ptr<MirrorPipeline> pipeline_;
  std::unique_ptr<FrameSource> source_;
  std::unique_ptr<ReadableWatch> sourceWatch_;
  FrameHandler frameHandler_;
  std::unique_ptr<MetricsServer> metrics_;
  ConfigStats config_;
  uint64_t nowNs_ = 0; // the monotonic time of the turn that is reading frames
  uint64_t lastPublishNs_ = 0;
  bool drainPosted_ = false;
  bool ready_ = false;
};

} // namespace shadowtap
