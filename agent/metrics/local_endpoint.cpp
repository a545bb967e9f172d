// SPDX-License-Identifier: Apache-2.0
#include "metrics/local_endpoint.h"

#include "common/error.h"
#include "metrics/metrics_server.h"
#include "pipeline/stats_file.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace shadowtap {

namespace asio = boost::asio;
using asio::ip::tcp;

std::string endpointFilePath(const std::string &iface) { return std::string(kRunDir) + "/" + iface + ".endpoint"; }

void writeEndpointFile(const std::string &iface, const std::string &host, unsigned short port) {
  std::string reachable = host;
  if (host == "0.0.0.0")
    reachable = "127.0.0.1";
  else if (host == "::")
    reachable = "::1";
  bool v6 = reachable.find(':') != std::string::npos;
  std::string text = (v6 ? "[" + reachable + "]" : reachable) + ":" + std::to_string(port) + "\n";
  ::mkdir(kRunDir, 0700);
  std::string path = endpointFilePath(iface), tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    throwErrno("failed to write " + tmp, errno);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    throwErrno("failed to publish " + path, errno);
}

void removeEndpointFile(const std::string &iface) { ::unlink(endpointFilePath(iface).c_str()); }

std::optional<std::string> readEndpointFile(const std::string &iface) {
  std::ifstream in(endpointFilePath(iface));
  std::string address;
  if (!in || !std::getline(in, address) || address.empty())
    return std::nullopt;
  return address;
}

std::string fetchDocument(const std::string &address, const std::string &path, int timeoutMs) {
  auto endpoint = parseListenAddress(address);
  asio::io_context io;
  tcp::socket socket(io);
  std::string request = "GET " + path + " HTTP/1.0\r\nHost: shadowtap\r\n\r\n", response;
  boost::system::error_code result = asio::error::timed_out;
  socket.async_connect(endpoint, [&](const boost::system::error_code &ec) {
    if (ec) {
      result = ec;
      return;
    }
    asio::async_write(socket, asio::buffer(request), [&](const boost::system::error_code &wec, size_t) {
      if (wec) {
        result = wec;
        return;
      }
      asio::async_read(socket, asio::dynamic_buffer(response, 64u << 20),
                       [&](const boost::system::error_code &rec, size_t) { result = rec; });
    });
  });
  io.run_for(std::chrono::milliseconds(timeoutMs));
  if (result != asio::error::eof)
    throw Error("cannot read " + path + " from the agent's endpoint " + address + ": " + result.message() +
                " (is the agent running, with --metrics-addr on?)");
  auto headerEnd = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || headerEnd == std::string::npos)
    throw Error("the agent's endpoint " + address + " answered " + path + " with: " +
                response.substr(0, response.find("\r\n")));
  return response.substr(headerEnd + 4);
}

} // namespace shadowtap
