// SPDX-License-Identifier: Apache-2.0
#include "bpf/bpffs.h"

#include "net/netns.h"

#include "common/error.h"

#include <cerrno>
#include <filesystem>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>

namespace shadowtap {
namespace {
constexpr long kBpfFsMagic = 0xcafe4a11; // BPF_FS_MAGIC from linux/magic.h
}

bool pathExists(const std::string &path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void ensureBpffs(const std::string &mountPoint) {
  struct statfs fs;
  if (::statfs(mountPoint.c_str(), &fs) == 0 && fs.f_type == kBpfFsMagic)
    return;
  std::error_code ec;
  std::filesystem::create_directories(mountPoint, ec);
  if (ec)
    throw Error("bpffs is not mounted at " + mountPoint + " and the directory cannot be created: " + ec.message());
  if (::mount("bpf", mountPoint.c_str(), "bpf", 0, "mode=0700") != 0)
    throwErrno("bpffs is not mounted at " + mountPoint + " and mounting it failed", errno);
  spdlog::info("mounted bpffs at {}", mountPoint);
}

std::string pinDirFor(const std::string &bpffs, const std::string &iface) {
  return bpffs + "/shadowtap/" + tapKey(iface); // iface@netns inside a --netns
}

void createPinDir(const std::string &dir) {
  auto parent = std::filesystem::path(dir).parent_path().string();
  for (const auto &path : {parent, dir}) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
      throwErrno("failed to create pin directory " + path, errno);
    ::chmod(path.c_str(), 0700); // pinned maps hold live rules: root only
  }
}

void removePinDir(const std::string &dir) {
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator(dir, ec))
    std::filesystem::remove(entry.path(), ec);
  std::filesystem::remove(dir, ec);
  if (ec)
    spdlog::warn("failed to remove pin directory {}: {}", dir, ec.message());
}

} // namespace shadowtap
