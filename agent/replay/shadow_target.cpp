// SPDX-License-Identifier: Apache-2.0
#include "replay/shadow_target.h"

#include "config/value_parsers.h"
#include "common/error.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace shadowtap::replay {

ShadowTarget parseShadowTarget(const std::string &text) {
  ShadowTarget target;
  std::string portText;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw UsageError("invalid --shadow '" + text + "': expected [IPV6]:PORT");
    target.host = text.substr(1, close - 1);
    portText = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || text.find(':') != colon)
      throw UsageError("invalid --shadow '" + text + "': expected HOST:PORT (IPv6 as [ADDR]:PORT)");
    target.host = text.substr(0, colon);
    portText = text.substr(colon + 1);
  }
  if (target.host.empty())
    throw UsageError("invalid --shadow '" + text + "': empty host");
  try {
    target.port = parsePort(portText);
  } catch (const UsageError &) {
    throw UsageError("invalid --shadow '" + text + "': port must be 1-65535");
  }
  bool v6 = target.host.find(':') != std::string::npos;
  target.name = (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
  return target;
}

void resolveTargets(std::vector<ShadowTarget> &targets) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::resolver resolver(io);
  for (auto &target : targets) {
    boost::system::error_code ec;
    auto results = resolver.resolve(target.host, std::to_string(target.port), ec);
    if (ec || results.empty())
      throw Error("failed to resolve shadow target " + target.name + ": " + ec.message());
    target.endpoints.clear();
    for (const auto &entry : results)
      target.endpoints.push_back(entry.endpoint());
  }
}

} // namespace shadowtap::replay
