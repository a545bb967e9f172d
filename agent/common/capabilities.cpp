// SPDX-License-Identifier: Apache-2.0
#include "common/capabilities.h"

#include <cap-ng.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <linux/capability.h>
#include <spdlog/spdlog.h>
#include <string>
#include <sys/prctl.h>

#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif

namespace shadowtap {
namespace {

int lastCap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  in >> last;
  return last;
}

} // namespace

void dropUnneededCapabilities(bool keepSysAdmin, bool keepPerfmon) {
  const int kKeep[] = {CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, keepSysAdmin ? CAP_SYS_ADMIN : CAP_NET_ADMIN,
                       keepPerfmon ? CAP_PERFMON : CAP_NET_ADMIN};
  if (capng_get_caps_process() != 0) {
    spdlog::warn("could not read the process capabilities; keeping them");
    return;
  }
  bool held[std::size(kKeep)];
  std::string kept;
  for (size_t i = 0; i < std::size(kKeep); i++) {
    held[i] = capng_have_capability(CAPNG_EFFECTIVE, static_cast<unsigned>(kKeep[i]));
    if (held[i] && (i + 1 < std::size(kKeep) || keepSysAdmin)) {
      const char *name = capng_capability_to_name(static_cast<unsigned>(kKeep[i]));
      kept += (kept.empty() ? "" : ", ") + std::string(name ? name : "?");
    }
  }

  // Bounding set first, while CAP_SETPCAP (if held at all) is still effective.
  std::string bounding = "left as given (no CAP_SETPCAP to shrink it)";
  if (capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP)) {
    int failed = 0;
    for (int cap = 0; cap <= lastCap(); cap++) {
      bool keep = false;
      for (size_t i = 0; i < std::size(kKeep); i++)
        keep = keep || (held[i] && kKeep[i] == cap);
      if (!keep && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
        failed = errno;
    }
    bounding = failed ? std::string("partly reduced: ") + std::strerror(failed) : "reduced to the same";
  }
  // No execve can gain privileges from here on (cap_bprm_creds_from_file caps an exec's permitted
  // set at the current one), so an unshrinkable bounding set gives nothing back.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    spdlog::warn("could not set no_new_privs: {}", std::strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    spdlog::warn("could not clear the ambient capabilities: {}", std::strerror(errno));

  // Then effective, permitted and inheritable (CAP_SETPCAP goes with the rest).
  capng_clear(CAPNG_SELECT_CAPS);
  for (size_t i = 0; i < std::size(kKeep); i++)
    if (held[i])
      capng_update(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED),
                   static_cast<unsigned>(kKeep[i]));
  if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
    spdlog::warn("could not drop capabilities; running with the ones it was given");
    return;
  }
  spdlog::info("capabilities: effective and permitted now only {}; bounding set {}; no_new_privs set",
               kept.empty() ? "none" : kept, bounding);
}

} // namespace shadowtap
