// SPDX-License-Identifier: Apache-2.0
// The agent's local HTTP endpoint (--metrics-addr, default 127.0.0.1:9477): /healthz for
// liveness/readiness probes and /metrics in the Prometheus text format. Deliberately tiny: GET
// only, one short request per connection, bounded in size and time, on the agent's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <string>

namespace shadowtap {

class MetricsServer {
public:
  // `render` builds the /metrics body on demand. Throws Error if the address cannot be bound.
  MetricsServer(boost::asio::io_context &io, const std::string &address, std::function<std::string()> render);
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
  void accept();
  boost::asio::io_context &io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::function<std::string()> render_;
};

// "HOST:PORT" / "[V6]:PORT" -> endpoint; throws UsageError.
boost::asio::ip::tcp::endpoint parseListenAddress(const std::string &text);

} // namespace shadowtap
