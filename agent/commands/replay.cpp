// SPDX-License-Identifier: Apache-2.0
// `shadowtap replay`: an offline input (capture or recording) through the live pipeline to the
// shadow targets, paced by its own timestamps (offline/offline_replay.h). Prints a progress line
// on a terminal, then a summary (and in HTTP mode the comparison report); --json prints the
// summary as one document. No privileges: no SO_MARK (nothing is tapped here to exclude it from).
#include "commands/commands.h"
#include "common/resource_limits.h"
#include "compare/comparison.h"
#include "offline/offline_replay.h"
#include "pipeline/pipeline_stats.h"
#include "replay/connection_limits.h"
#include "replay/replay_plan.h"

#include <cstdio>
#include <iostream>
#include <spdlog/spdlog.h>
#include <unistd.h>

namespace shadowtap {
namespace {

double seconds(uint64_t ns) { return static_cast<double>(ns) / 1e9; }

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

nlohmann::ordered_json summaryJson(const ReplayCommandOptions &options, const OfflineInput &input,
                                   const OfflineReplayResult &result) {
  nlohmann::ordered_json doc;
  doc["input"] = input.describe();
  doc["speed"] = options.speed;
  doc["rate"] = options.rate;
  doc["passes"] = result.passes;
  doc["connections"] = result.connections;
  doc["stopped_early"] = result.stoppedEarly;
  doc["items"] = result.items;
  doc["span_s"] = seconds(result.spanNs);
  doc["input_done_s"] = seconds(result.inputDoneNs);
  doc["elapsed_s"] = seconds(result.elapsedNs);
  doc["pipeline"] = toJson(result.stats);
  return doc;
}

void printSummary(const ReplayCommandOptions &options, const OfflineInput &input, const OfflineReplayResult &r) {
  const auto &f = r.stats.flows;
  std::cout << "replayed " << input.describe() << "\n"
            << "  span " << fixed(seconds(r.spanNs), 3) << " s at speed "
            << (options.speed == 0 ? std::string("max") : fixed(options.speed, 3)) << ": input done after "
            << fixed(seconds(r.inputDoneNs), 3) << " s, last replay finished after " << fixed(seconds(r.elapsedNs), 3)
            << " s\n";
  if (r.passes > 1 || r.stoppedEarly)
    std::cout << "  " << r.passes << " pass" << (r.passes == 1 ? "" : "es") << " over the input"
              << (r.stoppedEarly ? ", stopped early (--duration or a signal): open replays were reset" : "") << "\n";
  std::cout << "  connections: " << f.flowsStarted << " started, " << f.flowsCompleted << " completed, "
            << f.flowsReset << " reset, " << f.serverReset << " reset by the server, " << f.flowsBroken << " broken, " << f.midstreamSkipped << " without their SYN (skipped), "
            << f.flowsShutdown << " still open at the end; " << f.clientBytes << " client bytes\n";
  for (const auto &[name, t] : r.stats.targets)
    std::cout << "  " << name << ": " << t.opened << " opened, " << t.completed << " completed, " << t.unconfirmed
              << " unconfirmed, " << t.aborted << " aborted, " << t.connectFailed << " connect failed, "
              << t.writeFailed << " write failed, " << (t.shedBacklog + t.shedStalled + t.shedNoSocket + t.shedBackoff +
                                                          t.shedLimit)
              << " shed; " << t.bytesOut << " bytes out\n";
}

} // namespace

int replayCommand(const ReplayCommandOptions &options) {
  auto plan = replay::buildReplayPlan(options.services);
  warnIfFewFiles(raiseOpenFileLimit()); // one socket per replay connection
  replay::ReplayOptions replay;
  replay.mark = 0;
  replay.maxBacklogTotal = options.replayBacklogBytes;
  replay.maxBacklogPerConnection = std::min(replay.maxBacklogPerConnection, replay.maxBacklogTotal);
  replay::applyConnectionLimits(replay, options.maxReplayConns, options.replaySources.size(), 1);
  for (const auto &source : options.replaySources)
    replay.sources.push_back(boost::asio::ip::make_address(source));
  OfflineReplaySettings settings;
  settings.options = replay;
  settings.loops = options.loops;
  settings.maxConnsPerSecond = options.rate;
  settings.duration = std::chrono::milliseconds(static_cast<int64_t>(options.durationS * 1000));
  compare::Comparison comparison;
  bool terminal = ::isatty(STDERR_FILENO) && !options.json;
  std::function<void(const OfflineReplayResult &)> progress;
  if (terminal)
    progress = [&options](const OfflineReplayResult &r) {
      uint64_t open = 0, errors = 0;
      for (const auto &[name, t] : r.stats.targets) {
        open += t.active;
        errors += t.connectFailed + t.writeFailed + t.aborted;
      }
      // What was asked next to what is achieved: the input's speed, and connections per second.
      double elapsed = seconds(r.elapsedNs);
      std::string asked = options.speed == 0 ? "max" : fixed(options.speed, 2) + "x";
      if (options.rate)
        asked += ", " + std::to_string(options.rate) + " conns/s";
      std::fprintf(stderr, "\r%.1f s: speed %.2fx, %.0f conns/s (asked %s); %llu connections, %llu replays open, "
                   "%llu errors   ",
                   elapsed, elapsed > 0 ? seconds(r.spanNs) / elapsed : 0.0,
                   elapsed > 0 ? static_cast<double>(r.connections) / elapsed : 0.0, asked.c_str(),
                   static_cast<unsigned long long>(r.connections), static_cast<unsigned long long>(open),
                   static_cast<unsigned long long>(errors));
    };
  OfflineReplay offline(settings, plan, comparison,
                        [&options] { return openOfflineInput(options.from, options.speed); }, progress);
  auto result = offline.run();
  if (terminal)
    std::fprintf(stderr, "\n");
  bool http = !plan.http.empty();
  if (options.json) {
    auto doc = summaryJson(options, offline.input(), result);
    if (http)
      doc["report"] = comparison.json();
    std::cout << doc.dump(2) << "\n";
  } else {
    printSummary(options, offline.input(), result);
    if (http)
      std::cout << "\n" << compare::formatReportTable(comparison.json());
  }
  return 0;
}

} // namespace shadowtap
