// SPDX-License-Identifier: Apache-2.0
// Bytes held by everything that shares it, bounded: who would go past the limit gets `false` from
// take() and holds nothing more (the HTTP framers' heads, the comparison's bodies). Single-threaded:
// each worker has its own.
#pragma once

#include <algorithm>
#include <cstddef>

namespace shadowtap {

class MemoryBudget {
public:
  explicit MemoryBudget(size_t limit) : limit_(limit) {}
  bool take(size_t bytes) {
    if (bytes > limit_ - used_)
      return false;
    used_ += bytes;
    return true;
  }
  void give(size_t bytes) { used_ -= bytes; }
  void setLimit(size_t limit) { limit_ = std::max(limit, used_); } // never below what is held
  size_t used() const { return used_; }
  size_t limit() const { return limit_; }

private:
  size_t limit_;
  size_t used_ = 0;
};

} // namespace shadowtap
