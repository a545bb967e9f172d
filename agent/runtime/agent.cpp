// SPDX-License-Identifier: Apache-2.0
#include "runtime/agent.h"

#include "capture/bpf_ring_source.h"
#include "capture/packet_ring.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/logging.h"
#include "config/value_parsers.h"
#include "metrics/local_endpoint.h"
#include "metrics/prometheus_text.h"
#include "net/mirror_pair.h"
#include "pipeline/stats_file.h"
#include "replay/loop_guard.h"
#include "stats/prometheus_writer.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace shadowtap {

namespace asio = boost::asio;

namespace {

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

// Two ring blocks per turn (512 KiB, a few thousand small frames): a flood filling the ring must
// not keep the loop from replaying, answering /healthz or publishing stats. What is left is read
// on the next turn, posted behind whatever else is ready.
constexpr uint32_t kBatchesPerTurn = 2;

} // namespace

std::set<uint16_t> mirroredPorts(const RunOptions &options) {
  std::set<uint16_t> ports;
  for (const auto &s : options.services)
    ports.insert(s.port);
  return ports;
}

Agent::Agent(asio::io_context &io, const RunOptions &options, const std::string &bpffs,
             std::unique_ptr<PcapWriter> pcap, const replay::ReplayPlan &plan)
    : io_(io), options_(options), tap_(options, bpffs), pcap_(std::move(pcap)),
      statsPath_(statsFilePath(options.iface)) {
  spdlog::info("tapping {} in {} mode ({}); tc attach {}; mirror {}; maps pinned at {}", options.iface,
               options.mode == Mode::Xdp ? "xdp" : "tc", describe(options), attachModeName(tap_.attachMode()),
               tap_.mirror().txName() == tap_.mirror().rxName()
                   ? tap_.mirror().txName()
                   : tap_.mirror().txName() + " -> " + tap_.mirror().rxName(),
               tap_.pinDir());
  frameHandler_ = [this](const Frame &frame) { onFrame(frame); };
  if (options.mode == Mode::Xdp) // XDP mode always drains the BPF ring (it would fill up otherwise)
    openSource(std::make_unique<BpfRingSource>(tap_.datapath().ringFd(),
                                               [this] { return tap_.maps().counters()[ST_C_RING_FULL]; }));
  if (!plan.targets.empty())
    startPipeline(plan, options);
  if (options.metricsAddr != "off")
    startEndpoint();
}

Agent::~Agent() {
  if (metrics_)
    removeEndpointFile(options_.iface);
  if (source_) // what is already captured still reaches the pipeline (and the pcap file)
    drainSource();
  if (pipeline_) {
    pipeline_->shutdown();
    spdlog::info("pipeline: {}", statusDocument().dump());
  }
  ::unlink(statsPath_.c_str());
  auto counters = tap_.maps().counters();
  std::string kernel;
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    if (counters[i])
      kernel += (kernel.empty() ? "" : " ") + std::string(counterName(i)) + " " + std::to_string(counters[i]);
  spdlog::info("kernel counters: {}", kernel.empty() ? "none" : kernel);
}

void Agent::markReady() {
  ready_ = true;
  publish();
  spdlog::info("ready");
}

void Agent::tick() {
  if (source_) // a ring block may have been retired without a wake-up
    drainSource();
  uint64_t now = monotonicNs();
  if (pipeline_)
    pipeline_->tick(now);
  // By the clock, not by counting ticks: under load a tick comes late, and ten late ticks
  // would leave the published stats ten times staler than a second.
  if (now - lastPublishNs_ >= 1'000'000'000ull) {
    lastPublishNs_ = now;
    publish();
  }
}

void Agent::reload(const std::function<RunOptions()> &load) {
  try {
    RunOptions next = load();
    if (next.iface != options_.iface || next.mode != options_.mode || next.mirrorIface != options_.mirrorIface ||
        next.snaplen != options_.snaplen || next.metricsAddr != options_.metricsAddr)
      throw Error("interface, mode, mirror interface, snaplen and metrics address cannot change on reload: "
                  "restart the agent");
    auto plan = replay::buildReplayPlan(next.services);
    replay::refuseLoops(plan, mirroredPorts(next), replay::localAddresses());
    setLogLevel(next.logLevel);
    tap_.applyRules(next);
    auto runtime = tap_.maps().runtime();
    runtime.skip_mark = next.skipMark;
    tap_.maps().setRuntime(runtime);
    if (pipeline_)
      pipeline_->reconfigure(next.flowLimits, plan);
    else if (!plan.targets.empty())
      startPipeline(plan, next);
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
  documents["/report.json"] = {"application/json", [this] {
                                 return pipeline_ ? pipeline_->comparison().json().dump()
                                                  : compare::Comparison().json().dump();
                               }};
  metrics_ =
      std::make_unique<MetricsServer>(io_, options_.metricsAddr, std::move(documents), [this] { return ready_; });
  auto bound = parseListenAddress(options_.metricsAddr);
  writeEndpointFile(options_.iface, bound.address().to_string(), metrics_->port());
  spdlog::info("serving /metrics, /healthz, /status.json and /report.json on {}", options_.metricsAddr);
}

void Agent::startPipeline(const replay::ReplayPlan &plan, const RunOptions &o) {
  replay::ReplayOptions replay;
  replay.mark = o.skipMark;
  replay.maxBacklogTotal = o.replayBacklogBytes;
  replay.maxBacklogPerConnection = std::min(replay.maxBacklogPerConnection, replay.maxBacklogTotal);
  pipeline_ = std::make_unique<MirrorPipeline>(io_, o.flowLimits, std::move(replay), plan);
  if (!source_) // TC mode reads the mirror interface; XDP mode already reads the ring
    openSource(std::make_unique<PacketRing>(tap_.mirror().rxName(), PacketRing::Options{}));
}

void Agent::openSource(std::unique_ptr<FrameSource> source) {
  source_ = std::move(source);
  sourceWatch_ = std::make_unique<ReadableWatch>(io_, source_->readableFd(), [this] { drainSource(); });
}

void Agent::drainSource() {
  nowNs_ = monotonicNs();
  bool more = source_->poll(frameHandler_, kBatchesPerTurn);
  if (pcap_)
    pcap_->flush();
  if (more && !drainPosted_) {
    drainPosted_ = true;
    asio::post(io_, [this] {
      drainPosted_ = false;
      drainSource();
    });
  }
}

void Agent::onFrame(const Frame &frame) {
  if (pcap_)
    pcap_->write(frame.tsNs, frame.data.data(), static_cast<uint32_t>(frame.data.size()), frame.wireLen);
  if (pipeline_)
    pipeline_->onFrame(frame, nowNs_);
}

// What `status` reads: readiness, then the pipeline's counters when it runs.
nlohmann::ordered_json Agent::statusDocument() {
  nlohmann::ordered_json doc = {{"ready", ready_}};
  if (pipeline_) {
    if (source_)
      pipeline_->addKernelDrops(source_->takeKernelDrops());
    doc.update(toJson(pipeline_->stats()));
    doc["config"] = stats::toJson<ConfigStats>(config_, kConfigStatsFields);
  }
  return doc;
}

std::string Agent::metricsText() {
  std::string labels = "iface=\"" + stats::escapeLabelValue(options_.iface) + "\"";
  std::string text = renderKernelCounters(labels, tap_.maps().counters());
  if (pipeline_) {
    if (source_)
      pipeline_->addKernelDrops(source_->takeKernelDrops());
    appendPrometheus(text, labels, pipeline_->stats());
    stats::appendPrometheus<ConfigStats>(text, "config", kConfigStatsFields, {{labels, &config_}});
    pipeline_->comparison().appendPrometheus(text);
  }
  return text;
}

void Agent::publish() {
  writeStatsFile(statsPath_, statusDocument());
}

} // namespace shadowtap
