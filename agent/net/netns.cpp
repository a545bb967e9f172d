// SPDX-License-Identifier: Apache-2.0
#include "net/netns.h"

#include "common/error.h"
#include "common/unique_fd.h"

#include <cerrno>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

namespace shadowtap {

namespace {
std::string label; // set once, by enterNetns, before anything is keyed
} // namespace

void enterNetns(const std::string &nameOrPath) {
  bool named = nameOrPath.find('/') == std::string::npos;
  if (nameOrPath.empty() || nameOrPath == "." || nameOrPath == "..")
    throw UsageError("invalid --netns '" + nameOrPath + "': a name from `ip netns list` or a path");
  std::string path = named ? "/run/netns/" + nameOrPath : nameOrPath;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid())
    throwErrno("cannot open network namespace " + path + " (--netns)", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throwErrno("cannot stat network namespace " + path, errno);
  if (::setns(fd.get(), CLONE_NEWNET) != 0)
    throwErrno("cannot enter network namespace " + path + " (--netns; needs CAP_SYS_ADMIN, and a network namespace)",
               errno);
  label = named ? nameOrPath : "ns" + std::to_string(st.st_ino);
}

std::string tapKey(const std::string &iface) { return label.empty() ? iface : iface + "@" + label; }

} // namespace shadowtap
