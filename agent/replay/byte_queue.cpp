// SPDX-License-Identifier: Apache-2.0
#include "replay/byte_queue.h"

#include <algorithm>
#include <cstring>

namespace shadowtap::replay {

ByteQueue::Chunk ByteQueue::newChunk() {
  Chunk chunk;
  if (!spare_.empty()) {
    chunk.data = std::move(spare_.back());
    spare_.pop_back();
  } else {
    chunk.data = std::make_unique_for_overwrite<uint8_t[]>(kChunkBytes);
  }
  return chunk;
}

void ByteQueue::release(Chunk &&chunk) {
  if (spare_.size() < kSpareChunks)
    spare_.push_back(std::move(chunk.data));
}

void ByteQueue::append(std::span<const uint8_t> bytes) {
  size_ += bytes.size();
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().end == kChunkBytes)
      chunks_.push_back(newChunk());
    Chunk &back = chunks_.back();
    size_t n = std::min(bytes.size(), kChunkBytes - back.end);
    std::memcpy(back.data.get() + back.end, bytes.data(), n);
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
    pieces.emplace_back(chunk.data.get() + chunk.begin, n);
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
