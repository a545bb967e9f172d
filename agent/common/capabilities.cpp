// SPDX-License-Identifier: Apache-2.0
#include "common/capabilities.h"

#include <cap-ng.h>
#include <linux/capability.h>
#include <spdlog/spdlog.h>

#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace shadowtap {

void dropUnneededCapabilities(bool keepSysAdmin) {
  const int kKeep[] = {CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, keepSysAdmin ? CAP_SYS_ADMIN : CAP_NET_ADMIN};
  if (capng_get_caps_process() != 0) {
    spdlog::warn("could not read the process capabilities; keeping them");
    return;
  }
  bool held[sizeof(kKeep) / sizeof(kKeep[0])];
  for (size_t i = 0; i < std::size(kKeep); i++)
    held[i] = capng_have_capability(CAPNG_EFFECTIVE, static_cast<unsigned>(kKeep[i]));
  capng_clear(CAPNG_SELECT_BOTH);
  for (size_t i = 0; i < std::size(kKeep); i++)
    if (held[i])
      capng_update(CAPNG_ADD, static_cast<capng_type_t>(CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET),
                   static_cast<unsigned>(kKeep[i]));
  if (capng_apply(CAPNG_SELECT_BOTH) != 0) {
    spdlog::warn("could not drop capabilities; running with the ones it was given");
    return;
  }
  spdlog::debug("dropped every capability but net_admin, net_raw, bpf{}", keepSysAdmin ? " and sys_admin" : "");
}

} // namespace shadowtap
