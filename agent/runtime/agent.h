// SPDX-License-Identifier: Apache-2.0
// The running agent: everything `shadowtap run` keeps alive, in construction order.
//
//   TapSet (one mirror, the shared maps, a Tap per interface: programs, pins, counters),
//   followed by a LinkWatch when an --iface is a pattern
//   Workers: each a thread with its own loop, frame source shard and pipeline (runtime/worker.h)
//   the control side, on the caller's loop: local endpoint (/metrics, /healthz, /status.json,
//   /report.json), the stats file, reload, signals (run.cpp)
//
// The control loop never waits for a worker: it renders the snapshots the workers publish, so
// `status` and /healthz answer while the packet path is saturated. Ready (status "ready",
// /healthz 200) only once run.cpp says so: after capabilities are dropped, from inside the loop.
#pragma once

#include "capture/pcap_writer.h"
#include "compare/comparison.h"
#include "config/run_options.h"
#include "metrics/metrics_server.h"
#include "replay/replay_plan.h"
#include "runtime/agent_stats.h"
#include "capture/ring_guard.h"
#include "runtime/admission_control.h"
#include "runtime/plan_resolver.h"
#include "runtime/worker.h"
#include "net/link_watch.h"
#include "tap/tap_set.h"

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace shadowtap {

// The service ports of a configuration.
std::set<uint16_t> mirroredPorts(const RunOptions &options);

class Agent {
public:
  // `control`: the loop of the calling thread (endpoint, stats file, reload).
  Agent(boost::asio::io_context &control, const RunOptions &options, const std::string &bpffs,
        std::unique_ptr<PcapWriter> pcap, const replay::ReplayPlan &plan);
  ~Agent();
  Agent(const Agent &) = delete;
  Agent &operator=(const Agent &) = delete;

  void markReady();
  void tick(); // control side: publishes the stats file once a second
  // Everything is checked (file, flags, DNS) before anything changes; a bad file changes
  // nothing. The file is read and its targets resolved off the loop (PlanResolver); the finished
  // plan is applied on the loop. Rules and exclusions are updated in place, so connections being
  // replayed go on.
  void reload(const std::function<RunOptions()> &load);
  // Stops every worker (their flows end, their replays are aborted) within `deadline`; false if
  // one did not stop in time.
  bool stopWorkers(std::chrono::milliseconds deadline);
  size_t workerCount() const { return workers_.size(); }
  // An interface named by --iface (not matched by a pattern) that is gone, or "".
  std::string goneNamedInterface() const { return taps_.goneNamedInterface(); }

private:
  void applyReload(PlanResolver::Result result);
  void rescanInterfaces();
  void addRunFiles(const std::string &iface);
  void removeRunFiles(const std::string &iface);
  nlohmann::ordered_json interfacesDocument() const;
  void startEndpoint();
  void startWorkers(const replay::ReplayPlan *plan, std::unique_ptr<PcapWriter> pcap);
  replay::ReplayOptions replayOptions(const RunOptions &options) const;
  bool sameVxlan(const RunOptions &next) const;
  flow::FlowLimits workerLimits(const RunOptions &options) const;
  HttpStageLimits httpLimits(const RunOptions &options) const;
  std::optional<PipelineStats> pipelineStats() const; // the workers' snapshots, added up
  nlohmann::ordered_json statusDocument() const;
  std::string metricsText();
  void publish() const;

  boost::asio::io_context &control_;
  RunOptions options_;
  TapSet taps_;
  std::unique_ptr<LinkWatch> linkWatch_; // only when an --iface is a pattern
  uint64_t lastRescanNs_ = 0;
  std::string statsPath_;
  compare::Comparison comparison_;
  std::unique_ptr<RingGuard> ringGuard_;        // before workers_: they publish to it until joined
  std::unique_ptr<AdmissionControl> admission_; // before workers_: they report to it until joined
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<MetricsServer> metrics_;
  ConfigStats config_;
  PlanResolver resolver_; // reload: the configuration read and resolved off the control loop
  uint64_t lastPublishNs_ = 0;
  std::string endpointHost_; // where the endpoint is recorded as listening
  bool ready_ = false;
};

} // namespace shadowtap
