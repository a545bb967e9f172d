// SPDX-License-Identifier: Apache-2.0
#include "runtime/worker.h"

#include "common/clock.h"
#include "runtime/drain_turn.h"

#include <boost/asio/post.hpp>
#include <pthread.h>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace asio = boost::asio;

unsigned defaultWorkerCount() {
  unsigned cpus = std::thread::hardware_concurrency();
  return cpus > 1 ? cpus / 2 : 1;
}

Worker::Worker(Settings settings, std::unique_ptr<FrameSource> source, std::unique_ptr<PcapWriter> pcap,
               compare::Comparison &comparison)
    : pipelineSettings_(std::move(settings)), comparison_(comparison), source_(std::move(source)),
      pcap_(std::move(pcap)), ticker_(io_) {
  if (pipelineSettings_.plan) {
    std::unique_ptr<record::RecordWriter> recorder;
    if (pipelineSettings_.recordDir)
      recorder = std::make_unique<record::RecordWriter>(*pipelineSettings_.recordDir,
                                                        static_cast<uint32_t>(pipelineSettings_.index),
                                                        pipelineSettings_.recordFileBytes,
                                                        pipelineSettings_.recordMaxBytes);
    pipeline_ = std::make_unique<MirrorPipeline>(io_, pipelineSettings_.limits, pipelineSettings_.replay,
                                                 *pipelineSettings_.plan, comparison, std::move(recorder),
                                                 pipelineSettings_.http);
  }
  frameHandler_ = [this](const Frame &frame) { onFrame(frame); };
  watch_ = std::make_unique<ReadableWatch>(io_, source_->readableFd(), [this] { drainSource(); });
  publish(); // a snapshot exists from the start
}

Worker::~Worker() {
  if (thread_.joinable() && !stop(std::chrono::seconds(2)))
    thread_.detach(); // stop() logged it; the process is exiting
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  std::string name = "shadowtap-w" + std::to_string(pipelineSettings_.index);
  pthread_setname_np(pthread_self(), name.c_str());
  tick();
  io_.run();
  // Stopping: what is already captured still reaches the pipeline (and the pcap file), then every
  // flow ends and every replay is aborted.
  drainSource();
  if (pipeline_)
    pipeline_->shutdown();
  if (pipeline_ && pipeline_->recorder()) {
    const auto &r = pipeline_->recorder()->stats();
    spdlog::info("worker {} recorded {} records, {} bytes in {} files into {}{}", pipelineSettings_.index, r.records,
                 r.bytes, r.files, *pipelineSettings_.recordDir,
                 r.dropped ? "; " + std::to_string(r.dropped) + " records dropped past --record-max-bytes" : "");
  }
  publish();
  stopped_.set_value();
}

bool Worker::stop(std::chrono::milliseconds deadline) {
  if (!thread_.joinable())
    return true;
  asio::post(io_, [this] { io_.stop(); });
  if (stoppedFuture_.wait_for(deadline) != std::future_status::ready) {
    spdlog::error("worker {} did not stop within {} ms", pipelineSettings_.index, deadline.count());
    return false;
  }
  thread_.join();
  return true;
}

void Worker::reconfigure(const flow::FlowLimits &limits, std::shared_ptr<const replay::ReplayPlan> plan) {
  asio::post(io_, [this, limits, plan = std::move(plan)] {
    if (pipeline_)
      pipeline_->reconfigure(limits, *plan);
    else
      pipeline_ = std::make_unique<MirrorPipeline>(io_, limits, pipelineSettings_.replay, *plan, comparison_, nullptr,
                                                   pipelineSettings_.http);
  });
}

void Worker::tick() {
  ticker_.expires_after(kLiveDrainTurn.tick);
  ticker_.async_wait([this](const boost::system::error_code &ec) {
    if (ec)
      return;
    drainSource(); // a ring block may have been retired without a wake-up
    endShedByRingGuard();
    if (pipeline_)
      pipeline_->tick(monotonicNs());
    publish();
    if (pipelineSettings_.onLoad)
      pipelineSettings_.onLoad(pipelineSettings_.index, load(), AdmissionControl::Rewrite::Always);
    tick();
  });
}

// How far behind the worker is: its capture ring's fill. Not the replay backlog: that fills when a
// shadow is slow, which sheds that shadow's replays (shed_backlog) and must not stop mirroring to
// every other shadow (tests/e2e/replay/shadow_faults_test.sh, noreadcap).
double Worker::load() const {
  return source_->occupancy();
}

void Worker::drainSource() {
  nowNs_ = monotonicNs();
  bool more = source_->poll(frameHandler_, kLiveDrainTurn.batchesPerTurn);
  auto &guard = pipelineSettings_.ringGuard;
  uint64_t written = guard.mark(); // before the ring is seen empty (RingGuard::Slot::publish)
  guard.publish(source_->consumed(),
                !more && source_->occupancy() == 0 ? std::optional<uint64_t>(written) : std::nullopt);
  if (pcap_)
    pcap_->flush();
  shedIfLosingGround();
  postNextTurn(io_, drainPosted_, more, [this] { drainSource(); });
}

// The kernel's ring guard gave connections up while this worker could not read (stopped,
// throttled): their replays are reset and they count as shed in flight, like the ones the worker
// gives up itself. A connection's SYN may still wait in the ring when the guard gives it up, so the
// flows are looked up when the guard's count grows, then once the ring is empty (every SYN read),
// at most once a second while it is not (each look is a map lookup per open flow). Also at each
// look of the in-flight shedder, first: it would otherwise pick the same flows and count the
// kernel's decision as its own. Their frames already in the ring are absorbed as late packets of
// ended flows.
void Worker::endShedByRingGuard() {
  auto &guard = pipelineSettings_.ringGuard;
  if (!guard || !pipeline_ || !pipelineSettings_.shedInKernel)
    return;
  uint64_t shed = guard.shed();
  if (shed != ringGuardShed_) {
    ringGuardShed_ = shed;
    ringGuardPending_ = true;
  }
  if (!ringGuardPending_)
    return;
  bool empty = source_->occupancy() == 0; // walks the ring's filled blocks: only while pending
  if (!empty && nowNs_ - ringGuardScanNs_ < kRingGuardRescanNs)
    return;
  ringGuardScanNs_ = nowNs_;
  ringGuardPending_ = !empty;
  size_t ended = pipeline_->endShedInKernel(pipelineSettings_.shedInKernel);
  if (ended > 0)
    logShedByKernel(ended);
}

void Worker::logShedByKernel(size_t connections) const {
  spdlog::warn("overload: worker {}'s capture ring filled while it could not read; the kernel gave up {} "
               "connection{} in flight, whole (counted shed_inflight)",
               pipelineSettings_.index, connections, connections == 1 ? "" : "s");
}

void Worker::shedIfLosingGround() {
  if (!pipeline_ || !pipelineSettings_.onShed || !shedder_.due(nowNs_))
    return;
  endShedByRingGuard(); // the kernel's decisions first (one atomic load when there are none)
  double fill = source_->occupancy();
  double share = shedder_.shedShare(fill, source_->consumed(), nowNs_);
  // Refusing new connections comes first, and gets kPauseFirstNs to show: the connections admitted
  // just before the pause still bring their handshakes and first requests. Only a buffer that
  // keeps filling after that is losing ground to connections in flight. (Shedding at once, one
  // look after the fill crossed half, gave up hundreds of short connections a second at 5,000
  // new ones a second that a paused admission alone would have caught up with.)
  bool paused = pipelineSettings_.onLoad
                    ? pipelineSettings_.onLoad(pipelineSettings_.index, fill, AdmissionControl::Rewrite::OnChange)
                    : true;
  if (!paused)
    pausedSinceNs_ = 0;
  else if (!pausedSinceNs_)
    pausedSinceNs_ = nowNs_;
  if (!paused || nowNs_ - pausedSinceNs_ < InflightShedder::kPauseFirstNs)
    share = 0;
  if (share > 0)
    source_->peekUnread([this](const Frame &frame) { pipeline_->weighUnread(frame); }, InflightShedder::kPeekBytes);
  auto keys = pipeline_->shedShareOfRecentBytes(share);
  if (!keys.empty())
    spdlog::debug("overload: worker {} capture buffer {:.0f} % full and filling: {} connection(s) shed in flight "
                  "({:.0f} % of the recent bytes)",
                  pipelineSettings_.index, fill * 100, keys.size(), share * 100);
  size_t byKernel = 0; // picked here, but the ring guard had given them up already
  for (const auto &key : keys) {
    if (pipelineSettings_.onShed(key))
      byKernel++;
    else
      shedLog_.pending++;
  }
  if (byKernel > 0)
    logShedByKernel(byKernel);
  if (uint64_t shed = shedLog_.take(nowNs_))
    spdlog::warn("overload: worker {} still falling behind; gave up {} connection{} in flight, heaviest first "
                 "(counted shed_inflight)",
                 pipelineSettings_.index, shed, shed == 1 ? "" : "s");
}

void Worker::onFrame(const Frame &frame) {
  if (pcap_)
    pcap_->write(frame.tsNs, frame.data.data(), static_cast<uint32_t>(frame.data.size()), frame.wireLen);
  if (pipeline_)
    pipeline_->onFrame(frame, nowNs_);
}

void Worker::publish() {
  uint64_t drops = source_->takeKernelDrops();
  noteKernelDrops(drops);
  if (!pipeline_)
    return;
  pipeline_->addKernelDrops(drops);
  if (pipelineSettings_.ringGuard)
    pipeline_->setRingGuardShed(pipelineSettings_.ringGuard.shed());
  auto snapshot = pipeline_->stats();
  std::lock_guard lock(snapshotMutex_);
  snapshot_ = std::move(snapshot);
}

// Capture loss is counted (capture.kernel_drops) and also logged, at most once a second with the
// count since the last line: the one moment a connection loses bytes for good, so the log says
// when, and how full the ring and the kernel's guard estimate were then (the guard exists so that
// this does not happen: capture/ring_guard.h).
void Worker::noteKernelDrops(uint64_t drops) {
  dropLog_.pending += drops;
  uint64_t dropped = dropLog_.take(nowNs_); // publish() follows a turn: nowNs_ is current
  if (!dropped)
    return;
  const auto &guard = pipelineSettings_.ringGuard;
  uint64_t guardShed = guard.shed();
  std::string estimate =
      guard ? fmt::format("; the ring guard counts {:.1f} MiB unread, limit {:.1f} MiB, and gave up {} connection{} so far",
                          guard.unread() / 1048576.0, guard.limit() / 1048576.0, guardShed, guardShed == 1 ? "" : "s")
            : std::string();
  spdlog::warn("capture loss: the kernel dropped {} frame{} for worker {} (its capture buffer was full; "
               "{:.0f} % full now{}); connections that lost bytes end broken (capture loss)",
               dropped, dropped == 1 ? "" : "s", pipelineSettings_.index, source_->occupancy() * 100, estimate);
}

std::optional<PipelineStats> Worker::stats() const {
  std::lock_guard lock(snapshotMutex_);
  return snapshot_;
}

} // namespace shadowtap
