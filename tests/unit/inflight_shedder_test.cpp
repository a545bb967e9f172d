// SPDX-License-Identifier: Apache-2.0
#include "runtime/inflight_shedder.h"

#include <gtest/gtest.h>

namespace shadowtap {
namespace {

constexpr uint64_t kMs = 1'000'000;

TEST(InflightShedder, ShedsOnePastTheThresholdWhileLosingGround) {
  InflightShedder s;
  uint64_t t = 1000 * kMs;
  EXPECT_EQ(s.shedCount(0.45, t), 0u); // no trend yet
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.55, t), 1u); // past the threshold and fuller
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.53, t), 0u); // catching up: the last shed is showing
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.53, t), 0u); // holding steady under kDanger is not losing ground
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.4, t), 0u);
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.45, t), 0u); // rising, but under the threshold
}

TEST(InflightShedder, PastTheDangerMarkShedsTwoUnlessDraining) {
  InflightShedder s;
  uint64_t t = 1000 * kMs;
  EXPECT_EQ(s.shedCount(0.8, t), 0u); // no trend yet
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.8, t), 2u); // not emptier
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.78, t), 0u); // draining
}

// A stopped or descheduled worker finds its buffer full when it runs again: it catches up first,
// and sheds only if it keeps losing ground (tests/e2e/load/overload_test.sh B: SIGSTOP for 3 s).
TEST(InflightShedder, AfterAStallTheFirstLookIsNotATrend) {
  InflightShedder s;
  uint64_t t = 1000 * kMs;
  EXPECT_EQ(s.shedCount(0.1, t), 0u);
  t += 3000 * kMs;
  EXPECT_EQ(s.shedCount(1.0, t), 0u); // was 0.1, three seconds ago: a jump, not a trend
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.95, t), 0u); // catching up
  t += 2 * kMs;
  EXPECT_EQ(s.shedCount(0.97, t), 2u); // losing ground again
}

// A worker held to a CPU quota runs a slice, then waits: its looks are tens of ms apart and still
// make a trend (tests/e2e/load/upload_test.sh: looks 30-70 ms apart at 10 % of a CPU).
TEST(InflightShedder, AThrottledWorkerStillSeesItsBufferFill) {
  InflightShedder s;
  uint64_t t = 1000 * kMs;
  EXPECT_EQ(s.shedCount(0.15, t), 0u);
  t += 30 * kMs;
  EXPECT_EQ(s.shedCount(0.49, t), 0u);
  t += 70 * kMs;
  EXPECT_EQ(s.shedCount(0.68, t), 1u);
  t += 50 * kMs;
  EXPECT_EQ(s.shedCount(0.78, t), 2u);
}

TEST(InflightShedder, LooksAtMostOncePerInterval) {
  InflightShedder s;
  uint64_t t = 1000 * kMs;
  EXPECT_EQ(s.shedCount(1.0, t), 0u);
  t += InflightShedder::kLookEveryNs;
  EXPECT_EQ(s.shedCount(1.0, t), 2u); // full at both looks
  EXPECT_FALSE(s.due(t + 1));
  EXPECT_EQ(s.shedCount(1.0, t + 1), 0u);
  EXPECT_EQ(s.shedCount(1.0, t + InflightShedder::kLookEveryNs - 1), 0u);
  EXPECT_EQ(s.shedCount(1.0, t + InflightShedder::kLookEveryNs), 2u);
}

} // namespace
} // namespace shadowtap
