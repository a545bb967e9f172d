// SPDX-License-Identifier: Apache-2.0
#include "metrics/metrics_server.h"

#include "config/value_parsers.h"
#include "common/error.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <memory>

namespace shadowtap {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp::endpoint parseListenAddress(const std::string &text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos)
      throw UsageError("invalid --metrics-addr '" + text + "': expected [IPV6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos)
      throw UsageError("invalid --metrics-addr '" + text + "': expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec)
    throw UsageError("invalid --metrics-addr '" + text + "': not an IP address");
  // Port 0 (any free port) is accepted: tests use it.
  return {address, port == "0" ? uint16_t{0} : parsePort(port)};
}

namespace {

class Exchange : public std::enable_shared_from_this<Exchange> {
public:
  Exchange(tcp::socket socket, const MetricsServer::Documents &documents, const std::function<bool()> &ready)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), documents_(documents), ready_(ready) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::seconds(5)); // a client that never finishes its request
    timer_.async_wait([self](const boost::system::error_code &ec) {
      if (!ec)
        self->socket_.close();
    });
    asio::async_read_until(socket_, request_, "\r\n\r\n", [self](const boost::system::error_code &ec, size_t) {
      self->timer_.cancel();
      if (!ec)
        self->respond();
    });
  }

private:
  void respond() {
    std::istream in(&request_);
    std::string method, target;
    in >> method >> target;
    int code = 200;
    std::string type = "text/plain; charset=utf-8", body;
    if (method != "GET") {
      code = 405;
      body = "only GET\n";
    } else if (target == "/healthz") {
      bool ready = !ready_ || ready_();
      code = ready ? 200 : 503;
      body = ready ? "ok\n" : "starting\n";
    } else if (auto doc = documents_.find(target); doc != documents_.end()) {
      type = doc->second.contentType;
      body = doc->second.render();
    } else {
      code = 404;
      body = "not found; try /healthz";
      for (const auto &[path, unused] : documents_)
        body += ", " + path;
      body += "\n";
    }
    const char *reason = code == 200   ? "OK"
                         : code == 404 ? "Not Found"
                         : code == 503 ? "Service Unavailable"
                                       : "Method Not Allowed";
    response_ = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
                "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(response_), [self](const boost::system::error_code &, size_t) {
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf request_{8192}; // bounded: a longer request is simply dropped
  std::string response_;
  const MetricsServer::Documents &documents_;
  const std::function<bool()> &ready_;
};

} // namespace

MetricsServer::MetricsServer(asio::io_context &io, const std::string &address, std::function<std::string()> render)
    : MetricsServer(io, address, Documents{{"/metrics", {kPrometheusContentType, std::move(render)}}}) {}

MetricsServer::MetricsServer(asio::io_context &io, const std::string &address, Documents documents,
                             std::function<bool()> ready)
    : io_(io), acceptor_(io), documents_(std::move(documents)), ready_(std::move(ready)) {
  auto endpoint = parseListenAddress(address);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    acceptor_.bind(endpoint, ec);
  if (!ec)
    acceptor_.listen(64, ec);
  if (ec)
    throw Error("failed to listen on " + address + " for /metrics, /healthz and the status/report documents: " + ec.message() +
                " (choose another --metrics-addr, or --metrics-addr off)");
  accept();
}

void MetricsServer::accept() {
  acceptor_.async_accept([this](const boost::system::error_code &ec, tcp::socket socket) {
    if (ec)
      return;
    std::make_shared<Exchange>(std::move(socket), documents_, ready_)->start();
    accept();
  });
}

} // namespace shadowtap
