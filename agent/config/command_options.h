// SPDX-License-Identifier: Apache-2.0
// What the commands that work on an existing tap are asked to do: set, status, report, detach.
// Plain structs filled by their flags (cli/); set's are checked by validation.h.
#pragma once

#include "config/run_options.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shadowtap {

struct SetOptions {
  std::string iface;
  std::optional<uint16_t> port;
  std::optional<uint32_t> ratePpm;
  std::vector<Cidr> excludes;
  std::vector<Cidr> includes; // exclusions to lift
  std::optional<bool> enabled;
};

struct StatusOptions {
  std::string iface;
  bool json = false;
};

struct ReportOptions {
  std::string iface;      // the local agent's report (empty with --prometheus)
  std::string prometheus; // or: aggregated over every agent by the Prometheus at this URL
  std::string window;     // with prometheus: "" (totals) or a Prometheus duration
  bool json = false;
};

// `shadowtap replay`: an offline input (a capture or a recording) replayed to shadow targets.
struct ReplayCommandOptions {
  std::string from;                   // a pcap/pcapng file, or a recording (directory or file)
  std::vector<ServiceRule> services;  // --port (the server side), --shadow, --copies, --protocol...
  double speed = 1;                   // the input's timing scaled by this; 0: as fast as possible
  std::string logLevel = "info";
  bool json = false;                  // the summary as JSON on stdout
  size_t maxReplayConns = 0;
  std::vector<std::string> replaySources;
  size_t replayBacklogBytes = 256u << 20;
};

struct DetachOptions {
  std::string iface;
};

} // namespace shadowtap
