// SPDX-License-Identifier: Apache-2.0
// Plain option structs for each subcommand, the string parsers that fill them and the pure
// validate() checks. No I/O here, so every rule is unit-tested without root.
#pragma once

#include "flow/flow_table.h"
#include "http/request_rules.h"
#include "shadowtap/shared.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace shadowtap {

enum class Mode { Tc, Xdp };

// tcp: replay the client's bytes exactly. http: frame HTTP/1.1, apply per-request rules, compare.
enum class Protocol { Tcp, Http };

struct Cidr {
  st_lpm_key key{};  // as stored in st_excludes (IPv4 mapped into ::ffff:0:0/96)
  std::string text;  // normalised, e.g. "10.1.2.0/24"
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
};

struct RunOptions {
  std::string iface;
  std::optional<std::string> ifaceFromAddress; // tap the interface holding this address
  std::vector<ServiceRule> services;
  std::optional<std::string> mirrorIface;
  Mode mode = Mode::Tc;
  std::vector<Cidr> excludes;
  std::string logLevel = "info";
  uint32_t skipMark = ST_DEFAULT_MARK;
  uint32_t snaplen = ST_DEFAULT_SNAPLEN;
  std::optional<std::string> pcapPath; // XDP mode: write the ring's frames to this pcap file
  size_t replayBacklogBytes = 256u << 20; // --replay-buffer-mb: bytes waiting for shadows, in total
  flow::FlowLimits flowLimits;
  std::optional<std::string> configPath; // --config: reloaded on SIGHUP
  std::string metricsAddr = "127.0.0.1:9477"; // /metrics and /healthz; "off" disables
  bool replaceStale = false; // a tap left by an agent that no longer runs is removed, not refused

  bool replays() const; // some service has a shadow target
};

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
  std::string iface;
  bool json = false;
};

struct DetachOptions {
  std::string iface;
};

// Parsers: throw UsageError with a message naming the flag and the bad value.
std::vector<uint16_t> parsePortList(const std::string &text);
uint16_t parsePort(const std::string &text);
uint32_t parsePercent(const std::string &text); // -> parts per million, accepts decimals
Cidr parseCidr(const std::string &text);
Mode parseMode(const std::string &text);
Protocol parseProtocol(const std::string &text); // "tcp" | "http"
const char *protocolName(Protocol protocol);
uint32_t parseMark(const std::string &text); // decimal or 0x hex, non-zero

// Checks that need no system access. Throw UsageError.
void validateIfaceName(const std::string &name, const char *flag);
void validate(const RunOptions &options);
void validate(const SetOptions &options);

std::string formatPercent(uint32_t ratePpm); // 300000 -> "30", 100 -> "0.01"
std::string formatLpmKey(const st_lpm_key &key);

} // namespace shadowtap
