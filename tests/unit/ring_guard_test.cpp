// SPDX-License-Identifier: Apache-2.0
// The capture ring guard's arithmetic, shared by the kernel's filter and the worker (shared.h:
// st_ring_guard_charge; capture/ring_guard.h: Slot): how far the kernel has written into a
// TPACKET_V3 ring, blocks handed over whole, and how far the worker has read.
#include "capture/ring_guard.h"

#include <gtest/gtest.h>

namespace shadowtap {
namespace {

constexpr uint32_t kBlock = 4096;

constexpr uint32_t kHeader = ST_RING_BLOCK_HEADER;

TEST(RingGuardCharge, FramesFillABlockAfterItsHeaderAndOneThatDoesNotFitStartsTheNext) {
  constexpr uint32_t kCost = 1000 + ST_RING_FRAME_OVERHEAD;
  uint64_t admitted = 0;
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, kHeader + kCost);
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, kHeader + 3 * kCost); // 3336: a fourth does not fit
  admitted = st_ring_guard_charge(admitted, 1000, kBlock, 0);
  EXPECT_EQ(admitted, kBlock + kHeader + kCost); // the rest of the first block is gone
}

TEST(RingGuardCharge, AFrameThatWouldEndExactlyAtTheBlocksEndGoesToTheNext) {
  // The kernel puts a frame in the open block only if it ends strictly before the block does.
  constexpr uint32_t kHalf = (kBlock - kHeader) / 2;
  uint64_t admitted = st_ring_guard_charge(0, kHalf - ST_RING_FRAME_OVERHEAD, kBlock, 0);
  EXPECT_EQ(admitted, kHeader + kHalf);
  admitted = st_ring_guard_charge(admitted, kHalf - ST_RING_FRAME_OVERHEAD, kBlock, 0);
  EXPECT_EQ(admitted, kBlock + kHeader + kHalf);
  EXPECT_EQ(st_ring_guard_charge(kHeader + kHalf, kHalf - ST_RING_FRAME_OVERHEAD - 1, kBlock, 0), kBlock - 1);
}

TEST(RingGuardCharge, ANewRetirePeriodHandsTheOpenBlockOverWithItsFewFrames) {
  // At low rates the kernel retires a block by its timeout: each period costs a whole block.
  constexpr uint32_t kCost = 60 + ST_RING_FRAME_OVERHEAD;
  uint64_t admitted = 0;
  for (int period = 0; period < 5; period++)
    admitted = st_ring_guard_charge(admitted, 60, kBlock, 1);
  EXPECT_EQ(admitted, 4 * kBlock + kHeader + kCost);
  // An empty block is not handed over: a new period at a block boundary costs nothing more.
  EXPECT_EQ(st_ring_guard_charge(2 * kBlock, 60, kBlock, 1), 2 * kBlock + kHeader + kCost);
}

TEST(RingGuardSlot, ReadIsTheBlocksHandedBackAndAnEmptyRingLevelsItWithTheKernel) {
  st_ring_guard entry{};
  RingGuard::Geometry ring{kBlock, 8, 20'000'000};
  RingGuard::Slot slot(&entry, ring);
  entry.admitted = 5 * kBlock + 300; // five blocks handed over, a sixth open
  slot.publish(2.0 / 8);             // two read back
  EXPECT_EQ(entry.read, 2u * kBlock);
  EXPECT_EQ(entry.admitted - entry.read, 3u * kBlock + 300);
  // Empty: everything handed over is read; the open block is not.
  slot.publish(5.0 / 8, slot.mark());
  EXPECT_EQ(entry.read, 5u * kBlock);
  // The estimate drifted (blocks retired the kernel's way, not ours): empty again re-levels it.
  entry.admitted = 9 * kBlock + 10;
  slot.publish(7.0 / 8, slot.mark());
  EXPECT_EQ(entry.read, 9u * kBlock);
  entry.admitted = 10 * kBlock + 20;
  slot.publish(8.0 / 8); // the open block came back
  EXPECT_EQ(entry.read, 10u * kBlock);
  EXPECT_EQ(entry.admitted - entry.read, 20u);
  EXPECT_EQ(slot.unread(), 20); // what the log shows
  // Read past what was counted (frames that are no connection's are not): below zero, not 2^64.
  slot.publish(9.0 / 8); // one more block handed back
  EXPECT_EQ(slot.unread(), 20 - int64_t{kBlock});
}

TEST(RingGuardSlot, BlocksWrittenAfterTheMarkStayUnreadThoughTheRingLookedEmpty) {
  // The worker marks, finds its ring empty, and is held (throttled) before it publishes while the
  // kernel fills six blocks: they are in the ring, unread, and must count as such.
  st_ring_guard entry{};
  RingGuard::Slot slot(&entry, RingGuard::Geometry{kBlock, 8, 20'000'000});
  entry.admitted = 2 * kBlock + 100;
  slot.publish(2.0 / 8, slot.mark());
  uint64_t mark = slot.mark();
  entry.admitted = 8 * kBlock + 100;
  slot.publish(2.0 / 8, mark);
  EXPECT_EQ(entry.read, 2u * kBlock);
  EXPECT_EQ(entry.admitted - entry.read, 6u * kBlock + 100);
}

TEST(RingGuardSlot, AnUnsetSlotDoesNothing) {
  RingGuard::Slot slot;
  EXPECT_FALSE(slot);
  slot.publish(1.0, slot.mark());
  EXPECT_EQ(slot.shed(), 0u);
  EXPECT_EQ(slot.unread(), 0);
  EXPECT_EQ(slot.limit(), 0u);
}

} // namespace
} // namespace shadowtap
