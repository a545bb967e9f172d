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
