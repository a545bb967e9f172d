// SPDX-License-Identifier: Apache-2.0
// What a tap runs with: interface, services (rate, shadow targets, protocol, HTTP rules), mode,
// exclusions and limits. Plain structs filled by the config file (config_file.h) and the run
// flags (cli/run_flags.h); checked by validation.h; read by the data path (tap/, bpf/, replay/...).
#pragma once

#include "flow/flow_table.h"
#include "http/request_rules.h"
#include "shadowtap/shared.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shadowtap {

enum class Mode { Tc, Xdp };

// Which side of a packet the service port is on (st_runtime ST_RT_PORTS_EITHER_SIDE). hook: requests
// arrive, responses leave (a server's NIC). ports: either side on either hook (the host side of a
// pod's veth, where requests to the pod leave by egress). auto: ports on a veth, hook otherwise.
enum class Direction { Auto, Hook, Ports };

// tcp: replay the client's bytes exactly. http: frame HTTP/1.1, apply per-request rules, compare.
enum class Protocol { Tcp, Http };

struct Cidr {
  st_lpm_key key{};  // as stored in st_excludes (IPv4 mapped into ::ffff:0:0/96)
  std::string text;  // normalised, e.g. "10.1.2.0/24"
};

// HTTP services: compare the shadows' response bodies with the primary's (compare/body_diff.h).
struct BodyCompareOptions {
  bool body = false;                   // --compare-body, http.compare.body
  std::vector<std::string> ignore;     // --ignore-json-path, http.compare.ignore: noise paths by hand
  std::optional<std::string> baseline; // --baseline, http.compare.baseline: HOST:PORT of a second
                                       // copy of the primary's version; where it differs is noise
};

// One service port: its sampling rate and where its connections are replayed.
struct ServiceRule {
  std::string name;                 // for humans (config file); empty from the command line
  uint16_t port = 0;
  uint32_t ratePpm = ST_RATE_SCALE; // default 100%, like mirrorPercentage
  std::vector<std::string> shadows; // HOST:PORT, parsed by replay::parseShadowTarget
  unsigned copies = 1;              // each shadow gets each connection N times
  Protocol protocol = Protocol::Tcp;
  http::HttpRules http;             // used when protocol is Http
  BodyCompareOptions compare;       // used when protocol is Http
};

// --mirror-vxlan HOST[:PORT] --vni N: clones leave VXLAN-encapsulated toward a collector (`shadowtap
// collect`, or anything that takes AWS VPC Traffic Mirroring's format) instead of being replayed here.
struct VxlanEndpoint {
  std::string address; // IPv4 or IPv6, as given
  uint16_t port = 4789; // IANA's VXLAN port
};
inline constexpr uint32_t kDefaultVni = 1;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

struct RunOptions {
  std::string iface; // the first --iface: a name, or a glob pattern ('cali*')
  std::vector<std::string> moreIfaces; // the other --iface (interfaces: in the file)
  std::optional<std::string> ifaceFromAddress; // tap the interface holding this address
  std::vector<ServiceRule> services;
  std::optional<std::string> mirrorIface;
  std::optional<VxlanEndpoint> mirrorVxlan; // clones leave as VXLAN toward a collector
  uint32_t vni = kDefaultVni;
  Mode mode = Mode::Tc;
  Direction direction = Direction::Auto;
  std::vector<Cidr> excludes;
  std::string logLevel = "info";
  uint32_t skipMark = ST_DEFAULT_MARK;
  // Budgets enforced in the BPF programs at connection granularity (st_runtime): new connections
  // admitted per second, and bytes mirrored per second past which no new one is. 0: none.
  uint32_t maxNewConns = 0;
  uint64_t maxMirrorBytes = 0;
  uint32_t snaplen = ST_DEFAULT_SNAPLEN;
  std::optional<std::string> pcapPath; // XDP mode: write the ring's frames to this pcap file
  size_t replayBacklogBytes = 256u << 20; // --replay-buffer-mb: bytes waiting for shadows, in total
  size_t maxReplayConns = 0;              // --max-replay-conns: per target at once; 0: the fd limit
  // --replay-queue: replays per target that may wait for a place under that limit instead of being
  // shed (the agent's, split across workers); 0: none, shed at once (replay/replay_options.h).
  size_t replayQueue = kDefaultReplayQueue;
  static constexpr size_t kDefaultReplayQueue = 65536, kMaxReplayQueue = 1'000'000;
  std::vector<std::string> replaySources; // --replay-source: addresses replays leave from, in turn
  flow::FlowLimits flowLimits;
  std::optional<std::string> configPath; // --config: reloaded on SIGHUP
  std::string metricsAddr = "127.0.0.1:9477"; // /metrics and /healthz; "off" disables
  bool replaceStale = false; // a tap left by an agent that no longer runs is removed, not refused
  unsigned workers = 0;      // --workers: packet-path threads, each owning a shard of the flows; 0: auto
  // --capture-buffer-mb: each worker's capture buffer (tc: its TPACKET_V3 ring; xdp: the BPF ring
  // buffer), MiB; unset: the mode's default. Its size is how long a burst or a stall the worker
  // rides out before admission pauses and connections are shed: 64 MiB is ~100 ms of a 5 Gbit/s
  // upload. At most 1024: the ring is allocated and touched at start, where a SIGTERM waits for
  // it (docs/architecture.md, "Capture ring sizing").
  std::optional<uint32_t> captureBufferMb;
  static constexpr uint32_t kDefaultCaptureBufferMbTc = 64, kMaxCaptureBufferMbTc = 1024, kMinCaptureBufferMbTc = 8;
  static constexpr uint32_t kDefaultCaptureBufferMbXdp = ST_RING_BYTES >> 20, kMaxCaptureBufferMbXdp = 1024;
  uint64_t captureBufferBytes() const {
    uint32_t mb = captureBufferMb.value_or(mode == Mode::Xdp ? kDefaultCaptureBufferMbXdp : kDefaultCaptureBufferMbTc);
    return uint64_t{mb} << 20;
  }
  // --record DIR: every mirrored connection's reassembled client stream written down
  // (record/record_format.h), with or without shadows; at most recordMaxBytes on disk in total.
  std::optional<std::string> recordDir;
  uint64_t recordMaxBytes = 1ull << 30;

  static constexpr uint64_t kRecordFileBytes = 64ull << 20; // files rotate at this size (or less, see recordFileBytes)
  // Each file holds at most this: 64 MiB, or an eighth of the budget if that is smaller.
  uint64_t recordFileBytes() const { return std::max<uint64_t>(4096, std::min(kRecordFileBytes, recordMaxBytes / 8)); }

  std::vector<std::string> interfacePatterns() const {
    std::vector<std::string> all{iface};
    all.insert(all.end(), moreIfaces.begin(), moreIfaces.end());
    return all;
  }

  bool replays() const { // some service has a shadow target
    for (const auto &service : services)
      if (!service.shadows.empty())
        return true;
    return false;
  }
};

} // namespace shadowtap
