// SPDX-License-Identifier: Apache-2.0
// `shadowtap collect`: the receiving end of `run --mirror-vxlan` (and of AWS VPC Traffic
// Mirroring). One worker (runtime/worker.h) reads VXLAN datagrams from a UDP socket
// (capture/vxlan_socket_source.h) and runs the live pipeline on the frames inside: flow table,
// HTTP stage, replay, recording. Runs until SIGINT/SIGTERM or --duration, logs its counters every
// 10 s while they move, and prints a summary at the end (--json: one document; in HTTP mode the
// comparison report too). Needs no privileges beyond binding the port.
#include "capture/vxlan_socket_source.h"
#include "commands/commands.h"
#include "common/resource_limits.h"
#include "compare/comparison.h"
#include "pipeline/pipeline_stats.h"
#include "record/record_writer.h"
#include "replay/connection_limits.h"
#include "replay/replay_plan.h"
#include "runtime/worker.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstring>
#include <iostream>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace asio = boost::asio;

namespace {

nlohmann::ordered_json sourceJson(const VxlanSourceStats &s, uint64_t kernelDrops) {
  return {{"datagrams", s.datagrams.load()}, {"frames", s.frames.load()},     {"not_vxlan", s.notVxlan.load()},
          {"other_vni", s.otherVni.load()},  {"cut", s.cut.load()},           {"socket_drops", kernelDrops}};
}

std::string progressLine(const VxlanSourceStats &s, const PipelineStats &p) {
  uint64_t opened = 0, completed = 0;
  for (const auto &[name, t] : p.targets) {
    opened += t.opened;
    completed += t.completed;
  }
  return std::to_string(s.datagrams.load()) + " datagrams (" + std::to_string(s.notVxlan.load()) + " not VXLAN, " +
         std::to_string(s.otherVni.load()) + " other VNI), " + std::to_string(p.capture.kernelDrops) +
         " dropped by the socket; " + std::to_string(p.flows.flowsStarted) + " connections, " +
         std::to_string(p.flows.flowsCompleted) + " completed; " + std::to_string(opened) + " replays opened, " +
         std::to_string(completed) + " completed";
}

} // namespace

int collectCommand(const CollectCommandOptions &options) {
  auto plan = replay::buildReplayPlan(options.services);
  if (options.recordDir)
    record::prepareRecordDir(*options.recordDir);
  warnIfFewFiles(raiseOpenFileLimit()); // one socket per replay connection

  auto source = std::make_unique<VxlanSocketSource>(options.listen, options.vni);
  const VxlanSocketSource &input = *source;
  Worker::Settings settings;
  settings.replay.mark = 0; // nothing is tapped here to exclude the replays from
  settings.replay.maxBacklogTotal = options.replayBacklogBytes;
  settings.replay.maxBacklogPerConnection =
      std::min(settings.replay.maxBacklogPerConnection, settings.replay.maxBacklogTotal);
  replay::applyConnectionLimits(settings.replay, options.maxReplayConns, options.replaySources.size(), 1);
  for (const auto &address : options.replaySources)
    settings.replay.sources.push_back(asio::ip::make_address(address));
  settings.plan = std::make_shared<const replay::ReplayPlan>(plan);
  if (options.recordDir) {
    settings.recordDir = options.recordDir;
    settings.recordMaxBytes = options.recordMaxBytes;
    settings.recordFileBytes = std::max<uint64_t>(4096, std::min<uint64_t>(64ull << 20, options.recordMaxBytes / 8));
  }
  compare::Comparison comparison;
  Worker worker(std::move(settings), std::move(source), nullptr, comparison);
  worker.start();
  spdlog::info("collecting VXLAN on {}:{}{}; ready", options.listen.address, input.port(),
               options.vni ? " (VNI " + std::to_string(*options.vni) + " only)" : std::string());

  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code &ec, int signo) {
    if (!ec)
      spdlog::info("received {}, stopping", strsignal(signo));
    io.stop();
  });
  asio::steady_timer until(io);
  if (options.durationS > 0) {
    until.expires_after(std::chrono::milliseconds(static_cast<int64_t>(options.durationS * 1000)));
    until.async_wait([&](const boost::system::error_code &ec) {
      if (!ec)
        io.stop();
    });
  }
  asio::steady_timer ticker(io);
  uint64_t lastDatagrams = 0;
  std::function<void()> onTick = [&] {
    ticker.expires_after(std::chrono::seconds(10));
    ticker.async_wait([&](const boost::system::error_code &ec) {
      if (ec)
        return;
      if (auto stats = worker.stats(); stats && input.stats().datagrams.load() != lastDatagrams) {
        lastDatagrams = input.stats().datagrams.load();
        spdlog::info("{}", progressLine(input.stats(), *stats));
      }
      onTick();
    });
  };
  onTick();
  io.run();

  worker.stop(std::chrono::milliseconds(1500)); // flows end, open replays are aborted
  auto stats = worker.stats().value_or(PipelineStats{});
  bool http = !plan.http.empty();
  if (options.json) {
    nlohmann::ordered_json doc;
    doc["listen"] = options.listen.address + ":" + std::to_string(input.port());
    doc["collector"] = sourceJson(input.stats(), stats.capture.kernelDrops);
    doc["pipeline"] = toJson(stats);
    if (http)
      doc["report"] = comparison.json();
    std::cout << doc.dump(2) << "\n";
  } else {
    std::cout << "collected on " << options.listen.address << ":" << input.port() << ": "
              << progressLine(input.stats(), stats) << "\n";
    if (http)
      std::cout << "\n" << compare::formatReportTable(comparison.json());
  }
  return 0;
}

} // namespace shadowtap
