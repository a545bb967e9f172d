// SPDX-License-Identifier: Apache-2.0
#include "common/chunk_pool.h"

#include <algorithm>
#include <sys/mman.h>

namespace shadowtap {

ChunkPool::~ChunkPool() {
  for (auto &[base, slab] : slabs_)
    munmap(reinterpret_cast<void *>(base), kSlabBytes);
}

bool ChunkPool::grow() {
  // MAP_POPULATE: the slab's pages are allocated and mapped writable now, in one call, instead of
  // one fault per page at first touch.
  void *base = mmap(nullptr, kSlabBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (base == MAP_FAILED)
    return false;
  auto *bytes = static_cast<uint8_t *>(base);
  slabs_[reinterpret_cast<uintptr_t>(base)].freeChunks = kChunksPerSlab;
  // Pushed last chunk first, so the slab is handed out from its start.
  for (size_t i = kChunksPerSlab; i-- > 0;)
    free_.push_back(bytes + i * kChunkBytes);
  ++slabsMapped_;
  return true;
}

uint8_t *ChunkPool::acquire() {
  if (free_.empty() && !grow())
    return nullptr;
  uint8_t *chunk = free_.back();
  free_.pop_back();
  std::prev(slabs_.upper_bound(reinterpret_cast<uintptr_t>(chunk)))->second.freeChunks--;
  peakInUse_ = std::max(peakInUse_, ++inUse_);
  return chunk;
}

void ChunkPool::release(uint8_t *chunk) {
  std::prev(slabs_.upper_bound(reinterpret_cast<uintptr_t>(chunk)))->second.freeChunks++;
  free_.push_back(chunk);
  --inUse_;
}

void ChunkPool::trim(uint64_t nowNs) {
  if (nowNs - lastTrimNs_ < kTrimPeriodNs)
    return;
  lastTrimNs_ = nowNs;
  size_t keep = std::max(kKeepBytes, peakInUse_ * kChunkBytes);
  peakInUse_ = inUse_;
  if (mappedBytes() <= keep)
    return;
  size_t excess = (mappedBytes() - keep) / kSlabBytes;
  std::vector<uintptr_t> unmapped;
  for (auto it = slabs_.begin(); it != slabs_.end() && unmapped.size() < excess;) {
    if (it->second.freeChunks == kChunksPerSlab) {
      munmap(reinterpret_cast<void *>(it->first), kSlabBytes);
      unmapped.push_back(it->first);
      it = slabs_.erase(it);
    } else {
      ++it;
    }
  }
  if (unmapped.empty())
    return;
  // unmapped is sorted (map order): drop the free chunks that lay in those slabs.
  std::erase_if(free_, [&](uint8_t *chunk) {
    auto address = reinterpret_cast<uintptr_t>(chunk);
    auto after = std::upper_bound(unmapped.begin(), unmapped.end(), address);
    return after != unmapped.begin() && address < *std::prev(after) + kSlabBytes;
  });
}

} // namespace shadowtap
