// SPDX-License-Identifier: Apache-2.0
// How many ring blocks, from the next one to read, the kernel has filled. They are consecutive:
// the kernel fills blocks in order and they are handed back in order, so `filled(k)` is true for
// every k below the answer and false from it on, and a binary search finds it in log2(count)
// looks. Walking them read every block's header: 512 cache and TLB misses per look at a full
// 64 MiB ring, 10 % of a worker's CPU while a 5 Gbit/s stream filled it (perf, bench/bulk.sh
// paced row). A block the kernel fills during the search may or may not be counted, as with a walk.
#pragma once

#include <cstdint>

namespace shadowtap {

template <typename Filled> uint32_t filledRun(uint32_t count, const Filled &filled) {
  uint32_t lo = 0, hi = count; // filled(k) for every k < lo; not for k == hi (when hi < count)
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (filled(mid))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

} // namespace shadowtap
