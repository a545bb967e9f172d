// SPDX-License-Identifier: Apache-2.0
#include "tap/preflight.h"

#include "bpf/bpffs.h"
#include "common/error.h"
#include "net/link.h"

#include <cstdlib>
#include <fstream>
#include <linux/capability.h>
#include <string>

#ifndef CAP_PERFMON // kernel headers before 5.8
#define CAP_PERFMON 38
#define CAP_BPF 39
#endif

namespace shadowtap {
namespace {

uint64_t effectiveCapabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("CapEff:", 0) == 0)
      return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

} // namespace

void requirePrivileges(const char *command) {
  uint64_t caps = effectiveCapabilities();
  auto has = [caps](int cap) { return (caps >> cap) & 1; };
  // CAP_BPF alone loads only "unprivileged-safe" programs: the verifier refuses the capture
  // program's pointer arithmetic without CAP_PERFMON too (measured on 6.18). Before 5.8 there is
  // no CAP_BPF and CAP_SYS_ADMIN covers both.
  if (has(CAP_NET_ADMIN) && (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))))
    return;
  throw Error(std::string("shadowtap ") + command +
              " needs root (or CAP_NET_ADMIN with CAP_BPF and CAP_PERFMON, or with CAP_SYS_ADMIN): permission denied");
}

void requireBtf() {
  // SHADOWTAP_BTF_PATH lets tests point the check at a missing file.
  const char *override = std::getenv("SHADOWTAP_BTF_PATH");
  std::string path = override ? override : "/sys/kernel/btf/vmlinux";
  if (!pathExists(path))
    throw Error("this kernel exposes no BTF (" + path +
                " is missing): shadowtap needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
}

int requireIfindex(const std::string &iface, const char *flag) {
  int ifindex = ifindexOf(iface);
  if (!ifindex)
    throw UsageError(std::string("unknown ") + flag + " '" + iface + "': no such interface");
  return ifindex;
}

} // namespace shadowtap
