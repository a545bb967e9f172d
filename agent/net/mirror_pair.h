// SPDX-License-Identifier: Apache-2.0
// The mirror interface. By default the veth pair st-mirror0/st-mirror1: clones go into
// st-mirror0 and come out of st-mirror1, where the agent (or tcpdump) reads them. The pair is
// removed on destruction only if this agent created it.
#pragma once

#include <optional>
#include <string>

namespace shadowtap {

inline constexpr const char *kMirrorTx = "st-mirror0";
inline constexpr const char *kMirrorRx = "st-mirror1";
inline constexpr unsigned kMirrorMtu = 65535; // ETH_MAX_MTU, a veth's largest

class MirrorPair {
public:
  // `userIface`: an existing interface to clone into instead (--mirror-iface). Throws Error.
  explicit MirrorPair(const std::optional<std::string> &userIface);
  ~MirrorPair();
  MirrorPair(const MirrorPair &) = delete;
  MirrorPair &operator=(const MirrorPair &) = delete;

  const std::string &txName() const { return txName_; }
  int txIfindex() const { return txIfindex_; }
  bool created() const { return created_; }

private:
  std::string txName_;
  int txIfindex_ = 0;
  bool created_ = false;
};

} // namespace shadowtap
