// SPDX-License-Identifier: Apache-2.0
#include "bpf/tc_attachment.h"

#include "common/error.h"
#include "shadowtap/shared.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <linux/bpf.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace shadowtap {
namespace {

// Debian 12's uapi headers (6.1) predate tcx: the values below are the kernel's (checked against
// /sys/kernel/btf/vmlinux on 6.18: enum bpf_attach_type, BPF_F_* in include/uapi/linux/bpf.h).
constexpr uint32_t kBpfTcxIngress = 46;
constexpr uint32_t kBpfTcxEgress = 47;
constexpr uint32_t kBpfFBefore = 1u << 3;

// union bpf_attr's BPF_LINK_CREATE member for tcx (kernel 6.6+ layout).
struct TcxLinkCreateAttr {
  uint32_t progFd;
  uint32_t targetIfindex;
  uint32_t attachType;
  uint32_t flags;
  uint32_t relativeFdOrId; // 0 with BPF_F_BEFORE: the head of the chain
  uint32_t pad;
  uint64_t expectedRevision; // 0: no check
};
static_assert(offsetof(TcxLinkCreateAttr, relativeFdOrId) == 16 && offsetof(TcxLinkCreateAttr, expectedRevision) == 24);

// union bpf_attr's BPF_PROG_QUERY member (kernel 6.6+ layout, with link ids and revision).
struct TcxQueryAttr {
  uint32_t targetIfindex;
  uint32_t attachType;
  uint32_t queryFlags;
  uint32_t attachFlags;
  uint64_t progIds;
  uint32_t count;
  uint32_t pad;
  uint64_t progAttachFlags;
  uint64_t linkIds;
  uint64_t linkAttachFlags;
  uint64_t revision;
};
static_assert(offsetof(TcxQueryAttr, progIds) == 16 && offsetof(TcxQueryAttr, count) == 24 &&
              offsetof(TcxQueryAttr, linkIds) == 40 && sizeof(TcxQueryAttr) == 64);

long bpfSyscall(int cmd, void *attr, unsigned size) {
  return syscall(__NR_bpf, cmd, attr, size);
}

uint32_t tcxAttachType(TcDirection direction) {
  return direction == TcDirection::Ingress ? kBpfTcxIngress : kBpfTcxEgress;
}

bpf_tc_attach_point attachPoint(TcDirection direction) {
  return direction == TcDirection::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

const char *name(TcDirection direction) {
  return direction == TcDirection::Ingress ? "ingress" : "egress";
}

struct TcxEntry {
  uint32_t progId;
  uint32_t linkId; // 0: attached without a link
};

// The hook's tcx chain in run order. Returns -errno (EINVAL: the kernel has no tcx).
int queryTcx(int ifindex, TcDirection direction, std::vector<TcxEntry> &out) {
  out.clear();
  for (uint32_t capacity = 16;; capacity *= 4) {
    std::vector<uint32_t> progs(capacity), links(capacity);
    TcxQueryAttr attr{};
    attr.targetIfindex = static_cast<uint32_t>(ifindex);
    attr.attachType = tcxAttachType(direction);
    attr.progIds = reinterpret_cast<uintptr_t>(progs.data());
    attr.linkIds = reinterpret_cast<uintptr_t>(links.data());
    attr.count = capacity;
    if (bpfSyscall(BPF_PROG_QUERY, &attr, sizeof(attr)) != 0) {
      if (errno == ENOSPC && capacity < 4096)
        continue;
      return -errno;
    }
    for (uint32_t i = 0; i < attr.count && i < capacity; i++)
      out.push_back({progs[i], links[i]});
    return 0;
  }
}

// A shadowtap tc program: one of our names, using maps named st_rules and st_runtime. Needs
// CAP_SYS_ADMIN (program and map lookups by id); without it, nothing counts as ours.
bool isShadowtapProgram(uint32_t progId) {
  UniqueFd prog(bpf_prog_get_fd_by_id(progId));
  if (!prog.valid()) {
    spdlog::debug("cannot inspect tcx program id {}: {}", progId, strerror(errno));
    return false;
  }
  uint32_t mapIds[64] = {};
  bpf_prog_info info{};
  info.nr_map_ids = 64;
  info.map_ids = reinterpret_cast<uintptr_t>(mapIds);
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) != 0)
    return false;
  if (std::strcmp(info.name, ST_PROG_TC_INGRESS) != 0 && std::strcmp(info.name, ST_PROG_TC_EGRESS) != 0 &&
      std::strcmp(info.name, ST_PROG_TC_EGRESS_RING) != 0)
    return false;
  bool rules = false, runtime = false;
  for (uint32_t i = 0; i < info.nr_map_ids && i < 64; i++) {
    UniqueFd map(bpf_map_get_fd_by_id(mapIds[i]));
    bpf_map_info mapInfo{};
    uint32_t mapLen = sizeof(mapInfo);
    if (!map.valid() || bpf_obj_get_info_by_fd(map.get(), &mapInfo, &mapLen) != 0)
      continue;
    rules = rules || std::strcmp(mapInfo.name, ST_MAP_RULES) == 0;
    runtime = runtime || std::strcmp(mapInfo.name, ST_MAP_RUNTIME) == 0;
  }
  return rules && runtime;
}

} // namespace

const char *attachModeName(TcAttachMode mode) {
  return mode == TcAttachMode::Tcx ? "tcx" : "clsact";
}

TcAttachMode chooseTcAttachMode(int ifindex, const std::string &iface) {
  const char *forced = std::getenv("SHADOWTAP_TC_ATTACH");
  std::string want = forced ? forced : "";
  if (want == "clsact")
    return TcAttachMode::Clsact;
  if (!want.empty() && want != "tcx")
    throw UsageError("invalid SHADOWTAP_TC_ATTACH '" + want + "': expected tcx or clsact");
  std::vector<TcxEntry> chain;
  int err = queryTcx(ifindex, TcDirection::Ingress, chain);
  if (err == 0)
    return TcAttachMode::Tcx;
  // A kernel without tcx does not know the attach type: EINVAL (some report EOPNOTSUPP).
  if ((err == -EINVAL || err == -EOPNOTSUPP || err == -524 /* ENOTSUPP */) && want.empty()) {
    spdlog::info("tcx is not available on this kernel ({}): attaching through clsact + cls_bpf on {}", strerror(-err),
                 iface);
    return TcAttachMode::Clsact;
  }
  throwErrno("failed to query the tcx programs of " + iface, err);
}

ClsactQdisc::ClsactQdisc(int ifindex, const std::string &iface) : ifindex_(ifindex) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  int err = bpf_tc_hook_create(&hook);
  if (err == 0) {
    created_ = true;
  } else if (err != -EEXIST) {
    throwErrno("failed to create clsact qdisc on " + iface, err);
  }
  spdlog::debug("clsact on {}: {}", iface, created_ ? "created" : "already present, kept");
}

ClsactQdisc::~ClsactQdisc() {
  if (created_)
    destroyClsact(ifindex_);
}

bool destroyClsact(int ifindex) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                      .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  // EBUSY is transient: right after an agent was killed (--replace-stale, `detach`) the kernel may
  // still be releasing what that process held on the qdisc. Measured in cleanup_test: one EBUSY,
  // and the qdisc left behind for good without this retry.
  int err = 0;
  for (int attempt = 0; attempt < 50; attempt++) {
    err = bpf_tc_hook_destroy(&hook);
    if (err != -EBUSY)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (err == 0 || err == -ENOENT || err == -EINVAL || err == -ENODEV) // ENODEV: it went with its interface
    return err == 0;
  spdlog::warn("failed to remove clsact qdisc from ifindex {}: {}", ifindex, strerror(-err));
  return false;
}

TcProgram::TcProgram(TcAttachMode mode, int ifindex, const std::string &iface, TcDirection direction, int progFd)
    : mode_(mode), ifindex_(ifindex), direction_(direction) {
  if (mode_ == TcAttachMode::Tcx) {
    TcxLinkCreateAttr attr{};
    attr.progFd = static_cast<uint32_t>(progFd);
    attr.targetIfindex = static_cast<uint32_t>(ifindex);
    attr.attachType = tcxAttachType(direction);
    attr.flags = kBpfFBefore; // no relative program: the head of the chain
    long fd = bpfSyscall(BPF_LINK_CREATE, &attr, sizeof(attr));
    if (fd < 0)
      throwErrno(std::string("failed to attach the tcx ") + name(direction) + " program on " + iface, errno);
    link_.reset(static_cast<int>(fd));
    spdlog::debug("attached tcx {} link on {} (head of the chain)", name(direction), iface);
    return;
  }
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = attachPoint(direction));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = progFd, .handle = ST_TC_HANDLE, .priority = ST_TC_PRIORITY);
  if (int err = bpf_tc_attach(&hook, &opts)) {
    if (err == -EEXIST)
      throw Error(iface + " already has a shadowtap " + name(direction) + " filter: run `shadowtap detach --iface " +
                  iface + "` first");
    throwErrno(std::string("failed to attach tc ") + name(direction) + " program on " + iface, err);
  }
  spdlog::debug("attached tc {} filter on {}", name(direction), iface);
}

TcProgram::~TcProgram() {
  if (mode_ == TcAttachMode::Tcx) {
    // Closing the last fd of an unpinned link detaches it. Detach explicitly anyway, so a copy of
    // the fd kept somewhere (a forked child) cannot keep the program running.
    if (link_.valid() && bpf_link_detach(link_.get()) != 0 && errno != ENOLINK)
      spdlog::warn("failed to detach the tcx {} link from ifindex {}: {}", name(direction_), ifindex_, strerror(errno));
    return;
  }
  removeTcFilter(ifindex_, direction_);
}

bool tcFilterPresent(int ifindex, TcDirection direction) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = attachPoint(direction));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ST_TC_HANDLE, .priority = ST_TC_PRIORITY);
  return bpf_tc_query(&hook, &opts) == 0;
}

bool removeTcFilter(int ifindex, TcDirection direction) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = attachPoint(direction));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ST_TC_HANDLE, .priority = ST_TC_PRIORITY);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -EINVAL && err != -ENODEV) {
    spdlog::warn("failed to detach tc {} filter from ifindex {}: {}", name(direction), ifindex, strerror(-err));
    return false;
  }
  return err == 0;
}

std::vector<uint32_t> tcxChain(int ifindex, TcDirection direction) {
  std::vector<TcxEntry> chain;
  std::vector<uint32_t> ids;
  if (queryTcx(ifindex, direction, chain) == 0)
    for (const auto &entry : chain)
      ids.push_back(entry.progId);
  return ids;
}

int tcxProgramsPresent(int ifindex, TcDirection direction) {
  std::vector<TcxEntry> chain;
  int found = 0;
  if (queryTcx(ifindex, direction, chain) == 0)
    for (const auto &entry : chain)
      found += isShadowtapProgram(entry.progId);
  return found;
}

int removeTcxPrograms(int ifindex, TcDirection direction) {
  std::vector<TcxEntry> chain;
  int removed = 0;
  if (queryTcx(ifindex, direction, chain) != 0)
    return 0;
  for (const auto &entry : chain) {
    if (!entry.linkId || !isShadowtapProgram(entry.progId))
      continue;
    UniqueFd link(bpf_link_get_fd_by_id(entry.linkId));
    if (!link.valid() || bpf_link_detach(link.get()) != 0) {
      spdlog::warn("failed to detach tcx {} link {} from ifindex {}: {}", name(direction), entry.linkId, ifindex,
                   strerror(errno));
      continue;
    }
    removed++;
  }
  return removed;
}

} // namespace shadowtap
