// SPDX-License-Identifier: Apache-2.0
#include "common/resource_limits.h"

#include <fstream>

#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

namespace shadowtap {

unsigned long raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
      spdlog::debug("open file limit raised from {} to {}", was, limit.rlim_cur);
    else
      spdlog::warn("could not raise the open file limit from {}: {}", was, strerror(errno));
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

void warnIfFewFiles(unsigned long openFileLimit) {
  if (openFileLimit && openFileLimit < 65536)
    spdlog::warn("open file limit {}: at most that many replay connections at once (raise LimitNOFILE / "
                 "ulimit -n; running out is counted as shed_no_socket)",
                 openFileLimit);
}

size_t connectPortsPerDestination() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0, high = 0;
  if (!(range >> low >> high) || high < low)
    return 0;
  return (high - low + 1) / 2;
}

} // namespace shadowtap
