// SPDX-License-Identifier: Apache-2.0
#include "net/mirror_pair.h"

#include <gtest/gtest.h>
#include <set>

using namespace shadowtap;

TEST(MirrorPairNames, ReadableWhenTheInterfaceNameIsShort) {
  EXPECT_EQ(mirrorPairNames("eth0").tx, "st-eth0.0");
  EXPECT_EQ(mirrorPairNames("eth0").rx, "st-eth0.1");
  EXPECT_EQ(mirrorPairNames("eth0").vxlan, "st-eth0.v"); // --mirror-vxlan
  EXPECT_EQ(mirrorPairNames("enp0s31f6").tx, "st-enp0s31f6.0");   // 14 characters
  EXPECT_EQ(mirrorPairNames("0123456789").rx, "st-0123456789.1"); // 10: the longest kept whole
}

TEST(MirrorPairNames, LongNamesArePrefixAndHashWithinIfnamsiz) {
  auto names = mirrorPairNames("enp0s20f0u1u2"); // 13 characters
  EXPECT_EQ(names.tx.size(), 15u);
  EXPECT_EQ(names.tx.substr(0, 9), "st-enp0s-");
  EXPECT_EQ(names.tx.substr(13), ".0");
  EXPECT_EQ(names.rx.substr(0, 13), names.tx.substr(0, 13));
  EXPECT_EQ(mirrorPairNames("enp0s20f0u1u2").tx, names.tx) << "stable";
}

TEST(MirrorPairNames, DistinctInterfacesGetDistinctPairs) {
  std::set<std::string> seen;
  const char *ifaces[] = {"eth0",          "eth1",      "veth0",     "e2s1234abcd", "e2s1234abce", "enp0s20f0u1u2",
                          "enp0s20f0u1u3", "wlp0s20f3", "bond0.100", "0123456789",  "01234567890"};
  for (const char *iface : ifaces) {
    auto names = mirrorPairNames(iface);
    EXPECT_LE(names.tx.size(), 15u) << iface;
    EXPECT_LE(names.rx.size(), 15u) << iface;
    EXPECT_NE(names.tx, names.rx);
    EXPECT_TRUE(seen.insert(names.tx).second) << iface << " -> " << names.tx;
    EXPECT_TRUE(seen.insert(names.rx).second) << iface << " -> " << names.rx;
  }
}
