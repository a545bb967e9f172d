// SPDX-License-Identifier: Apache-2.0
#include "runtime/inflight_shedder.h"

#include <gtest/gtest.h>

namespace shadowtap {
namespace {

constexpr uint64_t kMs = 1'000'000;

// A buffer of 100 blocks: fills and reads in blocks, as the packet ring reports them.
struct Buffer {
  InflightShedder shedder;
  uint64_t t = 0;
  double read = 0;
  // Advances the clock by `ms`, during which the worker read `readBlocks`; returns the share.
  double look(double fill, double readBlocks, uint64_t ms = 2) {
    t += ms * kMs;
    read += readBlocks / 100;
    return shedder.shedShare(fill, read, t);
  }
};

TEST(InflightShedder, ShedsWhatTheWorkerCannotTakePastTheThresholdWhileLosingGround) {
  Buffer b;
  EXPECT_EQ(b.look(0.45, 10), 0); // no trend yet
  // Grew 10 blocks while it read 10: half of what arrived is more than it takes.
  EXPECT_NEAR(b.look(0.55, 10), 0.5, 1e-9);
  EXPECT_EQ(b.look(0.53, 10), 0); // catching up: the last shed is showing
  EXPECT_EQ(b.look(0.53, 10), 0); // holding steady under kDanger is not losing ground
  EXPECT_EQ(b.look(0.4, 20), 0);
  EXPECT_EQ(b.look(0.45, 5), 0); // rising, but under the threshold
  // Grew 6 blocks while it read 9: 6 of the 15 that arrived.
  EXPECT_NEAR(b.look(0.51, 9), 6.0 / 15, 1e-9);
}

TEST(InflightShedder, WhenTheRoomLeftIsLessThanTwoLooksItAlsoReadsTheBufferBackDown) {
  Buffer b;
  EXPECT_EQ(b.look(0.40, 4), 0);
  // Grew 30 blocks while it read 4; 29 left, less than two looks of 30: shed the growth and
  // half of what it read, so the next look finds it emptier.
  EXPECT_NEAR(b.look(0.70, 4), (30.0 + 2) / 34, 1e-9);
}

TEST(InflightShedder, PastTheDangerMarkShedsAtLeastOneUnlessDraining) {
  Buffer b;
  EXPECT_EQ(b.look(0.8, 10), 0);                        // no trend yet
  EXPECT_EQ(b.look(0.8, 10), InflightShedder::kOne);    // not emptier: the heaviest goes
  EXPECT_EQ(b.look(0.78, 10), 0);                       // draining
  EXPECT_GT(b.look(0.9, 1), 0.9);                       // 12 blocks up with 1 read, 10 left
}

TEST(InflightShedder, AfterAStallTheFirstLookIsNotATrend) {
  Buffer b;
  EXPECT_EQ(b.look(0.1, 1), 0);
  EXPECT_EQ(b.look(1.0, 1, 3000), 0); // was 0.1, three seconds ago: a jump, not a trend
  EXPECT_EQ(b.look(0.95, 10), 0);     // catching up
  EXPECT_GT(b.look(0.97, 10), 0);     // losing ground again
}

// The case of tests/e2e/load/upload_test.sh: a worker held to 5 % of a CPU looks every ~80 ms
// and reads ~1 block between looks while 4 uploads bring 30. One connection per look (what it
// did before) let the ring overflow before the next look; now one look sheds nearly all.
TEST(InflightShedder, AThrottledWorkerShedsEnoughAtOnce) {
  Buffer b;
  EXPECT_EQ(b.look(0.10, 1, 80), 0);
  EXPECT_EQ(b.look(0.40, 1, 80), 0);          // under the threshold
  EXPECT_GT(b.look(0.70, 1, 80), 30.0 / 31); // the growth and half the read: all but a sliver
}

TEST(InflightShedder, LooksAtMostOncePerInterval) {
  InflightShedder s;
  uint64_t t = 10 * kMs;
  EXPECT_EQ(s.shedShare(0.9, 0, t), 0);
  t += InflightShedder::kLookEveryNs;
  EXPECT_GT(s.shedShare(1.0, 0.01, t), 0);
  EXPECT_FALSE(s.due(t + 1));
  EXPECT_EQ(s.shedShare(1.0, 0.02, t + 1), 0);
  EXPECT_EQ(s.shedShare(1.0, 0.02, t + InflightShedder::kLookEveryNs - 1), 0);
  EXPECT_GT(s.shedShare(1.0, 0.02, t + InflightShedder::kLookEveryNs), 0);
}

} // namespace
} // namespace shadowtap
