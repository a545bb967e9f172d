// SPDX-License-Identifier: Apache-2.0
#include "common/error.h"
#include "replay/shadow_target.h"

#include <gtest/gtest.h>

using namespace shadowtap;
using namespace shadowtap::replay;

TEST(ShadowTarget, ParsesHostPortForms) {
  auto v4 = parseShadowTarget("10.0.0.7:8080");
  EXPECT_EQ(v4.host, "10.0.0.7");
  EXPECT_EQ(v4.port, 8080);
  auto v6 = parseShadowTarget("[fd00::7]:9000");
  EXPECT_EQ(v6.host, "fd00::7");
  EXPECT_EQ(v6.name, "[fd00::7]:9000");
  auto dns = parseShadowTarget("reviews-shadow.default.svc:80");
  EXPECT_EQ(dns.host, "reviews-shadow.default.svc");
}

TEST(ShadowTarget, RejectsMalformed) {
  for (const char *bad : {"", "host", ":80", "host:", "host:0", "host:70000", "fd00::7:80", "[fd00::7]80", "[fd00::7]:"})
    EXPECT_THROW(parseShadowTarget(bad), UsageError) << bad;
}

TEST(ShadowTarget, ResolvesLiteralsAndFailsClearlyOnUnknownNames) {
  std::vector<ShadowTarget> targets{parseShadowTarget("127.0.0.1:80"), parseShadowTarget("[::1]:80")};
  resolveTargets(targets);
  EXPECT_EQ(targets[0].endpoints.size(), 1u);
  EXPECT_TRUE(targets[1].endpoints[0].address().is_v6());
  std::vector<ShadowTarget> bad{parseShadowTarget("no-such-host.invalid:80")};
  EXPECT_THROW(resolveTargets(bad), Error);
}

#include "replay/loop_guard.h"

TEST(LoopGuard, RefusesTheLocalPrimaryOnlyOnMirroredPorts) {
  auto plan = [](const std::string &target) {
    ReplayPlan p;
    p.targets = {parseShadowTarget(target)};
    resolveTargets(p.targets);
    return p;
  };
  std::vector<boost::asio::ip::address> local{boost::asio::ip::make_address("10.9.0.1"),
                                              boost::asio::ip::make_address("fd00::1")};
  std::set<uint16_t> ports{8080};
  EXPECT_THROW(refuseLoops(plan("10.9.0.1:8080"), ports, local), UsageError);   // this host, mirrored port
  EXPECT_THROW(refuseLoops(plan("127.0.0.1:8080"), ports, local), UsageError);  // loopback
  EXPECT_THROW(refuseLoops(plan("[fd00::1]:8080"), ports, local), UsageError);
  EXPECT_NO_THROW(refuseLoops(plan("10.9.0.1:9080"), ports, local));            // another port here: a shadow
  EXPECT_NO_THROW(refuseLoops(plan("10.9.0.2:8080"), ports, local));            // another host
  EXPECT_FALSE(localAddresses().empty());
}
