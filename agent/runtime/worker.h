// SPDX-License-Identifier: Apache-2.0
// One worker: a thread with its own event loop that owns a shard of the mirrored connections end
// to end — its frame source (its member of the capture fan-out, or its own ring), flow table,
// HTTP stage and replayer. Shards are cut by the direction-normalised flow hash, so both
// directions of a connection reach the same worker, and workers share nothing on the packet path
// (the comparison is the one exception, a mutex per recorded HTTP response).
//
// The control thread talks to a worker by posting to its loop (reconfigure, stop) and reads what
// the worker publishes: a stats snapshot every tick, so `status`, /metrics and /healthz never wait
// for a busy worker.
#pragma once

#include "capture/frame_source.h"
#include "capture/pcap_writer.h"
#include "capture/ring_guard.h"
#include "compare/comparison.h"
#include "pipeline/mirror_pipeline.h"
#include "runtime/admission_control.h"
#include "runtime/inflight_shedder.h"
#include "runtime/readable_watch.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace shadowtap {

class Worker {
public:
  struct Settings {
    size_t index = 0;
    flow::FlowLimits limits;
    HttpStageLimits http; // this worker's share of the HTTP head and body budgets
    replay::ReplayOptions replay;
    std::shared_ptr<const replay::ReplayPlan> plan; // null: capture only (XDP mode without shadows)
    // Called on the worker's thread with its load, 0..1, every tick (Rewrite::Always) and at each
    // overload look (Rewrite::OnChange); returns whether admission is paused (AdmissionControl::report).
    std::function<bool(size_t index, double load, AdmissionControl::Rewrite rewrite)> onLoad;
    // Called on the worker's thread with a connection it gave up in flight (InflightShedder): the
    // kernel must stop mirroring it (TapMaps::shedFlow). Returns true when the kernel had given it
    // up already (the capture ring guard): the log says whose decision it was (one the guard takes
    // between the map's read and write, microseconds, still counts as this worker's). Unset:
    // nothing is shed.
    std::function<bool(const st_flow_key &key)> onShed;
    // TC mode: this worker's entry of the capture ring guard, and whether the kernel gave a
    // connection up (TapSet::flowShed): the worker ends such flows as shed in flight.
    RingGuard::Slot ringGuard;
    std::function<bool(const st_flow_key &key)> shedInKernel;
    // --record: this worker's files in DIR, and its share of --record-max-bytes.
    std::optional<std::string> recordDir;
    uint64_t recordFileBytes = 0, recordMaxBytes = 0;
  };
  Worker(Settings settings, std::unique_ptr<FrameSource> source, std::unique_ptr<PcapWriter> pcap,
         compare::Comparison &comparison);
  ~Worker(); // stops (if running) and joins
  Worker(const Worker &) = delete;
  Worker &operator=(const Worker &) = delete;

  void start();
  // Asks the loop to end every flow, abort every replay and return. Returns once it did, or false
  // when it did not within `deadline` (the thread is then left running; the caller decides).
  bool stop(std::chrono::milliseconds deadline);
  // Reload: new limits and plan for connections from now on (posted to the worker's loop). A
  // worker that only captured (no shadow before) starts its pipeline.
  void reconfigure(const flow::FlowLimits &limits, std::shared_ptr<const replay::ReplayPlan> plan);

  bool replays() const { return pipelineSettings_.plan != nullptr; }
  // The last published snapshot (every tick, 100 ms), kernel-side capture drops included.
  std::optional<PipelineStats> stats() const;

private:
  void run();
  void tick();
  void drainSource();
  void onFrame(const Frame &frame);
  void publish();
  double load() const;
  void shedIfLosingGround();
  void endShedByRingGuard();
  void logShedByKernel(size_t connections) const;
  void noteKernelDrops(uint64_t drops);

  Settings pipelineSettings_;
  compare::Comparison &comparison_;
  boost::asio::io_context io_;
  std::unique_ptr<FrameSource> source_;
  std::unique_ptr<PcapWriter> pcap_;
  std::unique_ptr<MirrorPipeline> pipeline_;
  std::unique_ptr<ReadableWatch> watch_;
  boost::asio::steady_timer ticker_;
  FrameHandler frameHandler_;
  InflightShedder shedder_;
  // The capture ring guard: its count when last seen, whether flows it shed may still be open
  // here, and when they were last looked for.
  static constexpr uint64_t kRingGuardRescanNs = 1'000'000'000;
  uint64_t ringGuardShed_ = 0, ringGuardScanNs_ = 0;
  bool ringGuardPending_ = false;
  uint64_t pausedSinceNs_ = 0; // when this worker last saw admission paused (0: not paused)
  // Events that can come thousands a second, logged at most once a second with the count since
  // the last line: connections this worker shed in flight, frames the kernel dropped.
  struct CountedLogLine {
    uint64_t pending = 0, lastNs = 0;
    // What to log now (and forget), or 0 within a second of the last line.
    uint64_t take(uint64_t nowNs) {
      if (!pending || (lastNs && nowNs - lastNs < 1'000'000'000ull))
        return 0;
      lastNs = nowNs;
      return std::exchange(pending, 0);
    }
  };
  CountedLogLine shedLog_, dropLog_;
  uint64_t nowNs_ = 0;
  bool drainPosted_ = false;
  std::thread thread_;
  std::promise<void> stopped_;
  std::future<void> stoppedFuture_ = stopped_.get_future();

  mutable std::mutex snapshotMutex_;
  std::optional<PipelineStats> snapshot_;
};

// How many workers `--workers 0` (the default) means on this machine: one per two CPUs, at least
// one — the agent shares the node with the production service it mirrors.
unsigned defaultWorkerCount();

} // namespace shadowtap
