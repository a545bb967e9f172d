// SPDX-License-Identifier: Apache-2.0
// The capture ring guard's arithmetic, shared by the kernel's filter and the worker (shared.h:
// st_ring_guard_charge; capture/ring_guard.h: Slot): how far the kernel has written into a
// TPACKET_V3 ring, blocks handed over whole, and how far the worker has read.
#include "capture/ring_guard.h"

#include <gtest/gtest.h>

namespace shadowtap {
namespace {

constexpr uint32_t kBlock = 4096;

TEST(RingGuardCharge, FramesFillABlockAndOneThatDoesNotFitStartsTheNext) {
  uint64_t admitted = 0;
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, 1000u + ST_RING_FRAME_OVERHEAD);
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, 3 * (1000u + ST_RING_FRAME_OVERHEAD)); // 3288: a fourth does not fit
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, kBlock + 1000u + ST_RING_FRAME_OVERHEAD); // the rest of the first block is gone
}

TEST(RingGuardCharge, ANewRetirePeriodHandsTheOpenBlockOverWithItsFewFrames) {
  // At low rates the kernel retires a block by its timeout: each period costs a whole block.
  uint64_t admitted = 0;
  for (int period = 0; period < 5; period++)
    admitted = st_ring_guard_charge(admitted, 60, kBlock, 1);
  EXPECT_EQ(admitted, 4 * kBlock + 60u + ST_RING_FRAME_OVERHEAD);
  // An empty block is not handed over: a new period at a block boundary costs nothing more.
  EXPECT_EQ(st_ring_guard_charge(2 * kBlock, 60, kBlock, 1), 2 * kBlock + 60u + ST_RING_FRAME_OVERHEAD);
}

TEST(RingGuardSlot, ReadIsTheBlocksHandedBackAndAnEmptyRingLevelsItWithTheKernel) {
  st_ring_guard entry{};
  RingGuard::Geometry ring{kBlock, 8, 20'000'000};
  RingGuard::Slot slot(&entry, ring);
  entry.admitted = 5 * kBlock + 300; // five blocks handed over, a sixth open
  slot.publish(2.0 / 8, false);      // two read back
  EXPECT_EQ(entry.read, 2u * kBlock);
  EXPECT_EQ(entry.admitted - entry.read, 3u * kBlock + 300);
  // Empty: everything handed over is read; the open block is not.
  slot.publish(5.0 / 8, true);
  EXPECT_EQ(entry.read, 5u * kBlock);
  // The estimate drifted (blocks retired the kernel's way, not ours): empty again re-levels it.
  entry.admitted = 9 * kBlock + 10;
  slot.publish(7.0 / 8, true);
  EXPECT_EQ(entry.read, 9u * kBlock);
  entry.admitted = 10 * kBlock + 20;
  slot.publish(8.0 / 8, false); // the open block came back
  EXPECT_EQ(entry.read, 10u * kBlock);
  EXPECT_EQ(entry.admitted - entry.read, 20u);
}

TEST(RingGuardSlot, AnUnsetSlotDoesNothing) {
  RingGuard::Slot slot;
  EXPECT_FALSE(slot);
  slot.publish(1.0, true);
  EXPECT_EQ(slot.shed(), 0u);
}

} // namespace
} // namespace shadowtap
