// SPDX-License-Identifier: Apache-2.0
// The agent's local HTTP endpoint (--metrics-addr, default 127.0.0.1:9477): /healthz for
// liveness/readiness probes, /metrics in the Prometheus text format, and the JSON documents
// `shadowtap status` and `shadowtap report` read (/status.json, /report.json). Deliberately tiny:
// GET only, one short request per connection, bounded in size and time, on the agent's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <string>

namespace shadowtap {

class MetricsServer {
public:
  struct Document {
    std::string contentType;
    std::function<std::string()> render; // built on demand, per request
  };
  using Documents = std::map<std::string, Document>; // path -> document; /healthz is built in

  // Throws Error if the address cannot be bound. /healthz answers 503 until `ready` returns true
  // (no callback: always ready), so a readiness probe never trusts an agent still starting.
  MetricsServer(boost::asio::io_context &io, const std::string &address, Documents documents,
                std::function<bool()> ready = {});
  // Just /metrics (Prometheus text) built by `render`.
  MetricsServer(boost::asio::io_context &io, const std::string &address, std::function<std::string()> render);
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

private:
  void accept();
  boost::asio::io_context &io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Documents documents_;
  std::function<bool()> ready_;
};

inline constexpr const char *kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// "HOST:PORT" / "[V6]:PORT" -> endpoint; throws UsageError.
boost::asio::ip::tcp::endpoint parseListenAddress(const std::string &text);

} // namespace shadowtap
