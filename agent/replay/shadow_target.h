// SPDX-License-Identifier: Apache-2.0
// A shadow service to replay connections to: "HOST:PORT" with an IPv4 address, "[IPv6]:PORT" or
// a DNS name. Resolved once at start-up, so a typo fails before anything is attached.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace shadowtap::replay {

struct ShadowTarget {
  std::string host;
  uint16_t port = 0;
  std::string name; // as the user wrote it, normalised: "host:port" / "[v6]:port"
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
};

// Parses "HOST:PORT" (throws UsageError); does not resolve.
ShadowTarget parseShadowTarget(const std::string &text);
// Resolves every target's host; throws Error naming the target that does not resolve.
void resolveTargets(std::vector<ShadowTarget> &targets);

} // namespace shadowtap::replay
