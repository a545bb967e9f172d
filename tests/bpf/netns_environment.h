// SPDX-License-Identifier: Apache-2.0
// The world the BPF tests run in: a private network namespace owned by this process (nothing the
// programs clone can leave it, and nothing on the host can disturb it) with lo up and one veth pair
// standing in for the mirror port. Set up once, before the first test, by a gtest Environment.
#pragma once

#include <string>

namespace shadowtap::test {

inline constexpr const char *kMirrorIface = "stmirror0";     // clone target (st_rule.mirror_ifindex)
inline constexpr const char *kMirrorPeerIface = "stmirror1"; // where clones come out

int mirrorIfindex();
int mirrorPeerIfindex();
int loopbackIfindex();

} // namespace shadowtap::test
