// SPDX-License-Identifier: Apache-2.0
#include "bpf/xdp_attachment.h"

#include "common/error.h"
#include "net/link.h"

#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>
extern "C" {
#include <xdp/libxdp.h>
}

namespace shadowtap {

XdpAttachment::XdpAttachment(bpf_object *object, int ifindex, const std::string &iface) : ifindex_(ifindex) {
  program_ = xdp_program__from_bpf_obj(object, "xdp.frags");
  if (long err = libxdp_get_error(program_)) {
    program_ = nullptr;
    throwErrno("failed to prepare the XDP program for " + iface, static_cast<int>(err));
  }
  // Frags-aware (multi-buffer): the program reads the whole frame with bpf_xdp_load_bytes, so it
  // may attach to an interface whose MTU exceeds a page (jumbo frames, HW-GRO/LRO). libxdp then
  // builds a frags-aware dispatcher; the kernel refuses a non-frags program on such an interface.
  if (int err = xdp_program__set_xdp_frags_support(program_, true)) {
    xdp_program__close(program_);
    program_ = nullptr;
    throwErrno("failed to mark the XDP program frags-aware for " + iface, err);
  }
  int err = xdp_program__attach(program_, ifindex, XDP_MODE_NATIVE, 0);
  mode_ = XDP_MODE_NATIVE;
  if (err) {
    spdlog::info("native XDP unavailable on {} ({}), using generic (skb) XDP", iface, strerror(-err));
    err = xdp_program__attach(program_, ifindex, XDP_MODE_SKB, 0);
    mode_ = XDP_MODE_SKB;
  }
  if (err) {
    xdp_program__close(program_);
    program_ = nullptr;
    throwErrno("failed to attach the XDP program on " + iface, err);
  }
  spdlog::debug("attached XDP program on {} in {} mode", iface, modeName());

  // libxdp silently falls back to a lone program when the kernel cannot run its dispatcher
  // (freplace needs BPF trampolines). Say so: a later XDP user on this NIC would then conflict.
  xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (mp && !libxdp_get_error(mp)) {
    multiprog_ = !xdp_multiprog__is_legacy(mp);
    xdp_multiprog__close(mp);
  }
  if (!multiprog_)
    spdlog::warn("libxdp's multi-program dispatcher is unavailable on this kernel; the XDP program runs alone on {} "
                 "(another XDP program cannot share the interface while shadowtap is attached)",
                 iface);
}

XdpAttachment::~XdpAttachment() {
  if (!program_)
    return;
  int err = xdp_program__detach(program_, ifindex_, static_cast<xdp_attach_mode>(mode_), 0);
  if (err && !ifnameOf(ifindex_).empty()) // an interface that is gone took its program with it
    spdlog::warn("failed to detach the XDP program from ifindex {}: {}", ifindex_, strerror(-err));
  xdp_program__close(program_);
}

const char *XdpAttachment::modeName() const {
  return mode_ == XDP_MODE_NATIVE ? "native" : "generic";
}

namespace {

// Runs `fn` on shadowtap's program in the interface's XDP chain, if there is one.
template <typename Fn> bool withOurProgram(int ifindex, Fn fn) {
  xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (libxdp_get_error(mp) || !mp)
    return false;
  bool found = false;
  if (xdp_multiprog__is_legacy(mp)) {
    xdp_program *main = xdp_multiprog__main_prog(mp);
    if (main && std::strcmp(xdp_program__name(main), kXdpProgramName) == 0) {
      found = true;
      fn(mp, main);
    }
  } else {
    for (xdp_program *p = xdp_multiprog__next_prog(nullptr, mp); p; p = xdp_multiprog__next_prog(p, mp)) {
      if (std::strcmp(xdp_program__name(p), kXdpProgramName) == 0) {
        found = true;
        fn(mp, p);
        break;
      }
    }
  }
  xdp_multiprog__close(mp);
  return found;
}

} // namespace

bool xdpProgramPresent(int ifindex) {
  return withOurProgram(ifindex, [](xdp_multiprog *, xdp_program *) {});
}

bool removeXdpProgram(int ifindex) {
  return withOurProgram(ifindex, [ifindex](xdp_multiprog *mp, xdp_program *prog) {
    int err = xdp_program__detach(prog, ifindex, xdp_multiprog__attach_mode(mp), 0);
    if (err)
      spdlog::warn("failed to detach the XDP program from ifindex {}: {}", ifindex, strerror(-err));
  });
}

} // namespace shadowtap
