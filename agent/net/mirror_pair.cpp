// SPDX-License-Identifier: Apache-2.0
#include "net/mirror_pair.h"

#include "common/error.h"
#include "net/link.h"

#include <cstdint>
#include <cstdio>
#include <spdlog/spdlog.h>

namespace shadowtap {

MirrorPairNames mirrorPairNames(const std::string &iface) {
  constexpr size_t kMaxName = 15; // IFNAMSIZ - 1
  std::string base = "st-" + iface;
  if (base.size() + 2 > kMaxName) {
    uint32_t hash = 2166136261u; // FNV-1a: stable across builds and machines
    for (unsigned char c : iface)
      hash = (hash ^ c) * 16777619u;
    char suffix[8];
    std::snprintf(suffix, sizeof(suffix), "-%04x", (hash ^ (hash >> 16)) & 0xffffu);
    base = "st-" + iface.substr(0, 5) + suffix;
  }
  return {base + ".0", base + ".1", base + ".v"};
}

MirrorPair::MirrorPair(const std::string &tappedIface, const std::optional<std::string> &userIface,
                       const std::optional<VxlanEndpoint> &vxlan, uint32_t vni) {
  if (userIface) {
    txName_ = rxName_ = *userIface;
    txIfindex_ = ifindexOf(txName_);
    if (!txIfindex_)
      throw UsageError("unknown --mirror-iface '" + txName_ + "': no such interface");
    return;
  }
  auto names = mirrorPairNames(tappedIface);
  if (vxlan) {
    createVxlan(names.vxlan, *vxlan, vni);
    return;
  }
  txName_ = names.tx;
  rxName_ = names.rx;
  if (ifindexOf(txName_) || ifindexOf(rxName_))
    throw Error("mirror interface " + txName_ + " already exists: a tap of " + tappedIface +
                " was left behind (run `shadowtap detach --iface " + tappedIface + "`, or `ip link del " + txName_ +
                "` if no pins are left)");
  createVethPair(txName_, rxName_);
  created_ = true;
  spdlog::info("created mirror veth pair {} -> {}", txName_, rxName_);
  try {
    // As large as a veth allows: a clone bigger than the mirror port's MTU is refused by the
    // kernel, so a 1500-byte mirror port would lose every jumbo frame of a 9000-MTU NIC (GSO
    // super-packets pass either way; single big frames do not).
    setMtu(txName_, kMirrorMtu);
    setMtu(rxName_, kMirrorMtu);
    makeSilentAndUp(txName_);
    makeSilentAndUp(rxName_);
  } catch (...) {
    deleteLink(txName_);
    throw;
  }
  txIfindex_ = ifindexOf(txName_);
}

void MirrorPair::createVxlan(const std::string &name, const VxlanEndpoint &remote, uint32_t vni) {
  txName_ = rxName_ = name;
  if (ifindexOf(name))
    throw Error("mirror interface " + name + " already exists: a tap was left behind (run `shadowtap detach`, or "
                "`ip link del " + name + "` if no pins are left)");
  createVxlanLink(name, vni, remote.address, remote.port);
  created_ = vxlan_ = true;
  spdlog::info("created VXLAN mirror {} -> {} port {} vni {}", name, remote.address, remote.port, vni);
  try {
    // Large, so no clone is refused for its size: one bigger than the path's MTU leaves in IP
    // fragments, which the collector's kernel reassembles. 65485 is IP's largest less VXLAN's
    // 50 bytes over IPv4 (70 over IPv6); the kernel's own limit wins if lower.
    for (unsigned mtu : {65485u, 65465u, 1500u}) {
      try {
        setMtu(name, mtu);
        break;
      } catch (const Error &) {
      }
    }
    makeSilentAndUp(name);
  } catch (...) {
    deleteLink(name);
    throw;
  }
  txIfindex_ = ifindexOf(name);
}

MirrorPair::~MirrorPair() {
  if (!created_)
    return;
  try {
    deleteLink(txName_); // deleting one end of a veth removes its peer too; a VXLAN device is one
  } catch (const std::exception &e) {
    spdlog::warn("{}", e.what());
  }
}

} // namespace shadowtap
