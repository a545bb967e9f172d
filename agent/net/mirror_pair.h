// SPDX-License-Identifier: Apache-2.0
// The mirror interface. By default a veth pair named after the tapped interface (see
// mirrorPairNames): clones go into its tx end and come out of its rx end, where the agent (or
// tcpdump) reads them. Each tapped interface has its own pair, so agents on different interfaces
// never share, reuse or delete each other's. The pair is removed on destruction only if this agent
// created it.
//
// With --mirror-vxlan the mirror is a VXLAN device instead (st-<iface>.v): clones leave the node
// encapsulated toward a collector, and nothing here reads them (rxName == txName).
#pragma once

#include "config/run_options.h"

#include <optional>
#include <string>

namespace shadowtap {

inline constexpr unsigned kMirrorMtu = 65535; // ETH_MAX_MTU, a veth's largest

struct MirrorPairNames {
  std::string tx; // clones go in here
  std::string rx; // and come out here
  std::string vxlan; // --mirror-vxlan: the VXLAN device clones go into instead
};

// The pair for `iface`, unique per interface and at most 15 characters (IFNAMSIZ - 1):
//   st-<iface>.0 / st-<iface>.1                      when iface has at most 10 characters
//   st-<first 5 of iface>-<4 hex of FNV-1a>.0 / .1   otherwise (e.g. st-enp0s-1a2b.0)
MirrorPairNames mirrorPairNames(const std::string &iface);

class MirrorPair {
public:
  // `userIface`: an existing interface to clone into instead (--mirror-iface). Otherwise the
  // pair of `tappedIface` is created; a pair of that name that already exists is refused (it is
  // a tap left behind: `detach` removes it). Throws Error.
  // `vxlan`: create the VXLAN device of `tappedIface` toward that collector instead (--mirror-vxlan).
  MirrorPair(const std::string &tappedIface, const std::optional<std::string> &userIface,
             const std::optional<VxlanEndpoint> &vxlan = std::nullopt, uint32_t vni = kDefaultVni);
  ~MirrorPair();
  MirrorPair(const MirrorPair &) = delete;
  MirrorPair &operator=(const MirrorPair &) = delete;

  const std::string &txName() const { return txName_; }
  const std::string &rxName() const { return rxName_; } // where frames are read; == txName with --mirror-iface
  int txIfindex() const { return txIfindex_; }
  bool created() const { return created_; }
  bool vxlan() const { return vxlan_; }

private:
  std::string txName_;
  std::string rxName_;
  int txIfindex_ = 0;
  bool created_ = false;
  bool vxlan_ = false;

  void createVxlan(const std::string &name, const VxlanEndpoint &remote, uint32_t vni);
};

} // namespace shadowtap
