// SPDX-License-Identifier: Apache-2.0
// The user-space view of the kernel's sampling hash (the same code from shared.h). That the BPF
// programs agree with it is checked in tests/bpf against the real programs.
#include "shadowtap/shared.h"

#include <arpa/inet.h>
#include <cmath>
#include <gtest/gtest.h>
#include <random>

namespace {

struct Endpoint {
  __u32 addr[4];
  __u16 port;
};

Endpoint v4(const char *text, __u16 port) {
  Endpoint e{{0, 0, htonl(0xffff), 0}, port};
  inet_pton(AF_INET, text, &e.addr[3]);
  return e;
}

Endpoint v6(const char *text, __u16 port) {
  Endpoint e{{}, port};
  inet_pton(AF_INET6, text, e.addr);
  return e;
}

__u32 hashOf(const Endpoint &s, const Endpoint &d, __u32 seed) {
  return st_flow_hash(s.addr, s.port, d.addr, d.port, seed);
}

} // namespace

TEST(FlowHash, BothDirectionsOfAConnectionHashAlike) {
  std::mt19937 gen(7);
  auto rng = [&gen] { return static_cast<__u32>(gen()); };
  for (int i = 0; i < 10000; i++) {
    Endpoint a{{rng(), rng(), rng(), rng()}, static_cast<__u16>(rng())};
    Endpoint b{{rng(), rng(), rng(), rng()}, static_cast<__u16>(rng())};
    __u32 seed = rng();
    ASSERT_EQ(hashOf(a, b, seed), hashOf(b, a, seed));
  }
  // Same address, different ports (a client talking to itself) still normalises.
  auto a = v4("127.0.0.1", 40000), b = v4("127.0.0.1", 8080);
  EXPECT_EQ(hashOf(a, b, 1), hashOf(b, a, 1));
}

TEST(FlowHash, DependsOnEveryPartOfTheTupleAndTheSeed) {
  auto c = v4("10.0.0.2", 40000), s = v4("10.0.0.1", 8080);
  __u32 base = hashOf(c, s, 42);
  EXPECT_NE(base, hashOf(c, s, 43));
  EXPECT_NE(base, hashOf(v4("10.0.0.3", 40000), s, 42));
  EXPECT_NE(base, hashOf(v4("10.0.0.2", 40001), s, 42));
  EXPECT_NE(base, hashOf(c, v4("10.0.0.1", 8081), 42));
  EXPECT_NE(hashOf(v6("fd00::2", 40000), v6("fd00::1", 8080), 42),
            hashOf(v6("fd00::3", 40000), v6("fd00::1", 8080), 42));
}

TEST(FlowHash, KeyIsNormalisedLowEndpointFirst) {
  auto c = v4("10.0.0.2", 40000), s = v4("10.0.0.1", 8080);
  st_flow_key k1{}, k2{};
  st_flow_key_make(&k1, c.addr, c.port, s.addr, s.port);
  st_flow_key_make(&k2, s.addr, s.port, c.addr, c.port);
  EXPECT_EQ(0, memcmp(&k1, &k2, sizeof(k1)));
  EXPECT_EQ(k1.port_lo, 8080);
  EXPECT_EQ(k1.port_hi, 40000);
}

TEST(FlowHash, SamplingRateIsHonouredOverManyConnections) {
  // 200,000 client ports/addresses at 30%: the share must be within 5 standard deviations.
  const __u32 rate = 300000;
  const int n = 200000;
  int sampled = 0;
  auto s = v4("10.0.0.1", 8080);
  for (int i = 0; i < n; i++) {
    Endpoint c = v4("10.0.0.2", static_cast<__u16>(1024 + i % 60000));
    c.addr[3] += htonl(static_cast<__u32>(i / 60000));
    sampled += st_sampled(hashOf(c, s, 0x5eed), rate);
  }
  double expected = n * 0.3, sd = std::sqrt(n * 0.3 * 0.7);
  EXPECT_NEAR(sampled, expected, 5 * sd);
}

TEST(FlowHash, RateEdges) {
  EXPECT_FALSE(st_sampled(0, 0));
  EXPECT_FALSE(st_sampled(0xffffffffu, 0));
  EXPECT_TRUE(st_sampled(0, 1));
  EXPECT_TRUE(st_sampled(0xffffffffu, ST_RATE_SCALE));
  EXPECT_TRUE(st_sampled(999999, ST_RATE_SCALE));
  EXPECT_FALSE(st_sampled(999999, ST_RATE_SCALE - 1));
}
