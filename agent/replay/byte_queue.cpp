// SPDX-License-Identifier: Apache-2.0
#include "replay/byte_queue.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace shadowtap::replay {

ByteQueue::Chunk ByteQueue::newChunk(size_t need) {
  size_t capacity = std::bit_ceil(std::clamp(need, kFirstChunkBytes, kChunkBytes));
  if (!chunks_.empty())
    capacity = std::max(capacity, std::min(2 * chunks_.back().buffer.capacity, kChunkBytes));
  Chunk chunk;
  auto spare = std::find_if(spare_.begin(), spare_.end(), [&](const Buffer &b) { return b.capacity >= capacity; });
  if (spare != spare_.end()) {
    chunk.buffer = std::move(*spare);
    spare_.erase(spare);
  } else {
    chunk.buffer = {std::make_unique_for_overwrite<uint8_t[]>(capacity), capacity};
    allocated_ += capacity;
  }
  return chunk;
}

void ByteQueue::release(Chunk &&chunk) {
  if (spare_.size() < kSpareChunks) {
    spare_.push_back(std::move(chunk.buffer));
    return;
  }
  // Full: keep the larger buffers (a steady stream wants whole chunks), free the smallest.
  auto smallest = std::min_element(spare_.begin(), spare_.end(),
                                   [](const Buffer &a, const Buffer &b) { return a.capacity < b.capacity; });
  if (smallest->capacity < chunk.buffer.capacity)
    std::swap(*smallest, chunk.buffer);
  allocated_ -= chunk.buffer.capacity;
}

void ByteQueue::append(std::span<const uint8_t> bytes) {
  size_ += bytes.size();
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().end == chunks_.back().buffer.capacity)
      chunks_.push_back(newChunk(bytes.size()));
    Chunk &back = chunks_.back();
    size_t n = std::min(bytes.size(), back.buffer.capacity - back.end);
    std::memcpy(back.buffer.data.get() + back.end, bytes.data(), n);
    back.end += n;
    bytes = bytes.subspan(n);
  }
}

std::vector<std::span<const uint8_t>> ByteQueue::front(size_t max, size_t maxPieces) const {
  std::vector<std::span<const uint8_t>> pieces;
  for (const Chunk &chunk : chunks_) {
    if (max == 0 || pieces.size() == maxPieces)
      break;
    size_t n = std::min(max, chunk.end - chunk.begin);
    pieces.emplace_back(chunk.buffer.data.get() + chunk.begin, n);
    max -= n;
  }
  return pieces;
}

void ByteQueue::consume(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    Chunk &chunk = chunks_.front();
    size_t take = std::min(n, chunk.end - chunk.begin);
    chunk.begin += take;
    n -= take;
    if (chunk.begin == chunk.end) {
      release(std::move(chunk));
      chunks_.pop_front();
    }
  }
}

void ByteQueue::clear() {
  for (Chunk &chunk : chunks_)
    release(std::move(chunk));
  chunks_.clear();
  size_ = 0;
}

} // namespace shadowtap::replay
