// SPDX-License-Identifier: Apache-2.0
// The bytes a replay has taken and its shadow has not: appended at the back, written from the
// front (gathered, one writev for many chunks), released as the kernel takes them.
//
// Chunks, so a backlog that grows never moves what it already holds. It was two vectors swapped
// between "queued" and "being written": when a line-rate upload met a shadow connection still in
// slow start, the queued vector doubled its way to tens of MiB, copying everything at each step
// into freshly faulted memory — the worker stalled for tens of ms and its capture ring overflowed
// (bench/bulk.sh, a perf profile: 33 % memmove, 22 % page faults).
//
// A queue's first chunk is sized to what it is given (at least kFirstChunkBytes), each later one
// twice the last, up to kChunkBytes. Every replay queues its first bytes while it connects, and
// a replay of a short connection holds its chunk as a spare for as long as it stays open: at one
// fixed 64 KiB chunk each, 16,384 open replays took 1 GiB of heap, and a quarter of a churning
// worker's CPU went to growing the heap for them (tests/e2e/load/conns_test.sh at 5,000
// connections/s fell behind; perf: sysmalloc and its page faults). A few released chunks are
// kept for the next appends, so a steady stream reuses warm memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

namespace shadowtap::replay {

class ByteQueue {
public:
  static constexpr size_t kFirstChunkBytes = 1024;
  static constexpr size_t kChunkBytes = 64 * 1024;
  static constexpr size_t kSpareChunks = 4;

  void append(std::span<const uint8_t> bytes);
  // Up to `max` bytes from the front, as at most `maxPieces` contiguous pieces.
  std::vector<std::span<const uint8_t>> front(size_t max, size_t maxPieces) const;
  // Drops `n` bytes (at most size()) from the front.
  void consume(size_t n);
  void clear();
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes of buffer this queue owns, spares included (what it costs to hold).
  size_t allocated() const { return allocated_; }

private:
  struct Buffer {
    std::unique_ptr<uint8_t[]> data;
    size_t capacity = 0;
  };
  struct Chunk {
    Buffer buffer;
    size_t begin = 0, end = 0; // the live bytes are [begin, end)
  };
  // A chunk for the next `need` bytes: a spare if one is large enough, else a new one.
  Chunk newChunk(size_t need);
  void release(Chunk &&chunk);

  std::deque<Chunk> chunks_;
  std::vector<Buffer> spare_;
  size_t size_ = 0;
  size_t allocated_ = 0;
};

} // namespace shadowtap::replay
