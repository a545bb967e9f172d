// SPDX-License-Identifier: Apache-2.0
// RAII for the XDP program, attached through libxdp's multiprog dispatcher so it coexists with
// other XDP programs (a CNI's, for instance). Native mode first, generic (skb) mode as fallback.
#pragma once

#include <string>

struct bpf_object;
struct xdp_program;

namespace shadowtap {

inline constexpr const char *kXdpProgramName = "xdp_ingress";

class XdpAttachment {
public:
  // Loads `object` (through libxdp) and attaches its xdp_ingress program. Throws Error.
  XdpAttachment(bpf_object *object, int ifindex, const std::string &iface);
  ~XdpAttachment();
  XdpAttachment(const XdpAttachment &) = delete;
  XdpAttachment &operator=(const XdpAttachment &) = delete;
  const char *modeName() const;
  bool multiprog() const { return multiprog_; } // false: libxdp fell back to a lone program

private:
  xdp_program *program_ = nullptr;
  int ifindex_;
  int mode_ = 0;
  bool multiprog_ = false;
};

// For `detach` and the already-tapped check.
bool xdpProgramPresent(int ifindex);
bool removeXdpProgram(int ifindex);

} // namespace shadowtap
