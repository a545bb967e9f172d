// SPDX-License-Identifier: Apache-2.0
// Random and mutated packets through every hook, each checked against the reference classifier:
// the verdict is always pass, the packet is never modified, the terminal reason and flow events
// are the reference's, and a clone or ring record happens exactly when the reference mirrors
// ("never a wrong clone"). Clones are read back from the mirror peer and compared byte for byte.
// Seed: SHADOWTAP_FUZZ_SEED (printed); packets per hook: SHADOWTAP_FUZZ_COUNT.
#include "mirror_sink.h"
#include "netns_environment.h"
#include "random_packets.h"
#include "reference_classifier.h"
#include "test_tap.h"

#include "bpf/counter_names.h"

#include <cstdlib>
#include <gtest/gtest.h>
#include <iostream>
#include <set>

namespace shadowtap::test {
namespace {

constexpr uint64_t kDefaultSeed = 20250601;
constexpr int kDefaultCount = 5000;
constexpr uint32_t kFuzzSeed = 0x0badcafe; // st_runtime seed

uint64_t envNumber(const char *name, uint64_t fallback) {
  const char *text = std::getenv(name);
  return text && *text ? std::strtoull(text, nullptr, 0) : fallback;
}

struct FuzzCase {
  std::string name;
  bool xdpMode;
  Hook hook;
  uint32_t runtimeFlags = 0; // st_runtime.flags
};

void PrintTo(const FuzzCase &c, std::ostream *os) {
  *os << c.name;
}

class Fuzz : public ::testing::TestWithParam<FuzzCase> {};

TEST_P(Fuzz, EveryPacketMatchesTheReference) {
  const FuzzCase &param = GetParam();
  const uint64_t seed = envNumber("SHADOWTAP_FUZZ_SEED", kDefaultSeed) + static_cast<uint64_t>(param.hook) * 1000003 +
                        (param.xdpMode ? 7 : 0);
  const int count = static_cast<int>(envNumber("SHADOWTAP_FUZZ_COUNT", kDefaultCount));
  std::cout << "[ fuzz     ] " << param.name << ": " << count << " packets, generator seed " << seed
            << " (set SHADOWTAP_FUZZ_SEED=" << envNumber("SHADOWTAP_FUZZ_SEED", kDefaultSeed) << " to replay)\n";
  RecordProperty("seed", std::to_string(seed));

  TestTap &tap = param.xdpMode ? xdpTap() : tcTap();
  tap.reset();
  const uint32_t mirror = static_cast<uint32_t>(mirrorIfindex());
  ReferenceConfig config;
  config.seed = kFuzzSeed;
  config.skipMark = ST_DEFAULT_MARK;
  config.rules[80] = st_rule{ST_RATE_SCALE, mirror, ST_RULE_ENABLED, 0};
  config.rules[443] = st_rule{ST_RATE_SCALE / 2, mirror, ST_RULE_ENABLED, 0};
  config.rules[8080] = st_rule{0, mirror, ST_RULE_ENABLED, 0};
  config.rules[22] = st_rule{ST_RATE_SCALE, mirror, 0, 0}; // present but not enabled
  config.rules[9000] = st_rule{ST_RATE_SCALE / 3, mirror, ST_RULE_ENABLED, 0};
  config.excludes = {lpmKey("10.1.0.0/16"), lpmKey("fd00:1::/32"), lpmKey("192.168.1.128/25")};
  for (const auto &[port, rule] : config.rules)
    tap.maps().setRule(port, rule);
  for (const auto &key : config.excludes)
    tap.maps().addExclude(key);
  config.runtimeFlags = param.runtimeFlags;
  st_runtime runtime{config.seed, config.skipMark, 1, 0};
  runtime.flags = config.runtimeFlags;
  tap.maps().setRuntime(runtime);
  ReferenceClassifier reference(config);

  std::unique_ptr<MirrorSink> sink;
  if (!tap.ringOutput(param.hook)) {
    sink = std::make_unique<MirrorSink>(mirrorPeerIfindex());
    while (sink->receive(0)) {
    }
  }

  RandomPackets gen(seed);
  std::map<uint32_t, int> reasons;
  int refused = 0; // frames TC test_run will not take (tcTestRunRefuses)
  auto last = tap.counters();
  for (int i = 0; i < count; i++) {
    Bytes packet = gen.next();
    uint32_t mark = 0;
    if (!isXdp(param.hook) && gen.chance(5))
      mark = gen.chance(50) ? ST_DEFAULT_MARK : 0x77;
    auto want = reference.classify(packet, isEgress(param.hook), isXdp(param.hook), tap.ringOutput(param.hook), mark);

    RunResult result = tap.run(param.hook, packet, mark);
    auto now = tap.counters();
    if (!isXdp(param.hook) && tcTestRunRefuses(packet)) {
      // The kernel would not run the program: nothing may have been counted.
      ASSERT_EQ(result.err, -EINVAL) << hexDump(packet);
      ASSERT_EQ(now, last);
      refused++;
      continue;
    }
    auto delta = counterDelta(last, now);
    last = now;
    std::string where = "packet " + std::to_string(i) + " (seed " + std::to_string(seed) + "), reference says " +
                        std::string(counterName(want.reason)) + ":\n" + hexDump(packet);

    reasons[want.reason]++;
    ASSERT_EQ(result.err, 0) << where;
    ASSERT_EQ(result.retval, passVerdict(param.hook)) << where;
    ASSERT_EQ(result.out, packet) << "packet modified; " << where;
    ASSERT_EQ(checkOnePacket(delta, want.reason, want.events), "") << where;

    auto records = tap.drainRing();
    if (want.reason == ST_C_RING_SENT) {
      ASSERT_EQ(records.size(), 1u) << where;
      ASSERT_EQ(records[0].frame, packet) << where;
      ASSERT_EQ(records[0].meta.flow_hash, want.flowHash) << where;
    } else {
      ASSERT_TRUE(records.empty()) << "wrong ring record; " << where;
    }
    if (sink) {
      if (want.reason == ST_C_CLONED) {
        auto frame = sink->receive(1000);
        ASSERT_TRUE(frame.has_value()) << "clone counted but never arrived; " << where;
        ASSERT_EQ(*frame, packet) << "clone differs; " << where;
      }
      ASSERT_FALSE(sink->receive(0).has_value()) << "wrong clone; " << where;
    }
  }
  if (sink) {
    EXPECT_FALSE(sink->receive(100).has_value()) << "a late, unexpected clone";
  }
  EXPECT_EQ(checkBalanced(tap.counters()), "");

  std::cout << "[ fuzz     ] refused by test_run: " << refused << "; reasons:";
  for (const auto &[reason, n] : reasons)
    std::cout << " " << counterName(reason) << "=" << n;
  std::cout << "\n";
  // Guard against a generator that stopped reaching a branch: each of these must come up.
  std::set<uint32_t> mustSee = {ST_C_NOT_IP,         ST_C_VLAN_TOO_DEEP, ST_C_NOT_TCP,
                                ST_C_FRAGMENT,       ST_C_MALFORMED_L2,  ST_C_MALFORMED_IPV4,
                                ST_C_MALFORMED_IPV6, ST_C_MALFORMED_TCP, ST_C_PORT_MISS,
                                ST_C_EXCLUDED,       ST_C_NOT_SAMPLED,   tap.mirroredReason(param.hook)};
  if (!isXdp(param.hook))
    mustSee.insert(ST_C_MARKED);
  if (count >= kDefaultCount) {
    for (uint32_t reason : mustSee)
      EXPECT_GT(reasons[reason], 0) << "the generator never produced " << counterName(reason);
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, Fuzz,
                         ::testing::Values(FuzzCase{"tc_ingress_clone", false, Hook::TcIngress},
                                           FuzzCase{"tc_egress_clone", false, Hook::TcEgress},
                                           FuzzCase{"xdp_ingress_ring", true, Hook::XdpIngress},
                                           FuzzCase{"tc_egress_ring", true, Hook::TcEgress},
                                           // a pod's veth: the service port on either side
                                           FuzzCase{"tc_ingress_clone_either_side", false, Hook::TcIngress,
                                                    ST_RT_PORTS_EITHER_SIDE},
                                           FuzzCase{"tc_egress_clone_either_side", false, Hook::TcEgress,
                                                    ST_RT_PORTS_EITHER_SIDE},
                                           FuzzCase{"xdp_ingress_ring_either_side", true, Hook::XdpIngress,
                                                    ST_RT_PORTS_EITHER_SIDE}),
                         [](const auto &info) { return info.param.name; });

// Fully random frames only: nothing the generator knows about protocols, pure robustness.
TEST(FuzzRandomBytes, NeverModifiedNeverMirroredWrongly) {
  const uint64_t seed = envNumber("SHADOWTAP_FUZZ_SEED", kDefaultSeed) ^ 0x5a5a5a5a;
  std::cout << "[ fuzz     ] random bytes, generator seed " << seed << "\n";
  ReferenceConfig config;
  config.seed = kTestSeed;
  config.rules[80] = st_rule{ST_RATE_SCALE, static_cast<uint32_t>(mirrorIfindex()), ST_RULE_ENABLED, 0};
  for (Hook hook : {Hook::TcIngress, Hook::TcEgress, Hook::XdpIngress}) {
    TestTap &tap = tapFor(hook);
    tap.reset();
    tap.maps().setRule(80, config.rules[80]);
    ReferenceClassifier reference(config);
    RandomPackets gen(seed + static_cast<uint64_t>(hook));
    auto last = tap.counters();
    for (int i = 0; i < 2000; i++) {
      Bytes packet = gen.randomBytes();
      auto want = reference.classify(packet, isEgress(hook), isXdp(hook), tap.ringOutput(hook), 0);
      RunResult result = tap.run(hook, packet);
      auto now = tap.counters();
      if (!isXdp(hook) && tcTestRunRefuses(packet)) {
        ASSERT_EQ(result.err, -EINVAL);
        ASSERT_EQ(now, last);
        continue;
      }
      ASSERT_EQ(result.err, 0);
      ASSERT_EQ(result.out, packet);
      ASSERT_EQ(checkOnePacket(counterDelta(last, now), want.reason, want.events), "")
          << hookName(hook) << " packet " << i << ":\n"
          << hexDump(packet);
      last = now;
      tap.drainRing();
    }
    EXPECT_EQ(checkBalanced(tap.counters()), "");
  }
}

} // namespace
} // namespace shadowtap::test
