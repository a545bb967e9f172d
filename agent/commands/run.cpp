// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "capture/packet_ring.h"
#include "capture/pcap_writer.h"
#include "capture/ring_reader.h"
#include "commands/commands.h"
#include "common/error.h"
#include "net/mirror_pair.h"
#include "pipeline/mirror_pipeline.h"
#include "pipeline/stats_file.h"
#include "replay/shadow_target.h"
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

void logSummary(const TapMaps &maps) {
  auto c = maps.counters();
  spdlog::info("kernel counters: seen {} cloned {} ring_sent {} not_sampled {} excluded {} port_miss {} "
               "clone_failed {} ring_full {}",
               c[ST_C_SEEN], c[ST_C_CLONED], c[ST_C_RING_SENT], c[ST_C_NOT_SAMPLED], c[ST_C_EXCLUDED],
               c[ST_C_PORT_MISS], c[ST_C_CLONE_FAILED], c[ST_C_RING_FULL]);
}

} // namespace

int runCommand(const RunOptions &options, const std::string &bpffs) {
  requirePrivileges("run");
  requireBtf();
  requireIfindex(options.iface, "--iface");
  std::vector<replay::ShadowTarget> targets;
  for (const auto &text : options.shadows)
    targets.push_back(replay::parseShadowTarget(text));
  replay::resolveTargets(targets); // before attaching: a typo must not leave a half-made tap
  std::unique_ptr<PcapWriter> pcap; // likewise: an unwritable path fails before anything is attached
  if (options.pcapPath)
    pcap = std::make_unique<PcapWriter>(*options.pcapPath, options.snaplen);
  ensureBpffs(bpffs);

  asio::io_context io;
  // asio delivers signals as ordinary handlers on the loop, so shutdown runs the destructors.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);

  Tap tap(options, bpffs);
  std::string ports;
  for (uint16_t p : options.ports)
    ports += (ports.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("tapping {} port(s) {} at {}% in {} mode; maps pinned at {}", options.iface, ports,
               formatPercent(options.ratePpm), options.mode == Mode::Xdp ? "xdp" : "tc", tap.pinDir());

  std::unique_ptr<MirrorPipeline> pipeline;
  if (!targets.empty()) {
    replay::ReplayOptions replay;
    replay.targets = targets;
    replay.copies = options.copies;
    replay.mark = options.skipMark;
    replay.maxBacklogTotal = options.replayBacklogBytes;
    replay.maxBacklogPerConnection = std::min(replay.maxBacklogPerConnection, replay.maxBacklogTotal);
    pipeline = std::make_unique<MirrorPipeline>(io, options.flowLimits, std::move(replay));
    for (const auto &t : targets)
      spdlog::info("replaying every mirrored connection to {}{}", t.name,
                   options.copies > 1 ? " x" + std::to_string(options.copies) : "");
  }

  // Capture: TC mode reads the mirror interface (only when there is something to replay to);
  // XDP mode always drains the BPF ring (it would fill up otherwise).
  std::unique_ptr<PacketRing> packetRing;
  std::unique_ptr<RingReader> ring;
  std::vector<std::unique_ptr<ReadableWatch>> watches;
  uint64_t clockOffset = realtimeMinusMonotonicNs();
  if (options.mode == Mode::Tc && pipeline) {
    std::string rx = options.mirrorIface ? *options.mirrorIface : kMirrorRx;
    packetRing = std::make_unique<PacketRing>(rx, PacketRing::Options{});
    watches.push_back(std::make_unique<ReadableWatch>(io, packetRing->fd(), [&] {
      uint64_t now = monotonicNs();
      packetRing->drain([&](const CapturedFrame &frame) { pipeline->onFrame(frame.data, now); });
    }));
  }
  if (options.mode == Mode::Xdp) {
    ring = std::make_unique<RingReader>(tap.datapath().ringFd(), [&](const st_pkt_meta &meta, auto frame) {
      if (pcap)
        pcap->write(meta.ts_ns + clockOffset, frame.data(), static_cast<uint32_t>(frame.size()), meta.pkt_len);
      if (pipeline)
        pipeline->onFrame(frame, monotonicNs());
    });
    watches.push_back(std::make_unique<ReadableWatch>(io, ring->epollFd(), [&] {
      ring->drain();
      if (pcap)
        pcap->flush();
    }));
  }

  std::string statsPath = statsFilePath(options.iface);
  uint64_t lastRingFull = 0;
  auto publish = [&] {
    if (packetRing && pipeline)
      pipeline->addKernelDrops(packetRing->takeKernelDrops());
    if (ring && pipeline) { // BPF ring-full events are the XDP path's kernel-side drops
      uint64_t ringFull = tap.maps().counters()[ST_C_RING_FULL];
      pipeline->addKernelDrops(ringFull - lastRingFull);
      lastRingFull = ringFull;
    }
    if (pipeline)
      writeStatsFile(statsPath, pipeline->statsJson());
  };

  asio::steady_timer ticker(io);
  unsigned ticks = 0;
  std::function<void()> onTick = [&] {
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([&](const boost::system::error_code &ec) {
      if (ec)
        return;
      if (packetRing) // a block may have been retired without a wake-up
        packetRing->drain([&](const CapturedFrame &frame) { pipeline->onFrame(frame.data, monotonicNs()); });
      if (pipeline)
        pipeline->tick(monotonicNs());
      if (++ticks % 10 == 0)
        publish();
      onTick();
    });
  };
  onTick();

  std::function<void()> waitSignal = [&] {
    signals.async_wait([&](const boost::system::error_code &ec, int signo) {
      if (ec)
        return;
      if (signo == SIGHUP) { // config reload arrives with the config file
        waitSignal();
        return;
      }
      spdlog::info("received {}, detaching from {}", strsignal(signo), options.iface);
      io.stop();
    });
  };
  waitSignal();
  io.run();

  if (ring)
    ring->drain();
  if (pipeline) {
    pipeline->shutdown();
    publish();
    spdlog::info("pipeline: {}", pipeline->statsJson().dump());
    ::unlink(statsPath.c_str());
  }
  if (ring)
    spdlog::info("ring buffer: {} records, {} bytes, {} malformed", ring->stats().records, ring->stats().bytes,
                 ring->stats().malformed);
  logSummary(tap.maps());
  return 0;
}

} // namespace shadowtap
