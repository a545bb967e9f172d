// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "capture/packet_ring.h"
#include "capture/pcap_writer.h"
#include "capture/ring_reader.h"
#include "commands/commands.h"
#include "common/capabilities.h"
#include "common/error.h"
#include "common/logging.h"
#include "config/value_parsers.h"
#include "metrics/local_endpoint.h"
#include "metrics/metrics_server.h"
#include "metrics/prometheus_text.h"
#include "net/mirror_pair.h"
#include "pipeline/mirror_pipeline.h"
#include "pipeline/stats_file.h"
#include "replay/loop_guard.h"
#include "replay/replay_plan.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <csignal>
#include <ctime>
#include <memory>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace shadowtap {
namespace {

namespace asio = boost::asio;

uint64_t monotonicNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

uint64_t realtimeMinusMonotonicNs() {
  timespec mono, real;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  auto ns = [](const timespec &t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
  return static_cast<uint64_t>(ns(real) - ns(mono));
}

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

std::set<uint16_t> mirroredPorts(const RunOptions &options) {
  std::set<uint16_t> ports;
  for (const auto &s : options.services)
    ports.insert(s.port);
  return ports;
}

// Calls `onReadable` whenever `fd` becomes readable, on the io_context, until the object dies.
class ReadableWatch {
public:
  ReadableWatch(asio::io_context &io, int fd, std::function<void()> onReadable)
      : descriptor_(io, ::dup(fd)), onReadable_(std::move(onReadable)) {
    arm();
  }

private:
  void arm() {
    descriptor_.async_wait(asio::posix::descriptor_base::wait_read, [this](const boost::system::error_code &ec) {
      if (ec)
        return;
      onReadable_();
      arm();
    });
  }
  asio::posix::stream_descriptor descriptor_;
  std::function<void()> onReadable_;
};

// Everything `run` keeps alive while it runs, in construction order.
class Agent {
public:
  Agent(asio::io_context &io, const RunOptions &options, const std::string &bpffs,
        std::unique_ptr<PcapWriter> pcap, const replay::ReplayPlan &plan)
      : io_(io), options_(options), tap_(options, bpffs), pcap_(std::move(pcap)),
        clockOffset_(realtimeMinusMonotonicNs()), statsPath_(statsFilePath(options.iface)) {
    spdlog::info("tapping {} in {} mode ({}); maps pinned at {}", options.iface,
                 options.mode == Mode::Xdp ? "xdp" : "tc", describe(options), tap_.pinDir());
    if (options.mode == Mode::Xdp) // XDP mode always drains the BPF ring (it would fill up otherwise)
      startRing();
    if (!plan.targets.empty())
      startPipeline(plan);
    if (options.metricsAddr != "off")
      startEndpoint();
  }

  ~Agent() {
    if (metrics_)
      removeEndpointFile(options_.iface);
    if (ring_)
      ring_->drain();
    if (pipeline_) {
      pipeline_->shutdown();
      spdlog::info("pipeline: {}", pipeline_->statsJson().dump());
    }
    ::unlink(statsPath_.c_str());
    if (ring_)
      spdlog::info("ring buffer: {} records, {} bytes, {} malformed", ring_->stats().records,
                   ring_->stats().bytes, ring_->stats().malformed);
    auto c = tap_.maps().counters();
    spdlog::info("kernel counters: seen {} cloned {} ring_sent {} not_sampled {} excluded {} port_miss {} "
                 "clone_failed {} ring_full {}",
                 c[ST_C_SEEN], c[ST_C_CLONED], c[ST_C_RING_SENT], c[ST_C_NOT_SAMPLED], c[ST_C_EXCLUDED],
                 c[ST_C_PORT_MISS], c[ST_C_CLONE_FAILED], c[ST_C_RING_FULL]);
  }

  // Everything is attached, the capture is open, capabilities are dropped and the loop runs:
  // from now on `status` says "ready" and /healthz answers 200.
  void markReady() {
    ready_ = true;
    publish();
    spdlog::info("ready");
  }

  void tick() {
    if (packetRing_) // a block may have been retired without a wake-up
      drainPacketRing();
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

  // SIGHUP: everything is checked (file, flags, DNS) before anything changes; a bad file changes
  // nothing. Rules and exclusions are updated in place, so connections being replayed go on.
  void reload(const std::function<RunOptions()> &load) {
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
        startPipeline(plan, &next);
      options_ = next;
      reloads_++;
      spdlog::info("reloaded {}: {}", options_.configPath.value_or("config"), describe(options_));
    } catch (const std::exception &e) {
      reloadFailures_++;
      spdlog::error("reload rejected, the running configuration stays: {}", e.what());
    }
  }

private:
  // /metrics for Prometheus; /status.json and /report.json for `shadowtap status` and `report`,
  // which find the endpoint through /run/shadowtap/<iface>.endpoint.
  void startEndpoint() {
    MetricsServer::Documents documents;
    documents["/metrics"] = {kPrometheusContentType, [this] {
                               std::optional<nlohmann::ordered_json> stats;
                               if (pipeline_)
                                 stats = currentStats();
                               auto text = renderPrometheus(options_.iface, tap_.maps().counters(), stats);
                               if (pipeline_)
                                 pipeline_->comparison().appendPrometheus(text);
                               return text;
                             }};
    documents["/status.json"] = {"application/json", [this] { return statusDocument().dump(); }};
    documents["/report.json"] = {"application/json", [this] {
                                   return pipeline_ ? pipeline_->comparison().json().dump()
                                                    : compare::Comparison().json().dump();
                                 }};
    metrics_ = std::make_unique<MetricsServer>(io_, options_.metricsAddr, std::move(documents),
                                               [this] { return ready_; });
    auto bound = parseListenAddress(options_.metricsAddr);
    writeEndpointFile(options_.iface, bound.address().to_string(), metrics_->port());
    spdlog::info("serving /metrics, /healthz, /status.json and /report.json on {}", options_.metricsAddr);
  }

  // What `status` reads: readiness, then the pipeline's counters when it runs.
  nlohmann::ordered_json statusDocument() {
    nlohmann::ordered_json doc = {{"ready", ready_}};
    if (pipeline_)
      doc.update(currentStats());
    return doc;
  }

  nlohmann::ordered_json currentStats() {
    if (packetRing_)
      pipeline_->addKernelDrops(packetRing_->takeKernelDrops());
    if (ring_) { // BPF ring-full events are the XDP path's kernel-side drops
      uint64_t ringFull = tap_.maps().counters()[ST_C_RING_FULL];
      pipeline_->addKernelDrops(ringFull - lastRingFull_);
      lastRingFull_ = ringFull;
    }
    auto stats = pipeline_->statsJson();
    stats["config"] = {{"reloads", reloads_}, {"reload_failures", reloadFailures_}};
    return stats;
  }

  void startRing() {
    ring_ = std::make_unique<RingReader>(tap_.datapath().ringFd(), [this](const st_pkt_meta &meta, auto frame) {
      if (pcap_)
        pcap_->write(meta.ts_ns + clockOffset_, frame.data(), static_cast<uint32_t>(frame.size()), meta.pkt_len);
      if (pipeline_)
        pipeline_->onFrame(frame, monotonicNs(), meta.ts_ns);
    });
    watches_.push_back(std::make_unique<ReadableWatch>(io_, ring_->epollFd(), [this] {
      ring_->drain();
      if (pcap_)
        pcap_->flush();
    }));
  }

  void startPipeline(const replay::ReplayPlan &plan, const RunOptions *next = nullptr) {
    const RunOptions &o = next ? *next : options_;
    replay::ReplayOptions replay;
    replay.mark = o.skipMark;
    replay.maxBacklogTotal = o.replayBacklogBytes;
    replay.maxBacklogPerConnection = std::min(replay.maxBacklogPerConnection, replay.maxBacklogTotal);
    pipeline_ = std::make_unique<MirrorPipeline>(io_, o.flowLimits, std::move(replay), plan);
    if (o.mode == Mode::Tc) { // TC mode reads the mirror interface; XDP mode already reads the ring
      std::string rx = o.mirrorIface ? *o.mirrorIface : kMirrorRx;
      packetRing_ = std::make_unique<PacketRing>(rx, PacketRing::Options{});
      watches_.push_back(std::make_unique<ReadableWatch>(io_, packetRing_->fd(), [this] { drainPacketRing(); }));
    }
  }

  // Two blocks per turn (512 KiB, a few thousand small frames): a flood filling the ring must not
  // keep the loop from replaying, answering /healthz or publishing stats. What is left is drained
  // on the next turn, posted behind whatever else is ready.
  void drainPacketRing() {
    constexpr uint32_t kBlocksPerTurn = 2;
    uint64_t now = monotonicNs();
    packetRing_->drain([&](const CapturedFrame &frame) { pipeline_->onFrame(frame.data, now, frame.tsNs); },
                       kBlocksPerTurn);
    if (packetRing_->ready() && !drainPosted_) {
      drainPosted_ = true;
      asio::post(io_, [this] {
        drainPosted_ = false;
        drainPacketRing();
      });
    }
  }

  void publish() { writeStatsFile(statsPath_, statusDocument()); }

  asio::io_context &io_;
  RunOptions options_;
  Tap tap_;
  std::unique_ptr<PcapWriter> pcap_;
  uint64_t clockOffset_;
  std::string statsPath_;
  std::unique_ptr<MirrorPipeline> pipeline_;
  std::unique_ptr<PacketRing> packetRing_;
  std::unique_ptr<RingReader> ring_;
  std::vector<std::unique_ptr<ReadableWatch>> watches_;
  std::unique_ptr<MetricsServer> metrics_;
  uint64_t lastRingFull_ = 0;
  bool drainPosted_ = false;
  bool ready_ = false;
  uint64_t lastPublishNs_ = 0;
  uint64_t reloads_ = 0;
  uint64_t reloadFailures_ = 0;
};

} // namespace

int runCommand(const RunOptions &options, const std::string &bpffs, const std::function<RunOptions()> &reload) {
  requirePrivileges("run");
  requireBtf();
  requireIfindex(options.iface, "--iface");
  if (options.mirrorIface)
    requireIfindex(*options.mirrorIface, "--mirror-iface");
  // Everything that can be checked is checked before attaching: a typo in a shadow name or an
  // unwritable pcap path must not leave a half-made tap behind.
  auto plan = replay::buildReplayPlan(options.services);
  replay::refuseLoops(plan, mirroredPorts(options), replay::localAddresses());
  std::unique_ptr<PcapWriter> pcap;
  if (options.pcapPath)
    pcap = std::make_unique<PcapWriter>(*options.pcapPath, options.snaplen);
  ensureBpffs(bpffs);

  asio::io_context io;
  // asio delivers signals as ordinary handlers on the loop, so shutdown runs the destructors.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  Agent agent(io, options, bpffs, std::move(pcap), plan);
  dropUnneededCapabilities(options.mode == Mode::Xdp);
  // Ready once the loop runs: this handler is the first thing io.run() executes.
  asio::post(io, [&agent] { agent.markReady(); });

  asio::steady_timer ticker(io);
  std::function<void()> onTick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](const boost::system::error_code &ec) {
      if (ec)
        return;
      agent.tick();
      onTick();
    });
  };
  onTick();

  std::function<void()> waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code &ec, int signo) {
      if (ec)
        return;
      if (signo == SIGHUP) {
        if (reload)
          agent.reload(reload);
        else
          spdlog::warn("SIGHUP ignored: the agent was started without --config");
        waitSignal();
        return;
      }
      spdlog::info("received {}, detaching from {}", strsignal(signo), options.iface);
      io.stop();
    });
  };
  waitSignal();
  io.run();
  return 0;
}

} // namespace shadowtap
