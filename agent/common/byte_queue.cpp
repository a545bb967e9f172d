// SPDX-License-Identifier: Apache-2.0
#include "common/byte_queue.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>

namespace shadowtap {

ByteQueue::~ByteQueue() {
  clear();
  for (Buffer &buffer : spare_)
    free(buffer);
}

void ByteQueue::free(Buffer &buffer) {
  if (buffer.pooled)
    pool_->release(buffer.data);
  else
    delete[] buffer.data;
  allocated_ -= buffer.capacity;
  buffer = {};
}

ByteQueue::Chunk ByteQueue::newChunk(size_t need, size_t limit) {
  size_t capacity = std::bit_ceil(std::clamp(need, kFirstChunkBytes, kChunkBytes));
  if (!chunks_.empty())
    capacity = std::max(capacity, std::min(2 * chunks_.back().buffer.capacity, kChunkBytes));
  else if (grewToWholeChunks_)
    capacity = kChunkBytes; // a stream that emptied: its next burst is in whole chunks again
  size_t headroom = limit > allocated_ ? limit - allocated_ : 0;
  Chunk chunk;
  if (capacity == kChunkBytes && pool_ && kChunkBytes <= headroom) {
    if (uint8_t *data = pool_->acquire()) {
      chunk.buffer = {data, capacity, true};
      allocated_ += capacity;
      return chunk;
    }
  }
  auto spare = std::find_if(spare_.begin(), spare_.end(), [&](const Buffer &b) { return b.capacity >= capacity; });
  if (spare == spare_.end() && headroom == 0) // at the limit: any spare will do (append checked the room)
    spare = std::max_element(spare_.begin(), spare_.end(),
                             [](const Buffer &a, const Buffer &b) { return a.capacity < b.capacity; });
  if (spare != spare_.end()) {
    chunk.buffer = *spare;
    spare_.erase(spare);
  } else {
    capacity = std::min(capacity, headroom); // within the limit: as much as is left
    chunk.buffer = {new uint8_t[capacity], capacity, false};
    allocated_ += capacity;
  }
  return chunk;
}

void ByteQueue::release(Chunk &&chunk) {
  if (chunk.buffer.pooled) { // back to the pool: warm for whichever queue grows next
    free(chunk.buffer);
    return;
  }
  if (spare_.size() < kSpareChunks) {
    spare_.push_back(chunk.buffer);
    chunk.buffer = {};
    return;
  }
  // Full: keep the larger buffers (a steady stream wants whole chunks), free the smallest.
  auto smallest = std::min_element(spare_.begin(), spare_.end(),
                                   [](const Buffer &a, const Buffer &b) { return a.capacity < b.capacity; });
  if (smallest->capacity < chunk.buffer.capacity)
    std::swap(*smallest, chunk.buffer);
  free(chunk.buffer);
}

void ByteQueue::append(std::span<const uint8_t> bytes) { append(bytes, SIZE_MAX); }

bool ByteQueue::append(std::span<const uint8_t> bytes, size_t limit) {
  if (limit != SIZE_MAX) {
    // Room: the newest chunk's free end, the spares, and what may still be allocated.
    size_t room = chunks_.empty() ? 0 : chunks_.back().buffer.capacity - chunks_.back().end;
    for (const Buffer &spare : spare_)
      room += spare.capacity;
    if (bytes.size() > room + (limit > allocated_ ? limit - allocated_ : 0))
      return false;
  }
  size_ += bytes.size();
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().end == chunks_.back().buffer.capacity) {
      chunks_.push_back(newChunk(bytes.size(), limit));
      grewToWholeChunks_ = chunks_.back().buffer.capacity == kChunkBytes;
    }
    Chunk &back = chunks_.back();
    size_t n = std::min(bytes.size(), back.buffer.capacity - back.end);
    std::memcpy(back.buffer.data + back.end, bytes.data(), n);
    back.end += n;
    bytes = bytes.subspan(n);
  }
  return true;
}

std::vector<std::span<const uint8_t>> ByteQueue::front(size_t max, size_t maxPieces) const {
  std::vector<std::span<const uint8_t>> pieces;
  front(max, maxPieces, pieces);
  return pieces;
}

void ByteQueue::front(size_t max, size_t maxPieces, std::vector<std::span<const uint8_t>> &pieces) const {
  size_t given = 0;
  for (const Chunk &chunk : chunks_) {
    if (max == 0 || given == maxPieces)
      break;
    size_t n = std::min(max, chunk.end - chunk.begin);
    pieces.emplace_back(chunk.buffer.data + chunk.begin, n);
    max -= n;
    given++;
  }
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

} // namespace shadowtap
