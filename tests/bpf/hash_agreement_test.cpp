// SPDX-License-Identifier: Apache-2.0
// The kernel and user space must agree on every connection's hash: the agent, `status` and these
// tests predict sampling with st_flow_hash() from shared.h. Thousands of random IPv4 and IPv6
// SYNs at 50%: the program's clone/ring vs not_sampled outcome, the hash recorded in st_flows and
// the hash in ring records must all equal the user-space computation.
#include "netns_environment.h"
#include "test_packets.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <cstring>
#include <gtest/gtest.h>
#include <random>

namespace shadowtap::test {
namespace {

constexpr int kTuplesPerFamily = 2000;
constexpr uint32_t kHalf = ST_RATE_SCALE / 2;

TEST(HashAgreement, RandomSynsSampleExactlyAsUserSpacePredicts) {
  std::mt19937 rng(0x48617368);
  const uint32_t seed = rng();
  const std::vector<uint16_t> ports = {80, 443, 8080, 5432, 6379, 11211, 9092, 3306};
  for (TestTap *tap : {&tcTap(), &xdpTap()}) {
    tap->reset();
    tap->maps().setRuntime(st_runtime{seed, ST_DEFAULT_MARK, 1, 0});
    for (uint16_t port : ports)
      tap->setRule(port, kHalf, static_cast<uint32_t>(mirrorIfindex()));
  }

  const Hook hooks[] = {Hook::TcIngress, Hook::TcEgress, Hook::XdpIngress};
  int sampled = 0, total = 0;
  for (bool v6 : {false, true}) {
    for (int i = 0; i < kTuplesPerFamily; i++) {
      TcpShape shape;
      shape.v6 = v6;
      for (auto &b : shape.client6)
        b = static_cast<uint8_t>(rng());
      for (auto &b : shape.server6)
        b = static_cast<uint8_t>(rng());
      for (auto &b : shape.client4)
        b = static_cast<uint8_t>(rng());
      for (auto &b : shape.server4)
        b = static_cast<uint8_t>(rng());
      shape.clientPort = static_cast<uint16_t>(1024 + rng() % 64000);
      shape.servicePort = ports[rng() % ports.size()];
      Hook hook = hooks[i % 3];
      TestTap &tap = tapFor(hook);

      uint32_t client[4], server[4];
      shapeAddrs(shape, client, server);
      const uint32_t hash = st_flow_hash(client, shape.clientPort, server, shape.servicePort, seed);
      const bool expectMirrored = st_sampled(hash, kHalf);

      Bytes packet = tcpPacket(shape, isEgress(hook)).build();
      auto before = tap.counters();
      RunResult result = tap.run(hook, packet);
      auto delta = counterDelta(before, tap.counters());
      ASSERT_EQ(result.err, 0);
      uint32_t reason = expectMirrored ? tap.mirroredReason(hook) : static_cast<uint32_t>(ST_C_NOT_SAMPLED);
      std::vector<uint32_t> events = {ST_C_FLOW_DECIDED};
      if (expectMirrored)
        events.push_back(ST_C_FLOW_ADMITTED);
      ASSERT_EQ(checkOnePacket(delta, reason, events), "")
          << hookName(hook) << " tuple " << i << (v6 ? " ipv6" : " ipv4") << " hash " << hash;

      st_flow_key key{};
      st_flow_key_make(&key, client, shape.clientPort, server, shape.servicePort);
      auto decision = tap.flow(key);
      ASSERT_TRUE(decision.has_value()) << "no st_flows entry for tuple " << i;
      ASSERT_EQ(decision->hash, hash) << "st_flows hash differs from st_flow_hash() for tuple " << i;
      ASSERT_EQ(decision->mirrored, expectMirrored ? 1u : 0u);

      auto records = tap.drainRing();
      ASSERT_EQ(records.size(), reason == ST_C_RING_SENT ? 1u : 0u);
      if (!records.empty()) {
        ASSERT_EQ(records[0].meta.flow_hash, hash);
      }
      sampled += expectMirrored;
      total++;
    }
  }
  // Not a statistics test, only a guard against a degenerate tuple generator.
  EXPECT_GT(sampled, total / 3);
  EXPECT_LT(sampled, total * 2 / 3);
}

} // namespace
} // namespace shadowtap::test
