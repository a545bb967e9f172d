// SPDX-License-Identifier: Apache-2.0
#include "bpf/tc_attachment.h"

#include "common/error.h"
#include "shadowtap/shared.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <spdlog/spdlog.h>

namespace shadowtap {
namespace {

bpf_tc_attach_point attachPoint(TcDirection direction) {
  return direction == TcDirection::Ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

const char *name(TcDirection direction) { return direction == TcDirection::Ingress ? "ingress" : "egress"; }

} // namespace

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

void destroyClsact(int ifindex) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                      .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_destroy(&hook);
  if (err && err != -ENOENT && err != -EINVAL)
    spdlog::warn("failed to remove clsact qdisc from ifindex {}: {}", ifindex, strerror(-err));
}

TcFilter::TcFilter(int ifindex, const std::string &iface, TcDirection direction, int progFd)
    : ifindex_(ifindex), direction_(direction) {
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

TcFilter::~TcFilter() { removeTcFilter(ifindex_, direction_); }

bool tcFilterPresent(int ifindex, TcDirection direction) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = attachPoint(direction));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ST_TC_HANDLE, .priority = ST_TC_PRIORITY);
  return bpf_tc_query(&hook, &opts) == 0;
}

bool removeTcFilter(int ifindex, TcDirection direction) {
  DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = attachPoint(direction));
  DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = ST_TC_HANDLE, .priority = ST_TC_PRIORITY);
  int err = bpf_tc_detach(&hook, &opts);
  if (err && err != -ENOENT && err != -EINVAL) {
    spdlog::warn("failed to detach tc {} filter from ifindex {}: {}", name(direction), ifindex, strerror(-err));
    return false;
  }
  return err == 0;
}

} // namespace shadowtap
