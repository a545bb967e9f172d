// SPDX-License-Identifier: Apache-2.0
#include "replay/concurrency_window.h"

#include <gtest/gtest.h>

namespace shadowtap::replay {
namespace {

using namespace std::chrono_literals;
const auto t0 = ConcurrencyWindow::Clock::time_point{} + 1h;

TEST(ConcurrencyWindow, StartsAtTheCeilingAndNeverPassesIt) {
  ConcurrencyWindow w(1000);
  EXPECT_EQ(w.limit(), 1000u);
  for (int i = 0; i < 5000; i++)
    w.onTaken();
  EXPECT_EQ(w.limit(), 1000u);
}

TEST(ConcurrencyWindow, ARefusalCutsToHalfWhatTheShadowWasGiven) {
  ConcurrencyWindow w(14000);
  w.onRefused(3000, t0); // 3,000 open when the shadow closed one unread
  EXPECT_EQ(w.limit(), 1500u);
}

TEST(ConcurrencyWindow, RefusalsWithinTheCooldownCutOnce) {
  ConcurrencyWindow w(10000);
  w.onRefused(8000, t0);
  w.onRefused(4000, t0 + ConcurrencyWindow::kCooldown / 2); // opened before the cut: no new cut
  EXPECT_EQ(w.limit(), 4000u);
  w.onRefused(4000, t0 + ConcurrencyWindow::kCooldown);
  EXPECT_EQ(w.limit(), 2000u);
}

TEST(ConcurrencyWindow, NeverBelowTheFloorNorAboveASmallerCeiling) {
  ConcurrencyWindow w(10000);
  for (int i = 0; i < 40; i++)
    w.onRefused(10000, t0 + i * ConcurrencyWindow::kCooldown);
  EXPECT_EQ(w.limit(), ConcurrencyWindow::kFloor);
  ConcurrencyWindow tiny(4);
  tiny.onRefused(4, t0);
  EXPECT_EQ(tiny.limit(), 4u);
}

TEST(ConcurrencyWindow, GrowsByOnePerWindowOfReplaysTaken) {
  ConcurrencyWindow w(10000);
  w.onRefused(200, t0);
  ASSERT_EQ(w.limit(), 100u);
  for (int i = 0; i < 100; i++)
    w.onTaken();
  EXPECT_EQ(w.limit(), 100u); // 100 x 1/100 may round just below 101
  w.onTaken();
  EXPECT_EQ(w.limit(), 101u);
}

TEST(ConcurrencyWindow, UnboundedUntilTheFirstRefusalAndShownAsZero) {
  ConcurrencyWindow w;
  EXPECT_EQ(w.limitShown(), 0u);
  EXPECT_GT(w.limit(), 1'000'000'000u);
  w.onRefused(64, t0);
  EXPECT_EQ(w.limit(), 32u);
  EXPECT_EQ(w.limitShown(), 32u);
}

} // namespace
} // namespace shadowtap::replay
