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
  unsigned loops = 1;                 // --loop: passes over the input, back to back; 0: until --duration
  uint32_t rate = 0;                  // --rate: new connections per second at most (on top of --speed); 0: none
  double durationS = 0;               // --duration: stop after this long (open replays are reset); 0: none
  std::string logLevel = "info";
  bool json = false;                  // the summary as JSON on stdout
  size_t maxReplayConns = 0;
  std::vector<std::string> replaySources;
  size_t replayBacklogBytes = 256u << 20;
};

// `shadowtap collect`: VXLAN-mirrored frames (from `run --mirror-vxlan` nodes, or AWS VPC Traffic
// Mirroring) received on a UDP socket, reassembled and replayed to shadow targets like `run`'s.
struct CollectCommandOptions {
  VxlanEndpoint listen;               // --listen ADDR[:PORT] (default port 4789)
  std::optional<uint32_t> vni;        // --vni: only this VNI (others counted other_vni); nullopt: any
  std::vector<ServiceRule> services;  // --port (the server side), --shadow, --copies, --protocol...
  std::string logLevel = "info";
  bool json = false;                  // the summary at exit as JSON on stdout
  double durationS = 0;               // --duration: stop after this long; 0: at SIGINT/SIGTERM
  size_t maxReplayConns = 0;
  std::vector<std::string> replaySources;
  size_t replayBacklogBytes = 256u << 20;
  std::optional<std::string> recordDir; // --record DIR: the client streams written down too
  uint64_t recordMaxBytes = 1ull << 30;
};

struct DetachOptions {
  std::string iface;
};

} // namespace shadowtap
