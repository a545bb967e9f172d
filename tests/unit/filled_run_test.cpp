// SPDX-License-Identifier: Apache-2.0
#include "capture/filled_run.h"

#include <gtest/gtest.h>

namespace shadowtap {
namespace {

TEST(FilledRun, CountsTheBlocksFilledFromTheNextOneToReadWithFewLooks) {
  constexpr uint32_t kBlocks = 512;
  for (uint32_t filled = 0; filled <= kBlocks; filled++) {
    unsigned looks = 0;
    uint32_t run = filledRun(kBlocks, [&](uint32_t k) {
      ++looks;
      EXPECT_LT(k, kBlocks);
      return k < filled;
    });
    ASSERT_EQ(run, filled);
    EXPECT_LE(looks, 10u); // log2(512) + 1, not one look per filled block
  }
  EXPECT_EQ(filledRun(0, [](uint32_t) { return true; }), 0u);
}

} // namespace
} // namespace shadowtap
