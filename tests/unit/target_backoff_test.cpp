// SPDX-License-Identifier: Apache-2.0
// A shadow target's connect back-off doubles per round of attempts, not per failure: attempts
// already in flight when it was set (a burst timing out together) do not double it again.
#include "replay/target_state.h"

#include <gtest/gtest.h>

namespace shadowtap::replay {
namespace {

using namespace std::chrono_literals;
using Clock = TargetState::Clock;

TEST(TargetBackoff, ABurstOfFailuresStartedTogetherBacksOffOnce) {
  TargetState target;
  auto burstStarted = Clock::now() - 1ms;
  for (int i = 0; i < 300; i++) // all in flight together, then all timing out
    target.connectFailed(10s, burstStarted);
  EXPECT_EQ(target.failures, 1u);
  EXPECT_TRUE(target.backingOff(Clock::now()));
  EXPECT_FALSE(target.backingOff(Clock::now() + 150ms)); // one round: 100 ms, not the 10 s maximum
}

TEST(TargetBackoff, EachNewRoundDoublesItUntilAConnectSucceeds) {
  TargetState target;
  target.connectFailed(10s, Clock::now());
  EXPECT_EQ(target.failures, 1u);
  target.connectFailed(10s, Clock::now()); // started after the back-off was set: a new round
  EXPECT_EQ(target.failures, 2u);
  EXPECT_TRUE(target.backingOff(Clock::now() + 150ms)); // 200 ms now
  target.connectSucceeded();
  target.connectFailed(10s, Clock::now());
  EXPECT_EQ(target.failures, 1u);
}

TEST(TargetBackoff, NeverPastItsMaximum) {
  TargetState target;
  for (int i = 0; i < 20; i++)
    target.connectFailed(1s, Clock::now());
  EXPECT_EQ(target.failures, 20u);
  EXPECT_TRUE(target.backingOff(Clock::now() + 900ms));
  EXPECT_FALSE(target.backingOff(Clock::now() + 1100ms));
}

} // namespace
} // namespace shadowtap::replay
