// SPDX-License-Identifier: Apache-2.0
#include "pipeline/stats_file.h"

#include "net/netns.h"

#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

namespace shadowtap {

std::string statsFilePath(const std::string &iface) { return std::string(kRunDir) + "/" + tapKey(iface) + ".json"; }

void writeStatsFile(const std::string &path, const nlohmann::ordered_json &stats) {
  ::mkdir(kRunDir, 0700);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    spdlog::debug("failed to write {}: {}", tmp, strerror(errno));
    return;
  }
  std::string text = stats.dump();
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    spdlog::debug("failed to publish {}", path);
}

std::optional<nlohmann::ordered_json> readStatsFile(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  auto parsed = nlohmann::ordered_json::parse(in, nullptr, false);
  if (parsed.is_discarded())
    return std::nullopt;
  return parsed;
}

std::optional<double> statsFileAgeSeconds(const std::string &path) {
  struct stat st {};
  timespec now{};
  if (::stat(path.c_str(), &st) != 0 || ::clock_gettime(CLOCK_REALTIME, &now) != 0)
    return std::nullopt;
  double age = static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) + (now.tv_nsec - st.st_mtim.tv_nsec) / 1e9;
  return age < 0 ? 0 : age;
}

} // namespace shadowtap
