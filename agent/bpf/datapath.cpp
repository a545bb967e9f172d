// SPDX-License-Identifier: Apache-2.0
#include "bpf/datapath.h"

#include "common/error.h"
#include "shadowtap.skel.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <spdlog/spdlog.h>

namespace shadowtap {

namespace {

// tc_egress_ring reads the skb's checksum state through this kfunc (Linux 6.3+).
bool kernelHasKfunc(const char *name) {
  btf *vmlinux = btf__load_vmlinux_btf();
  if (libbpf_get_error(vmlinux))
    return false;
  bool found = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) > 0;
  btf__free(vmlinux);
  return found;
}

} // namespace

void Datapath::SkeletonDeleter::operator()(shadowtap_bpf *skel) const {
  shadowtap_bpf__destroy(skel);
}

Datapath::Datapath(const Settings &settings) : pinDir_(settings.pinDir), xdp_(settings.mode == Mode::Xdp) {
  skel_.reset(shadowtap_bpf__open());
  if (!skel_)
    throwErrno("failed to open the shadowtap BPF object", errno);

  skel_->rodata->st_snaplen = settings.snaplen;
  // TC mode: tc_ingress + tc_egress clone. XDP mode: xdp_ingress + tc_egress_ring (XDP has no
  // egress hook) both copy into the ring.
  bool attachable = !settings.mapsOnly;
  bpf_program__set_autoload(skel_->progs.tc_ingress, attachable && !xdp_);
  bpf_program__set_autoload(skel_->progs.tc_egress, attachable && !xdp_);
  bpf_program__set_autoload(skel_->progs.xdp_ingress, attachable && xdp_);
  bpf_program__set_autoload(skel_->progs.tc_egress_ring, attachable && xdp_);
  bpf_program__set_autoload(skel_->progs.fanout_flow, !xdp_);
  bpf_program__set_autoload(skel_->progs.capture_snap, !xdp_);
  if (attachable && xdp_ && !kernelHasKfunc("bpf_cast_to_kern_ctx"))
    throw Error("--mode xdp needs Linux 6.3 or later (the kfunc bpf_cast_to_kern_ctx, which gives the egress copies "
                "the kernel's checksum state); use --mode tc on this kernel");
  // Only XDP mode reads the ring: a 1-page ring keeps the map valid and small. (Maps shared with
  // another datapath take the owner's size below.)
  bpf_map__set_max_entries(skel_->maps.st_ring, xdp_ ? static_cast<uint32_t>(settings.ringBytes) : 4096);

  if (const Datapath *owner = settings.shareMapsWith) {
    std::pair<bpf_map *, bpf_map *> shared[] = {{skel_->maps.st_rules, owner->skel_->maps.st_rules},
                                                {skel_->maps.st_excludes, owner->skel_->maps.st_excludes},
                                                {skel_->maps.st_flows, owner->skel_->maps.st_flows},
                                                {skel_->maps.st_ring, owner->skel_->maps.st_ring}};
    for (auto [mine, theirs] : shared)
      if (int err = bpf_map__reuse_fd(mine, bpf_map__fd(theirs)))
        throwErrno(std::string("failed to share map ") + bpf_map__name(mine), err);
  }

  if (!pinDir_.empty()) {
    bpf_map *maps[] = {skel_->maps.st_rules, skel_->maps.st_excludes, skel_->maps.st_runtime, skel_->maps.st_counters,
                       skel_->maps.st_state, skel_->maps.st_flows,    skel_->maps.st_ring};
    for (bpf_map *map : maps) {
      std::string path = pinDir_ + "/" + bpf_map__name(map);
      if (int err = bpf_map__set_pin_path(map, path.c_str()))
        throwErrno("failed to set pin path " + path, err);
    }
  }
}

Datapath::~Datapath() {
  if (loaded_ && !pinDir_.empty() && skel_)
    bpf_object__unpin_maps(skel_->obj, nullptr);
}

void Datapath::load() {
  if (int err = shadowtap_bpf__load(skel_.get())) {
    if (err == -EPERM || err == -EACCES)
      throwErrno(
          "failed to load the BPF programs (needs root or CAP_BPF + CAP_NET_ADMIN; run with -v for the verifier log)",
          err);
    throwErrno("failed to load the BPF programs (run with --log-level debug for the verifier log)", err);
  }
  loaded_ = true;
}

bpf_object *Datapath::object() const {
  return skel_->obj;
}
int Datapath::tcIngressFd() const {
  return bpf_program__fd(skel_->progs.tc_ingress);
}
int Datapath::tcEgressFd() const {
  return bpf_program__fd(xdp_ ? skel_->progs.tc_egress_ring : skel_->progs.tc_egress);
}
int Datapath::xdpIngressFd() const {
  return bpf_program__fd(skel_->progs.xdp_ingress);
}
int Datapath::fanoutFd() const {
  return bpf_program__fd(skel_->progs.fanout_flow);
}
int Datapath::captureSnapFd() const {
  return bpf_program__fd(skel_->progs.capture_snap);
}

int Datapath::ringGuardFd() const {
  return bpf_map__fd(skel_->maps.st_ring_guards);
}

int Datapath::ringFd() const {
  return bpf_map__fd(skel_->maps.st_ring);
}

MapFds Datapath::mapFds() const {
  MapFds fds;
  fds.rules = bpf_map__fd(skel_->maps.st_rules);
  fds.excludes = bpf_map__fd(skel_->maps.st_excludes);
  fds.runtime = bpf_map__fd(skel_->maps.st_runtime);
  fds.counters = bpf_map__fd(skel_->maps.st_counters);
  fds.state = bpf_map__fd(skel_->maps.st_state);
  fds.flows = bpf_map__fd(skel_->maps.st_flows);
  return fds;
}

} // namespace shadowtap
