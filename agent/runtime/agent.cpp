// SPDX-License-Identifier: Apache-2.0
#include "runtime/agent.h"

#include <boost/asio/post.hpp>

#include "capture/bpf_ring_source.h"
#include "capture/packet_ring.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/logging.h"
#include "common/resource_limits.h"
#include "config/value_parsers.h"
#include "metrics/local_endpoint.h"
#include "metrics/prometheus_text.h"
#include "net/mirror_pair.h"
#include "pipeline/stats_file.h"
#include "replay/connection_limits.h"
#include "replay/loop_guard.h"
#include "stats/prometheus_writer.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace shadowtap {

namespace asio = boost::asio;

namespace {

// The capture ring guard's limit, as a share of a worker's ring (runtime/agent.cpp startWorkers).
constexpr double kRingGuardShare = 0.8;

std::string describe(const RunOptions &options) {
  std::string out;
  for (const auto &s : options.services) {
    out += (out.empty() ? "" : "; ") + std::string("port ") + std::to_string(s.port) + " at " +
           formatPercent(s.ratePpm) + "%";
    for (const auto &shadow : s.shadows)
      out += " -> " + shadow + (s.copies > 1 ? " x" + std::to_string(s.copies) : "");
  }
  return out;
}

// The first worker's capture ring finds a fan-out group id no other socket of this network
// namespace uses (ids are per namespace, and another group's id cannot be joined from another
// interface); the other workers join the same one.
std::unique_ptr<PacketRing> openFirstRing(const std::string &iface, PacketRing::Options options) {
  uint16_t base = static_cast<uint16_t>(::getpid());
  for (uint16_t attempt = 0;; attempt++) {
    options.fanoutGroup = static_cast<uint16_t>(base + attempt) ? static_cast<uint16_t>(base + attempt) : 1;
    try {
      return std::make_unique<PacketRing>(iface, options);
    } catch (const Error &) {
      if (attempt == 31)
        throw;
    }
  }
}

} // namespace

// Reload keeps the VXLAN mirror it was started with (the device is made once).
bool Agent::sameVxlan(const RunOptions &next) const {
  const auto &a = next.mirrorVxlan, &b = options_.mirrorVxlan;
  if (a.has_value() != b.has_value())
    return false;
  return !a || (a->address == b->address && a->port == b->port && next.vni == options_.vni);
}

std::set<uint16_t> mirroredPorts(const RunOptions &options) {
  std::set<uint16_t> ports;
  for (const auto &s : options.services)
    ports.insert(s.port);
  return ports;
}

Agent::Agent(asio::io_context &control, const RunOptions &options, const std::string &bpffs,
             std::unique_ptr<PcapWriter> pcap, const replay::ReplayPlan &plan)
    : control_(control), options_(options), taps_(options, bpffs), statsPath_(statsFilePath(taps_.name())),
      resolver_(control) {
  std::string tapped;
  taps_.forEach([&](const Tap &tap) { tapped += (tapped.empty() ? "" : ", ") + tap.iface(); });
  spdlog::info("tapping {} in {} mode ({}); mirror {}; maps pinned under {}/shadowtap",
               tapped.empty() ? "no interface yet" : tapped, options.mode == Mode::Xdp ? "xdp" : "tc",
               describe(options),
               taps_.mirror().txName() == taps_.mirror().rxName()
                   ? taps_.mirror().txName()
                   : taps_.mirror().txName() + " -> " + taps_.mirror().rxName(),
               bpffs);
  for (const auto &pattern : options.interfacePatterns())
    if (isInterfacePattern(pattern)) {
      linkWatch_ = std::make_unique<LinkWatch>(control_, [this] { rescanInterfaces(); });
      break;
    }
  // Workers run the pipeline when something consumes it: shadows to replay to, or a recording.
  startWorkers(plan.targets.empty() && !options.recordDir ? nullptr : &plan, std::move(pcap));
  if (options.metricsAddr != "off")
    startEndpoint();
}

Agent::~Agent() {
  stopWorkers(std::chrono::seconds(2));
  linkWatch_.reset();
  taps_.forEach([this](const Tap &tap) { removeRunFiles(tap.iface()); });
  if (metrics_)
    removeEndpointFile(taps_.name());
  if (auto stats = pipelineStats())
    spdlog::info("pipeline: {}", toJson(*stats).dump());
  ::unlink(statsPath_.c_str());
  auto counters = taps_.counters();
  std::string kernel;
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    if (counters[i])
      kernel += (kernel.empty() ? "" : " ") + std::string(counterName(i)) + " " + std::to_string(counters[i]);
  spdlog::info("kernel counters: {}", kernel.empty() ? "none" : kernel);
}

void Agent::startWorkers(const replay::ReplayPlan *plan, std::unique_ptr<PcapWriter> pcap) {
  bool xdp = options_.mode == Mode::Xdp;
  if (!xdp && !plan)
    return; // TC mode without shadows: the kernel mirrors to the interface, nobody here reads it
  unsigned count = options_.workers ? options_.workers : defaultWorkerCount();
  if (xdp && count > 1) {
    spdlog::info("xdp mode reads one BPF ring: 1 worker");
    count = 1;
  }
  std::shared_ptr<const replay::ReplayPlan> shared;
  if (plan)
    shared = std::make_shared<const replay::ReplayPlan>(*plan);
  std::string rx = taps_.mirror().rxName();
  PacketRing::Options ringOptions;
  ringOptions.blockCount = static_cast<uint32_t>(options_.captureBufferBytes() / ringOptions.blockSize);
  spdlog::info("capture buffer: {} MiB per worker ({})", options_.captureBufferBytes() >> 20,
               xdp ? "the BPF ring buffer, shared: xdp mode reads it with one worker" : "a TPACKET_V3 ring each");
  if (!xdp && count > 1)
    ringOptions.fanoutProg = taps_.shared().fanoutFd(); // by inner connection: tunnels too
  if (!xdp)
    ringOptions.snapProg = taps_.shared().captureSnapFd(); // responses cut to their headers when unneeded
  admission_ = std::make_unique<AdmissionControl>([this](bool paused) { taps_.setAdmitPaused(paused); }, count);
  if (!xdp && count <= ST_MAX_WORKERS) {
    // The kernel's last resort for a worker that cannot read (capture/ring_guard.h): past this much
    // unread, connections are given up whole. Above the user-space shedder's half-full mark, and
    // short of the whole ring: the kernel's count is an estimate.
    RingGuard::Geometry ring{ringOptions.blockSize, ringOptions.blockCount,
                             uint64_t{ringOptions.retireTimeoutMs} * 1'000'000};
    uint64_t ringBytes = uint64_t{ring.blockBytes} * ring.blockCount;
    ringGuard_ = std::make_unique<RingGuard>(taps_.shared().ringGuardFd(), count, ring,
                                             static_cast<uint64_t>(ringBytes * kRingGuardShare));
  }
  for (unsigned i = 0; i < count; i++) {
    std::unique_ptr<FrameSource> source;
    if (xdp) {
      source = std::make_unique<BpfRingSource>(taps_.shared().ringFd(), [this] { return taps_.ringFull(); });
    } else if (count == 1) {
      source = std::make_unique<PacketRing>(rx, ringOptions);
    } else if (i == 0) {
      auto first = openFirstRing(rx, ringOptions);
      ringOptions.fanoutGroup = first->options().fanoutGroup;
      source = std::move(first);
    } else {
      source = std::make_unique<PacketRing>(rx, ringOptions);
    }
    Worker::Settings settings;
    settings.index = i;
    settings.limits = workerLimits(options_);
    settings.http = httpLimits(options_);
    settings.replay = replayOptions(options_);
    settings.plan = shared;
    settings.onLoad = [this](size_t index, double load, AdmissionControl::Rewrite rewrite) {
      return admission_->report(index, load, rewrite);
    };
    if (ringGuard_) {
      settings.ringGuard = ringGuard_->slot(i);
      settings.shedInKernel = [this](const st_flow_key &key) { return taps_.flowShed(key); };
    }
    settings.onShed = [this](const st_flow_key &key) {
      auto outcome = taps_.shedFlow(key);
      if (outcome == TapMaps::ShedOutcome::Failed)
        spdlog::debug("overload: could not mark a shed connection in st_flows; its frames are absorbed here");
      return outcome == TapMaps::ShedOutcome::AlreadyShed;
    };
    if (options_.recordDir) {
      settings.recordDir = options_.recordDir;
      settings.recordMaxBytes = std::max<uint64_t>(1, options_.recordMaxBytes / count);
      settings.recordFileBytes = std::min(options_.recordFileBytes(), settings.recordMaxBytes);
    }
    workers_.push_back(std::make_unique<Worker>(std::move(settings), std::move(source),
                                                i == 0 ? std::move(pcap) : nullptr, comparison_));
  }
  for (auto &worker : workers_)
    worker->start();
  spdlog::info("{} worker{} reading {}", count, count == 1 ? "" : "s", xdp ? "the BPF ring" : rx);
}

bool Agent::stopWorkers(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  bool all = true;
  for (auto &worker : workers_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    all = worker->stop(std::max(left, std::chrono::milliseconds(1))) && all;
  }
  return all;
}

// The limits are the agent's: each of N workers gets 1/N of the flow table and its memory.
flow::FlowLimits Agent::workerLimits(const RunOptions &o) const {
  size_t workers = std::max<size_t>(1, o.workers ? o.workers : defaultWorkerCount());
  flow::FlowLimits limits = o.flowLimits;
  limits.serverPayload = !responseHeadersOnly(o);
  limits.maxFlows = std::max<size_t>(1, limits.maxFlows / workers);
  limits.maxBufferedTotal = std::max<size_t>(1, limits.maxBufferedTotal / workers);
  return limits;
}

// The HTTP budgets are the agent's too (heads being framed, bodies held for comparison).
HttpStageLimits Agent::httpLimits(const RunOptions &o) const {
  size_t workers = std::max<size_t>(1, o.workers ? o.workers : defaultWorkerCount());
  HttpStageLimits limits;
  limits.headBudgetBytes = std::max<size_t>(1, limits.headBudgetBytes / workers);
  limits.bodyBudgetBytes = std::max<size_t>(1, limits.bodyBudgetBytes / workers);
  return limits;
}

replay::ReplayOptions Agent::replayOptions(const RunOptions &o) const {
  replay::ReplayOptions replay;
  replay.mark = o.skipMark;
  // The budgets are the agent's: each of N workers gets 1/N of them.
  size_t workers = std::max<size_t>(1, o.workers ? o.workers : defaultWorkerCount());
  replay.maxBacklogTotal = std::max<size_t>(1, o.replayBacklogBytes / workers);
  replay.maxBacklogPerConnection = std::min(replay.maxBacklogPerConnection, replay.maxBacklogTotal);
  replay::applyConnectionLimits(replay, o.maxReplayConns, o.replaySources.size(), workers);
  replay.maxQueuedPerTarget = o.replayQueue ? std::max<size_t>(1, (o.replayQueue + workers - 1) / workers) : 0;
  for (const auto &source : o.replaySources)
    replay.sources.push_back(boost::asio::ip::make_address(source));
  return replay;
}

void Agent::markReady() {
  ready_ = true;
  publish();
  spdlog::info("ready");
}

void Agent::tick() {
  // By the clock, not by counting ticks: under load a tick comes late, and ten late ticks would
  // leave the published stats ten times staler than a second.
  uint64_t now = monotonicNs();
  if (linkWatch_ && now - lastRescanNs_ >= 1'000'000'000ull)
    rescanInterfaces(); // besides every link message: a change the watch missed is found within a second
  if (now - lastPublishNs_ >= 1'000'000'000ull) {
    lastPublishNs_ = now;
    publish();
  }
}

void Agent::reload(const std::function<RunOptions()> &load) {
  // Off the loop: the file, the flags over it, DNS and the loop check. Nothing here touches the
  // running agent.
  resolver_.resolve(
      load,
      [](const RunOptions &next) {
        auto plan = replay::buildReplayPlan(next.services);
        replay::refuseLoops(plan, mirroredPorts(next), replay::localAddresses());
        return plan;
      },
      [this](PlanResolver::Result result) { applyReload(std::move(result)); });
}

void Agent::applyReload(PlanResolver::Result result) {
  try {
    if (!result.options)
      throw Error(result.error);
    RunOptions next = std::move(*result.options);
    auto &plan = result.plan;
    if (next.interfacePatterns() != options_.interfacePatterns() || next.mode != options_.mode || next.mirrorIface != options_.mirrorIface ||
        !sameVxlan(next) || next.snaplen != options_.snaplen || next.metricsAddr != options_.metricsAddr ||
        next.workers != options_.workers || next.recordDir != options_.recordDir ||
        next.recordMaxBytes != options_.recordMaxBytes || next.captureBufferBytes() != options_.captureBufferBytes() ||
        next.maxReplayConns != options_.maxReplayConns || next.replayQueue != options_.replayQueue)
      throw Error("interfaces, mode, mirror interface or VXLAN mirror, snaplen, metrics address, workers, the capture "
                  "buffer, the replay limits (maxReplayConns, replayQueue) and the recording cannot "
                  "change on reload: restart the agent");
    setLogLevel(next.logLevel);
    taps_.applyRules(next);
    taps_.applyRuntime(next);
    if (workers_.empty() && !plan.targets.empty()) {
      options_ = next;
      startWorkers(&plan, nullptr);
    } else {
      auto shared = std::make_shared<const replay::ReplayPlan>(plan);
      for (auto &worker : workers_)
        worker->reconfigure(workerLimits(next), shared);
    }
    options_ = next;
    config_.reloads++;
    spdlog::info("reloaded {}: {}", options_.configPath.value_or("config"), describe(options_));
  } catch (const std::exception &e) {
    config_.reloadFailures++;
    spdlog::error("reload rejected, the running configuration stays: {}", e.what());
  }
}

// /metrics for Prometheus; /status.json and /report.json for `shadowtap status` and `report`,
// which find the endpoint through /run/shadowtap/<iface>.endpoint.
void Agent::startEndpoint() {
  MetricsServer::Documents documents;
  documents["/metrics"] = {kPrometheusContentType, [this] { return metricsText(); }};
  documents["/status.json"] = {"application/json", [this] { return statusDocument().dump(); }};
  documents["/report.json"] = {"application/json", [this] { return comparison_.json().dump(); }};
  metrics_ = std::make_unique<MetricsServer>(control_, options_.metricsAddr, std::move(documents),
                                             [this] { return ready_; });
  auto bound = parseListenAddress(options_.metricsAddr);
  endpointHost_ = bound.address().to_string();
  writeEndpointFile(taps_.name(), endpointHost_, metrics_->port());
  taps_.forEach([this](const Tap &tap) { addRunFiles(tap.iface()); });
  spdlog::info("serving /metrics, /healthz, /status.json and /report.json on {}", options_.metricsAddr);
}

std::optional<PipelineStats> Agent::pipelineStats() const {
  std::optional<PipelineStats> total;
  for (const auto &worker : workers_) {
    auto stats = worker->stats();
    if (!stats)
      continue;
    if (!total) {
      total = std::move(stats);
      continue;
    }
    accumulate(*total, *stats); // every worker holds the same targets in the same order
  }
  return total;
}

void Agent::rescanInterfaces() {
  lastRescanNs_ = monotonicNs();
  auto changes = taps_.rescan();
  for (const auto &iface : changes.removed)
    removeRunFiles(iface);
  for (const auto &iface : changes.added)
    addRunFiles(iface);
  if (changes.more)
    asio::post(control_, [this] { rescanInterfaces(); });
}

// `status --iface X` and `report --iface X` find the agent through X's run files, whichever of
// its interfaces X is: the endpoint is recorded under each, the stats file linked.
void Agent::addRunFiles(const std::string &iface) {
  if (iface == taps_.name())
    return;
  if (metrics_)
    writeEndpointFile(iface, endpointHost_, metrics_->port());
  std::string link = statsFilePath(iface);
  ::unlink(link.c_str());
  if (::symlink(statsPath_.c_str(), link.c_str()) != 0)
    spdlog::debug("cannot link {} to {}: {}", link, statsPath_, std::strerror(errno));
}

void Agent::removeRunFiles(const std::string &iface) {
  if (iface == taps_.name())
    return;
  if (metrics_)
    removeEndpointFile(iface);
  ::unlink(statsFilePath(iface).c_str());
}

// One entry per tapped interface: how it is attached, where the service port is looked for, and
// its kernel counters.
nlohmann::ordered_json Agent::interfacesDocument() const {
  auto list = nlohmann::ordered_json::array();
  taps_.forEach([&](const Tap &tap) {
    nlohmann::ordered_json counters = nlohmann::ordered_json::object();
    try {
      counters = countersJson(tap.maps().counters(), true);
    } catch (const std::exception &) {
    }
    list.push_back({{"name", tap.iface()},
                    {"ifindex", tap.ifindex()},
                    {"tc_attach", attachModeName(tap.attachMode())},
                    {"service_port_side", tap.portsEitherSide(options_) ? "either" : "hook"},
                    {"kernel", std::move(counters)}});
  });
  return list;
}

// What `status` reads: readiness, the interfaces, then the pipeline's counters when it runs.
nlohmann::ordered_json Agent::statusDocument() const {
  nlohmann::ordered_json doc = {{"ready", ready_}};
  doc["interfaces"] = interfacesDocument();
  doc["tap_set"] = stats::toJson<TapSetStats>(taps_.stats(), kTapSetStatsFields);
  doc["response_capture"] = taps_.responsesHeadersOnly() ? "headers_only" : "whole";
  // Every tap's kernel counters added up (forgotten ones too): what the ledger compares the
  // pipeline with, since one pipeline reads the clones of every interface.
  doc["kernel"] = countersJson(taps_.counters());
  if (auto stats = pipelineStats()) {
    doc["workers"] = workers_.size();
    // How the shards are loaded: a fan-out that put every connection on one worker shows here.
    auto perWorker = nlohmann::ordered_json::array();
    for (const auto &worker : workers_)
      if (auto own = worker->stats())
        perWorker.push_back({{"frames", own->capture.frames},
                             {"kernel_drops", own->capture.kernelDrops},
                             {"flows_started", own->flows.flowsStarted}});
    doc["per_worker"] = std::move(perWorker);
    doc.update(toJson(*stats));
    doc["config"] = stats::toJson<ConfigStats>(config_, kConfigStatsFields);
    auto admission = admission_->stats();
    doc["admission"] = stats::toJson<AdmissionStats>(admission, kAdmissionStatsFields);
  }
  return doc;
}

std::string Agent::metricsText() {
  std::string labels = "iface=\"" + stats::escapeLabelValue(taps_.name()) + "\"";
  // Kernel counters per tapped interface; the rest is the agent's, labelled with its name (the
  // interface itself when one is tapped by name).
  LabelledCounters kernel;
  taps_.forEach([&](const Tap &tap) {
    try {
      kernel.emplace_back("iface=\"" + stats::escapeLabelValue(tap.iface()) + "\"", tap.maps().counters());
    } catch (const std::exception &) {
    }
  });
  std::string text = renderKernelCounters(kernel);
  auto tapSet = taps_.stats();
  stats::appendPrometheus<TapSetStats>(text, "tap_set", kTapSetStatsFields, {{labels, &tapSet}});
  if (auto stats = pipelineStats()) {
    appendPrometheus(text, labels, *stats);
    stats::appendPrometheus<ConfigStats>(text, "config", kConfigStatsFields, {{labels, &config_}});
    auto admission = admission_->stats();
    stats::appendPrometheus<AdmissionStats>(text, "admission", kAdmissionStatsFields, {{labels, &admission}});
    comparison_.appendPrometheus(text);
  }
  return text;
}

void Agent::publish() const { writeStatsFile(statsPath_, statusDocument()); }

} // namespace shadowtap
