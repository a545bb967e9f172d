// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"
#include "commands/commands.h"
#include "common/error.h"
#include "config/value_parsers.h"
#include "metrics/local_endpoint.h"
#include "net/link.h"
#include "pipeline/connection_ledger.h"
#include "pipeline/stats_file.h"
#include "tap/preflight.h"
#include "tap/tap.h"

#include <cstring>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace {

void printSection(const std::string &title, const nlohmann::ordered_json &section) {
  std::printf("\n%s:\n", title.c_str());
  for (const auto &[name, value] : section.items())
    if (!value.is_structured() && name != "target")
      std::printf("  %-24s %s\n", name.c_str(), value.dump().c_str());
}

// The agent's document section by section, in its order (generated from the stats tables):
// scalar sections as they are, one block per replay target, HTTP only for HTTP services.
void printPipeline(const nlohmann::ordered_json &pipeline, const std::string &iface) {
  for (const auto &[section, values] : pipeline.items()) {
    if (!values.is_object() || section == "kernel" || (section == "http" && values.value("flows", 0) == 0))
      continue; // (kernel: the agent's sum of the counters above, shown as the ledger)
    printSection(section, values);
    if (section == "replay")
      for (const auto &target : values.value("targets", nlohmann::ordered_json::array()))
        printSection("replay to " + target.value("target", std::string("?")), target);
    if (section == "http")
      std::printf("  (per-route comparison: shadowtap report --iface %s)\n", iface.c_str());
  }
}

// The kernel counters of the whole agent (every interface it taps feeds one pipeline), from its
// document; an agent that does not publish them taps only `own`'s interface.
CounterValues agentCounters(const CounterValues &own, const nlohmann::ordered_json &pipeline) {
  const auto kernel = pipeline.find("kernel");
  if (kernel == pipeline.end() || !kernel->is_object())
    return own;
  CounterValues total{};
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    total[i] = kernel->value(std::string(counterName(i)), uint64_t{0});
  return total;
}

void printInterfaces(const nlohmann::ordered_json &pipeline) {
  const auto list = pipeline.find("interfaces");
  if (list == pipeline.end() || !list->is_array() || list->size() < 2)
    return;
  std::printf("\nthe agent taps %zu interfaces:\n", list->size());
  for (const auto &entry : *list)
    std::printf("  %-16s service port on %s, tc attach %s\n", entry.value("name", std::string("?")).c_str(),
                entry.value("service_port_side", std::string("?")).c_str(),
                entry.value("tc_attach", std::string("?")).c_str());
}

// One line per stage: how many went on of how many arrived, and every reason for the rest.
void printLedger(const nlohmann::ordered_json &ledger) {
  if (ledger.empty())
    return;
  std::printf("\nconnections, wire to shadow (each stage: went on / arrived, then why not):\n");
  for (const auto &row : ledger) {
    std::string why;
    for (const auto &[reason, n] : row["short"].items())
      if (n.get<uint64_t>())
        why += " " + reason + " " + n.dump();
    if (auto unexplained = row["unexplained"].get<int64_t>())
      why += " unexplained " + std::to_string(unexplained);
    if (row.contains("frames_lost")) {
      std::string frames;
      for (const auto &[reason, n] : row["frames_lost"].items())
        frames += (frames.empty() ? "" : ", ") + reason + " " + n.dump();
      why += " (frames lost: " + frames + ")";
    }
    std::printf("  %-36s %10s / %-10s%s\n", row["stage"].get<std::string>().c_str(), row["out"].dump().c_str(),
                row["in"].dump().c_str(), why.c_str());
  }
}

} // namespace

int statusCommand(const StatusOptions &options, const std::string &bpffs) {
  requirePrivileges("status");
  auto maps = TapMaps::openPinned(pinDirFor(bpffs, options.iface));
  auto state = maps.state();
  auto runtime = maps.runtime();
  auto rules = maps.rules();
  auto excludes = maps.excludes();
  auto counters = maps.counters();
  bool alive = state.agent_pid && ::kill(static_cast<pid_t>(state.agent_pid), 0) == 0;
  std::string mode = state.mode == ST_MODE_XDP ? "xdp" : "tc";
  std::string mirror(state.mirror_iface, strnlen(state.mirror_iface, sizeof(state.mirror_iface)));
  std::string mirrorPeer(state.mirror_peer, strnlen(state.mirror_peer, sizeof(state.mirror_peer)));
  // Where the clones can be read: the pair's other end, or the --mirror-iface itself.
  std::string mirrorRead = mirrorPeer.empty() ? mirror : mirrorPeer;
  std::string tcAttach = (state.flags & ST_STATE_TCX) ? "tcx" : "clsact";
  // What is attached right now, from the kernel (tcx links end with their agent).
  int ifindex = ifindexOf(options.iface);
  int ingress = 0, egress = 0;
  if (ifindex && (state.flags & ST_STATE_TCX)) {
    ingress = tcxProgramsPresent(ifindex, TcDirection::Ingress);
    egress = tcxProgramsPresent(ifindex, TcDirection::Egress);
  } else if (ifindex) {
    ingress = tcFilterPresent(ifindex, TcDirection::Ingress);
    egress = tcFilterPresent(ifindex, TcDirection::Egress);
  }
  // The pipeline's counters, live from the agent's local endpoint; an agent started with
  // --metrics-addr off still publishes them once a second to a root-only file.
  std::optional<nlohmann::ordered_json> pipeline;
  if (alive) {
    if (auto endpoint = readEndpointFile(options.iface)) {
      try {
        auto doc = nlohmann::ordered_json::parse(fetchDocument(*endpoint, "/status.json"), nullptr, false);
        if (!doc.is_discarded() && doc.is_object())
          pipeline = std::move(doc);
      } catch (const Error &e) {
        // It publishes a file once a second too; one that does not answer (stopped, starved)
        // stopped publishing when it stopped answering, so the file's age is said, not assumed.
        std::string path = statsFilePath(options.iface);
        pipeline = readStatsFile(path);
        auto age = statsFileAgeSeconds(path);
        if (pipeline && age)
          spdlog::warn("{}; showing the counters it published {:.1f} s ago instead", e.what(), *age);
        else
          spdlog::warn("{}; and it published no counters to fall back on", e.what());
      }
    } else {
      pipeline = readStatsFile(statsFilePath(options.iface));
    }
  }

  // Ready: the agent runs and says it finished starting (attached, capture open, capabilities
  // dropped, loop running). The rest of its document is the pipeline's counters, if it replays.
  bool ready = false;
  if (pipeline && !pipeline->is_object())
    pipeline.reset();
  if (pipeline) {
    ready = pipeline->value("ready", false);
    pipeline->erase("ready");
    if (!pipeline->contains("capture"))
      pipeline.reset();
  }

  if (options.json) {
    nlohmann::ordered_json out;
    out["iface"] = options.iface;
    out["mode"] = mode;
    out["mirror_iface"] = mirror;
    out["mirror_pair"] =
        mirrorPeer.empty() ? nlohmann::json::array({mirror}) : nlohmann::json::array({mirror, mirrorPeer});
    out["mirror_read_iface"] = mirrorRead;
    out["tc_attach"] = tcAttach;
    out["tc_programs"] = {{"ingress", ingress}, {"egress", egress}};
    out["agent_pid"] = state.agent_pid;
    out["agent_running"] = alive;
    out["ready"] = ready;
    out["enabled"] = runtime.enabled != 0;
    out["seed"] = runtime.seed;
    out["skip_mark"] = runtime.skip_mark;
    out["max_new_conns"] = runtime.max_new_conns;
    out["max_mirror_bytes"] = runtime.max_mirror_bytes;
    out["service_port_side"] = (runtime.flags & ST_RT_PORTS_EITHER_SIDE) ? "either" : "hook";
    out["rules"] = nlohmann::json::array();
    for (const auto &[port, rule] : rules)
      out["rules"].push_back({{"port", port},
                              {"percent", rule.rate_ppm / 10000.0},
                              {"rate_ppm", rule.rate_ppm},
                              {"mirror_ifindex", rule.mirror_ifindex},
                              {"enabled", (rule.flags & ST_RULE_ENABLED) != 0}});
    out["excluded_cidrs"] = nlohmann::json::array();
    for (const auto &key : excludes)
      out["excluded_cidrs"].push_back(formatLpmKey(key));
    out["counters"] = countersJson(counters);
    if (pipeline) {
      out["pipeline"] = *pipeline;
      out["ledger"] = pipeline::connectionLedger(agentCounters(counters, *pipeline), *pipeline);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }

  std::printf("shadowtap on %s: %s mode, tc attach %s, mirror %s%s%s, agent pid %u (%s), %s\n", options.iface.c_str(),
              mode.c_str(), tcAttach.c_str(), mirror.c_str(), mirrorPeer.empty() ? "" : " -> ", mirrorPeer.c_str(),
              state.agent_pid, alive ? (ready ? "running, ready" : "running, starting") : "not running",
              runtime.enabled ? "enabled" : "DISABLED");
  std::printf("seed 0x%08x, skip mark 0x%x, service port on %s\n", runtime.seed, runtime.skip_mark,
              (runtime.flags & ST_RT_PORTS_EITHER_SIDE) ? "either side (a veth: requests may leave by egress)"
                                                        : "the hook's side (requests arrive)");
  if (runtime.max_new_conns || runtime.max_mirror_bytes)
    std::printf("budget per second: %s new connections, %s bytes mirrored (over it: shed_budget)\n",
                runtime.max_new_conns ? std::to_string(runtime.max_new_conns).c_str() : "any",
                runtime.max_mirror_bytes ? std::to_string(runtime.max_mirror_bytes).c_str() : "any");
  if (runtime.admit_paused)
    std::printf("admission PAUSED: the agent is behind; new connections are shed whole (shed_overload)\n");
  std::printf("\nrules:\n");
  for (const auto &[port, rule] : rules)
    std::printf("  port %-5u  %s%% of connections -> %s\n", port, formatPercent(rule.rate_ppm).c_str(),
                ifnameOf(static_cast<int>(rule.mirror_ifindex)).c_str());
  std::printf("\nexcluded clients:%s\n", excludes.empty() ? " none" : "");
  for (const auto &key : excludes)
    std::printf("  %s\n", formatLpmKey(key).c_str());
  std::printf("\ncounters (packets):\n");
  for (uint32_t i = 0; i < ST_C_MAX; i++)
    std::printf("  %-20s %llu\n", std::string(counterName(i)).c_str(), static_cast<unsigned long long>(counters[i]));
  if (pipeline) {
    printInterfaces(*pipeline);
    printPipeline(*pipeline, options.iface);
    printLedger(pipeline::connectionLedger(agentCounters(counters, *pipeline), *pipeline));
  }
  return 0;
}

} // namespace shadowtap
