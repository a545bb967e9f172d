// SPDX-License-Identifier: Apache-2.0
#include "metrics/local_endpoint.h"

#include "net/netns.h"

#include "common/error.h"
#include "metrics/http_get.h"
#include "metrics/metrics_server.h"
#include "pipeline/stats_file.h"

#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

namespace shadowtap {

std::string endpointFilePath(const std::string &iface) {
  return std::string(kRunDir) + "/" + tapKey(iface) + ".endpoint";
}

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
  HttpResponse response;
  try {
    response = httpGet(endpoint.address().to_string(), std::to_string(endpoint.port()), path, timeoutMs);
  } catch (const HttpGetError &e) {
    throw Error("cannot read " + path + " from the agent's endpoint " + address + ": " + e.what() +
                " (is the agent running, with --metrics-addr on?)");
  }
  if (response.status != 200)
    throw Error("the agent's endpoint " + address + " answered " + path + " with: " + response.statusLine);
  return response.body;
}

} // namespace shadowtap
